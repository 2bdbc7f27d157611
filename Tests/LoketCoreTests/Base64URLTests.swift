import Foundation
import Testing
import LoketCore

@Suite struct Base64URLTests {
    /// The byte-by-byte encoder agrees with Foundation's base64 (URL alphabet, no padding) for every
    /// length, including the three remainders, and decodes back.
    @Test func agreesWithFoundationForEveryLength() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            let encoded = Base64URL.encode(bytes)
            #expect(encoded == expected, "length \(length)")
            #expect(Base64URL.decode(encoded) == Data(bytes), "length \(length)")
        }
        #expect(Base64URL.encode([0xfb, 0xff, 0xbf]) == "-_-_")
    }

    @Test func randomBytesHaveTheLengthAskedAndDiffer() {
        for count in [0, 1, 7, 8, 9, 24, 32] { #expect(Base64URL.randomBytes(count).count == count) }
        #expect(Base64URL.randomBytes(32) != Base64URL.randomBytes(32))
        #expect(Base64URL.encode(Base64URL.randomBytes(32)).count == 43)
    }

    @Test func refusesWhatIsNotBase64URL() {
        for text in ["a+b/", "abc=", "ab c", "é", "A"] { #expect(Base64URL.decode(text) == nil, "\(text)") }
    }
}
