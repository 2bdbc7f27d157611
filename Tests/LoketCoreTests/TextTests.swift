import Foundation
import LoketCore
import Testing

/// The standard-library text checks agree with what they replace: Foundation's trimming with
/// `.whitespacesAndNewlines` and `.whitespaces`, and Unicode's general category Cc.
@Suite("Text checks")
struct TextTests {
    /// Every scalar that is white space or a control character in any definition involved, plus
    /// ordinary letters, in random strings.
    static let interesting: [Unicode.Scalar] = {
        var values: [UInt32] = Array(0x00...0x20) + Array(0x7E...0xA0) + [0x41, 0x7A, 0x30, 0xE9, 0x301, 0x1680, 0x180E]
        values += Array(0x2000...0x200B) + [0x2028, 0x2029, 0x202F, 0x205F, 0x2060, 0x3000, 0xFEFF, 0x1F642]
        return values.compactMap(Unicode.Scalar.init)
    }()

    @Test func trimmingAgreesWithFoundation() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let length = Int.random(in: 0...8, using: &generator)
            var text = String.UnicodeScalarView()
            for _ in 0..<length { text.append(Self.interesting.randomElement(using: &generator)!) }
            let string = String(text)
            // Foundation's sets, and the word joiner and byte-order mark besides (invisible: a name
            // of nothing but them is no name).
            var all = CharacterSet.whitespacesAndNewlines, spaces = CharacterSet.whitespaces
            all.insert(charactersIn: "\u{2060}\u{FEFF}")
            spaces.insert(charactersIn: "\u{2060}\u{FEFF}")
            #expect(string.trimmingWhitespace() == string.trimmingCharacters(in: all), "\(Array(string.unicodeScalars))")
            #expect(string.trimmingWhitespace(includingNewlines: false) == string.trimmingCharacters(in: spaces), "\(Array(string.unicodeScalars))")
        }
        #expect("  Siti Aminah \n".trimmingWhitespace() == "Siti Aminah")
        #expect("\u{3000}Serang\u{00A0}".trimmingWhitespace() == "Serang")
        #expect("x\n".trimmingWhitespace(includingNewlines: false) == "x\n")
        #expect(" \t ".trimmingWhitespace() == "")
        #expect("".trimmingWhitespace() == "")
        #expect("a b".trimmingWhitespace() == "a b")
        #expect(" 10.0.0.1"[...].trimmingWhitespace(includingNewlines: false) == "10.0.0.1")
    }

    @Test func controlCharactersAreCategoryCc() {
        for scalar in Self.interesting {
            let text = "a\(Character(scalar))b"
            let isControl = scalar.properties.generalCategory == .control
            #expect(text.containsControlCharacters() == (isControl && scalar != "\n" && scalar != "\t"), "\(scalar.value)")
            #expect(text.normalizingLineBreaks().containsControlCharacters() == (isControl && scalar != "\n" && scalar != "\t" && scalar != "\r"), "\(scalar.value)")
        }
        #expect(!"Jl. Ki Mas Jong\nNo. 5\t(belakang)".containsControlCharacters())
        #expect("escape \u{1B}[31m".containsControlCharacters())
        // Bidirectional embeddings, overrides and isolates make text show other than it reads.
        for value in Array(0x202A...0x202E) + Array(0x2066...0x2069) {
            #expect("ktp\(Character(Unicode.Scalar(value)!))fdp.jpg".containsControlCharacters(), "\(value)")
        }
        #expect(!"Siti \u{200D}Aminah".containsControlCharacters())
        #expect("line\r\n".containsControlCharacters())
        #expect(!"line\r\n".normalizingLineBreaks().containsControlCharacters())
    }

    /// CR LF and a lone CR become LF; nothing else changes (a String compares CR LF equal to
    /// nothing but itself, so the scalars are compared).
    @Test func lineBreaksAreWrittenAsLineFeeds() {
        let cases: [(String, String)] = [
            ("", ""), ("tanpa baris baru", "tanpa baris baru"), ("a\nb", "a\nb"), ("a\r\nb", "a\nb"), ("a\rb", "a\nb"),
            ("a\r\r\nb", "a\n\nb"), ("a\n\rb", "a\n\nb"), ("\r\n", "\n"), ("akhir\r", "akhir\n"),
            ("é\r\nü 👩🏽‍💻\r\n", "é\nü 👩🏽‍💻\n"),
        ]
        for (given, expected) in cases {
            #expect(Array(given.normalizingLineBreaks().unicodeScalars) == Array(expected.unicodeScalars), "\(Array(given.unicodeScalars))")
            #expect(Array(given[...].normalizingLineBreaks().unicodeScalars) == Array(expected.unicodeScalars))
        }
    }
}
