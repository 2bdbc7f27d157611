import Foundation
import LoketCore
import Testing

@Suite("Secure random bytes")
struct SecureRandomTests {
    @Test func bytesAreFreshAcrossRefills() {
        // 3 × 4 KiB pools' worth in odd sizes: every draw is as long as asked and none repeats.
        var seen = Set<[UInt8]>()
        var total = 0
        for size in [1, 7, 16, 32, 33, 500, 1024, 1025, 5000] + Array(repeating: 32, count: 400) {
            let bytes = SecureRandom.bytes(size)
            #expect(bytes.count == size)
            if size >= 16 { #expect(seen.insert(bytes).inserted) }
            total += size
        }
        #expect(total > 3 * 4096)
        // Not all zero (the pool zeroes what it hands out, so a bug could hand out zeros): 16,384
        // bytes hold 64 zeros on average, 160 or more with odds far below 1e-20.
        let sample = SecureRandom.bytes(16_384)
        #expect(sample.filter { $0 == 0 }.count < 160)
        // Each byte value turns up: 16,384 draws of 256 values leave one out with odds of about
        // 256 × e^-64, 4e-26. (With 4,096 draws it was 256 × e^-16, 3e-5, and it happened once.)
        #expect(Set(sample).count == 256)
    }

    @Test func uuidsAreVersion4AndDistinct() {
        var seen = Set<String>()
        for _ in 0..<2_000 {
            let text = SecureRandom.uuidString()
            let uuid = UUID(uuidString: text)
            #expect(uuid != nil && uuid?.uuidString.lowercased() == text, "\(text)")
            #expect(Array(text)[14] == "4" && "89ab".contains(Array(text)[19]), "\(text)")
            #expect(seen.insert(text).inserted)
        }
    }

    @Test func generatorSpreadsTrackingCodes() throws {
        let codes = try (0..<1_000).map { _ in try TrackingCode.generate(prefix: "SRG").description }
        #expect(Set(codes).count == codes.count)
        for code in codes.prefix(50) { #expect(try TrackingCode(parsing: code).description == code) }
    }
}
