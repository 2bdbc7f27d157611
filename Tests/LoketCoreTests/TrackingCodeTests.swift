import Foundation
import PropertyBased
import Testing
@testable import LoketCore
import LoketTestSupport

@Suite struct TrackingCodeTests {
    /// The byte-level fast path reads exactly what the general rules read: for mutated codes
    /// (case, separators, white space, look-alike symbols, wrong symbols, stray characters,
    /// lengths), it accepts what the general path accepts, with the same result, and declines
    /// what it refuses.
    @Test func theFastPathAgreesWithTheGeneralRules() throws {
        var generator = SeededGenerator(state: 2026)
        let pieces: [String] = ["-", " ", "  ", "\t", "\n", "\r\n", "O", "o", "I", "i", "L", "l", "U", "0", "1", "#", "SRG", "é", "\u{200B}"]
        var accepted = 0
        for round in 0..<20_000 {
            let prefix = ["SRG", "KS", "JKTPU", "CLG"][round % 4]
            var text = Array(try TrackingCode.generate(prefix: prefix, using: &generator).description)
            for _ in 0..<Int.random(in: 0...3, using: &generator) {
                let position = Int.random(in: 0...text.count, using: &generator)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: text.insert(contentsOf: pieces.randomElement(using: &generator)!, at: position)
                case 1 where position < text.count: text.remove(at: position)
                case 2 where position < text.count: text[position] = Character(text[position].lowercased())
                default: if position < text.count { text[position] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ".randomElement(using: &generator)! }
                }
            }
            let candidate = String(text)
            let general = try? TrackingCode(parsingGenerally: candidate)
            let fast = TrackingCode.parseASCII(candidate)
            if candidate.utf8.allSatisfy({ $0 < 0x80 }) {
                #expect(fast?.prefix == general?.prefix, "\(candidate.debugDescription)")
            } else {
                #expect(fast == nil, "\(candidate.debugDescription)")
            }
            if let general, let fast {
                #expect(try TrackingCode(parsing: candidate) == general)
                #expect(fast.prefix == general.prefix)
                accepted += 1
            }
            #expect((try? TrackingCode(parsing: candidate)) == general)
        }
        #expect(accepted > 5_000)
        // Forms the mutations rarely or never make: compact, lower case, every ASCII space at the
        // ends (and the control characters that are not spaces), look-alikes.
        let code = try TrackingCode.generate(prefix: "SRG", using: &generator)
        let compact = code.description.replacingOccurrences(of: "-", with: "")
        var forms = [compact, compact.lowercased(), " \(compact) ", code.description.replacingOccurrences(of: "-", with: " ")]
        for space in ["\t", "\n", "\u{0B}", "\u{0C}", "\r", "\r\n", "\u{1C}", "\u{1F}", "\u{85}", "\u{A0}"] {
            forms += [space + code.description, code.description + space]
        }
        for form in forms where form.utf8.allSatisfy({ $0 < 0x80 }) {
            #expect(TrackingCode.parseASCII(form)?.prefix == (try? TrackingCode(parsingGenerally: form))?.prefix, "\(form.debugDescription)")
        }
        for form in forms {
            #expect((try? TrackingCode(parsing: form)) == (try? TrackingCode(parsingGenerally: form)), "\(form.debugDescription)")
        }
        #expect(try TrackingCode(parsing: compact) == code)
        #expect(TrackingCode.parseASCII("\u{1C}" + code.description) == nil)
        #expect(try TrackingCode(parsing: "\u{A0}" + code.description) == code)
    }

    @Test func generatedCodesHaveTheAgreedShapeAndParseBack() throws {
        let shape = /^[A-Z]{2,5}-[0-9A-Z-]{6,20}$/
        var generator = SeededGenerator(state: 17)
        for prefix in ["SRG", "CLG", "BTN", "KS", "JKTPU"] {
            let code = try TrackingCode.generate(prefix: prefix, using: &generator)
            let text = code.description
            #expect(text.wholeMatch(of: shape) != nil, "\(text)")
            #expect(text.count == prefix.count + 15)
            #expect(text.split(separator: "-").dropFirst().map(\.count) == [4, 4, 4])
            #expect(try TrackingCode(parsing: text) == code)
        }
        let system = try TrackingCode.generate(prefix: "SRG")
        #expect(try TrackingCode(parsing: system.description) == system)
    }

    @Test func seededGeneratorsReproduceCodesAndDifferentSeedsDoNot() throws {
        var first = SeededGenerator(state: 2026)
        var second = SeededGenerator(state: 2026)
        var third = SeededGenerator(state: 2027)
        let code = try TrackingCode.generate(prefix: "SRG", using: &first)
        #expect(code == (try TrackingCode.generate(prefix: "SRG", using: &second)))
        #expect(code != (try TrackingCode.generate(prefix: "SRG", using: &third)))
    }

    @Test func codesDoNotRepeatAndUseTheWholeAlphabet() throws {
        var generator = SeededGenerator(state: 99)
        var seen = Set<String>()
        var symbols = Set<Character>()
        for _ in 0..<20_000 {
            let code = try TrackingCode.generate(prefix: "SRG", using: &generator)
            #expect(seen.insert(code.symbols).inserted)
            symbols.formUnion(code.symbols)
        }
        #expect(symbols == Set("0123456789ABCDEFGHJKMNPQRSTVWXYZ"))
    }

    @Test func parsingForgivesWhatPeopleTypeAndSay() throws {
        var generator = SeededGenerator(state: 5)
        var code = try TrackingCode.generate(prefix: "SRG", using: &generator)
        // Find a code whose symbols include 0 and 1, to exercise the O/I/L confusions.
        while !(code.symbols.contains("0") && code.symbols.contains("1")) {
            code = try TrackingCode.generate(prefix: "SRG", using: &generator)
        }
        let text = code.description
        let variants = [
            text.lowercased(),
            text.replacingOccurrences(of: "-", with: ""),
            text.replacingOccurrences(of: "-", with: " "),
            "  " + text.replacingOccurrences(of: "-", with: " - ") + "\n",
            "SRG-" + code.symbols.replacingOccurrences(of: "0", with: "O").replacingOccurrences(of: "1", with: "I"),
            "srg" + code.symbols.lowercased().replacingOccurrences(of: "1", with: "l").replacingOccurrences(of: "0", with: "o"),
        ]
        for variant in variants {
            #expect(try TrackingCode(parsing: variant) == code, "\(variant)")
        }
        // O stays O in a prefix: Bogor's BOG is letters only.
        let bogor = try TrackingCode.generate(prefix: "BOG", using: &generator)
        #expect(try TrackingCode(parsing: bogor.description.lowercased()).prefix == "BOG")
    }

    /// Any one symbol typed wrong is caught by the check symbol.
    @Test func everySingleWrongSymbolIsRejected() async {
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        await propertyCheck(count: 500, input: Gen.int(in: 0...Int.max), Gen.int(in: 0..<12), Gen.int(in: 1..<32)) { seed, position, shift in
            var generator = SeededGenerator(state: UInt64(seed))
            let code = try TrackingCode.generate(prefix: "SRG", using: &generator)
            var symbols = Array(code.symbols)
            let original = alphabet.firstIndex(of: symbols[position])!
            symbols[position] = alphabet[(original + shift) % 32]
            #expect(throws: TrackingCodeError.checkSymbolMismatch) { try TrackingCode(parsing: "SRG-" + String(symbols)) }
        }
    }

    @Test func mostSwapsOfNeighboursAreRejected() throws {
        var generator = SeededGenerator(state: 3)
        var swaps = 0
        var caught = 0
        for _ in 0..<2000 {
            let code = try TrackingCode.generate(prefix: "SRG", using: &generator)
            var symbols = Array(code.symbols)
            let position = Int.random(in: 0..<11, using: &generator)
            guard symbols[position] != symbols[position + 1] else { continue }
            symbols.swapAt(position, position + 1)
            swaps += 1
            if (try? TrackingCode(parsing: "SRG" + String(symbols))) == nil { caught += 1 }
        }
        #expect(Double(caught) / Double(swaps) > 0.95)
    }

    @Test(arguments: [
        ("", TrackingCodeError.empty),
        ("SRG-7K3D-9QXA-M2P!", .invalidCharacter("!")),
        ("S-7K3D-9QXA-M2PZ", .tooShort),
        ("SERANG-7K3D-9QXA-M2PZ", .invalidPrefix("SERANG")),
        ("7K3D9QXAM2PZ", .tooShort),
        ("123-7K3D-9QXA-M2PZ", .invalidPrefix("123")),
        ("SRG-7K3D-9QXA-M2P", .wrongLength(found: 11, expected: 12)),
        ("SRG-7K3D-9QXA-M2PZX", .wrongLength(found: 13, expected: 12)),
        ("SRG-7K3D-9QXA-M2PU", .invalidSymbol("U")),
        ("SRG-0000-0000-0001", .checkSymbolMismatch),
        ("SRG-0000-0000-0000", nil),
    ] as [(String, TrackingCodeError?)])
    func parsingReportsThePreciseReason(text: String, expected: TrackingCodeError?) {
        if let expected {
            #expect(throws: expected) { try TrackingCode(parsing: text) }
            #expect(!expected.message(.indonesian).isEmpty)
        } else {
            #expect(throws: Never.self) { try TrackingCode(parsing: text) }
        }
    }

    @Test func invalidPrefixesAreRefusedWhenGenerating() {
        #expect(throws: TrackingCodeError.invalidPrefix("srg")) { try TrackingCode.generate(prefix: "srg") }
        #expect(throws: TrackingCodeError.invalidPrefix("S")) { try TrackingCode.generate(prefix: "S") }
    }

    @Test func codesTravelAsStrings() throws {
        var generator = SeededGenerator(state: 8)
        let code = try TrackingCode.generate(prefix: "SRG", using: &generator)
        let json = try JSONEncoder().encode([code])
        #expect(String(decoding: json, as: UTF8.self) == "[\"\(code.description)\"]")
        #expect(try JSONDecoder().decode([TrackingCode].self, from: json) == [code])
    }
}
