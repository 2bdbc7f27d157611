import Foundation
@testable import LoketAPI
import LoketCore
import LoketTestSupport
import Testing

/// Staff command bodies are read by `FlatJSON` when it can and by `JSONDecoder` otherwise. The
/// reader must never read a body differently from `JSONDecoder`: whatever it accepts, the decoder
/// accepts with the same fields.
@Suite("Staff command bodies")
struct StaffBodyTests {
    typealias TextBody = StaffController.TextBody

    /// The reader's answer and the decoder's agree, or the reader left the body to the decoder.
    /// Returns whether the reader took it.
    @discardableResult
    static func agrees(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        guard let flat = TextBody(flat: bytes) else { return false }
        let decoded = try? JSONDecoder().decode(TextBody.self, from: Data(bytes))
        #expect(decoded == flat, "\(String(decoding: bytes, as: UTF8.self).debugDescription)", sourceLocation: sourceLocation)
        return true
    }

    static func agrees(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        agrees(Array(text.utf8), sourceLocation: sourceLocation)
    }

    @Test func everyDayBodiesAreReadWithoutTheDecoder() throws {
        let bodies: [(String, TextBody)] = [
            (#"{"public_message":"Kartu Keluarga sudah dicetak.","outcome":"KK 3604"}"#,
             TextBody(publicMessage: "Kartu Keluarga sudah dicetak.", outcome: "KK 3604")),
            (#"{ "reason" : "Berkas tidak lengkap\nMohon unggah KTP." }"#, TextBody(reason: "Berkas tidak lengkap\nMohon unggah KTP.")),
            (#"{"text":"Catatan \"internal\" \\ C:\\ \/ \u00e9 \ud83d\ude00","public":true}"#,
             TextBody(text: "Catatan \"internal\" \\ C:\\ / é 😀", isPublic: true)),
            ("{\r\n\t\"unit\": \"DISDUKCAPIL\",\r\n\t\"reason\": null,\r\n\t\"public\": false\r\n}\n", TextBody(unit: "DISDUKCAPIL", isPublic: false)),
            (#"{"nip":"198503302010011001","client":"loket 1.0","dry":null}"#, TextBody(nip: "198503302010011001")),
            (#"{"question":"Apakah nama ibu kandung Siti Aminah?"}"#, TextBody(question: "Apakah nama ibu kandung Siti Aminah?")),
            ("{}", TextBody()),
            (#"{"public\u005fmessage":"Selesai"}"#, TextBody(publicMessage: "Selesai")),
        ]
        for (text, expected) in bodies {
            #expect(TextBody(flat: Array(text.utf8)) == expected, "\(text)")
            #expect(Self.agrees(text), "\(text) was left to the decoder")
        }
    }

    @Test func bodiesTheReaderLeavesToTheDecoder() {
        let left = [
            "", " ", "null", "[]", #""text""#, "{", "}", #"{"text":"a",}"#, #"{"text" "a"}"#, #"{"text":"a"} x"#,
            #"{"text":"a","text":"b"}"#, #"{"public":"yes"}"#, #"{"text":true}"#, #"{"text":1}"#, #"{"other":1}"#,
            #"{"other":[]}"#, #"{"other":{}}"#, #"{"text":"\x"}"#, #"{"text":"\u12"}"#, #"{"text":"\ud800"}"#,
            #"{"text":"\udc00"}"#, #"{"text":"\ud800\u0041"}"#, "{\"text\":\"a\u{01}b\"}", "{\"text\":\"a\nb\"}",
            #"{"text":"a"#, #"{'text':'a'}"#, #"{"public":tru}"#, #"{"public":True}"#, "\u{FEFF}{}",
        ]
        for text in left {
            #expect(TextBody(flat: Array(text.utf8)) == nil, "\(text.debugDescription)")
        }
        #expect(TextBody(flat: [UInt8(ascii: "{"), 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3A, 0x22, 0xFF, 0x22, UInt8(ascii: "}")]) == nil)
    }

    /// Bodies put together at random from pieces that are valid, nearly valid and invalid: the
    /// reader never reads one differently from the decoder, and it takes a good share of them.
    @Test func randomBodiesAgreeWithTheDecoder() {
        var generator = SeededGenerator(state: 0x10CE7)
        let keys = [#""reason""#, #""question""#, #""text""#, #""public_message""#, #""outcome""#, #""unit""#, #""nip""#,
                    #""public""#, #""other""#, #""publ\u0069c""#, #""""#]
        let pieces = ["a", "Budi", " ", "é", "😀", "\\n", "\\\"", "\\\\", "\\/", "\\u00e9", "\\ud83d\\ude00", "\\ud800",
                      "\\udc00x", "\\u0000", "\\t", "\\r", "\\b", "\\f", "\\q", "\u{01}", "\t", "\u{7F}", "\u{202E}"]
        let values = ["true", "false", "null", "1", "[]", "{}", "tru", "\"\"", "-0"]
        let spaces = ["", " ", "\n", "\t", "\r\n", "\u{0B}"]
        var taken = 0
        let cases = 4000
        for _ in 0..<cases {
            var body = [UInt8]()
            func add(_ text: String) { body.append(contentsOf: text.utf8) }
            add(spaces.randomElement(using: &generator)!)
            add("{")
            let members = Int.random(in: 0...3, using: &generator)
            for member in 0..<members {
                if member > 0 { add(",") }
                add(spaces.randomElement(using: &generator)!)
                add(keys.randomElement(using: &generator)!)
                add(spaces.randomElement(using: &generator)!)
                add(":")
                add(spaces.randomElement(using: &generator)!)
                if Int.random(in: 0..<3, using: &generator) == 0 {
                    add(values.randomElement(using: &generator)!)
                } else {
                    add("\"")
                    for _ in 0..<Int.random(in: 0...4, using: &generator) { add(pieces.randomElement(using: &generator)!) }
                    if Int.random(in: 0..<60, using: &generator) == 0 { body.append(0xC3) }
                    add("\"")
                }
            }
            if Int.random(in: 0..<40, using: &generator) == 0 { add(",") }
            add(spaces.randomElement(using: &generator)!)
            add("}")
            if Int.random(in: 0..<40, using: &generator) == 0 { add("x") }
            if Self.agrees(body) { taken += 1 }
        }
        #expect(taken > cases / 5, "the reader took only \(taken) of \(cases) bodies")
    }
}
