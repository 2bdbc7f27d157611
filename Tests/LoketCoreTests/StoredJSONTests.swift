import Foundation
import LoketCore
import Testing

/// Event details written by JSONWriter read back as the same JSON JSONEncoder (sorted keys,
/// `.iso8601`) writes, and UTC instants are written as the ISO 8601 formatter writes them.
@Suite("Stored JSON")
struct StoredJSONTests {
    static func encoded(_ details: EventDetails) throws -> NSDictionary? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return try JSONSerialization.jsonObject(with: encoder.encode(details)) as? NSDictionary
    }

    static func written(_ details: EventDetails) throws -> NSDictionary? {
        try JSONSerialization.jsonObject(with: Data(details.storedJSON())) as? NSDictionary
    }

    @Test func eventDetailsReadBackAsJSONEncoderWritesThem() throws {
        var generator = SystemRandomNumberGenerator()
        let texts = ["", "Berkas \"KTP\" kurang / buram\nmohon unggah ulang", "é 🙂 \\ \u{1}", "selesai"]
        for _ in 0..<500 {
            var details = EventDetails()
            func maybe<T>(_ value: @autoclosure () -> T) -> T? { Bool.random(using: &generator) ? value() : nil }
            details.reason = maybe(texts.randomElement(using: &generator)!)
            details.question = maybe(texts.randomElement(using: &generator)!)
            details.message = maybe(texts.randomElement(using: &generator)!)
            details.publicMessage = maybe(texts.randomElement(using: &generator)!)
            details.outcome = maybe("completed")
            details.previousHolder = maybe(Int64.random(in: 1...1_000_000, using: &generator))
            details.newHolder = maybe(Int64.random(in: 1...1_000_000, using: &generator))
            details.overriddenHolder = maybe(7)
            details.fromUnit = maybe(3)
            details.toUnit = maybe(4)
            details.leaseExpiresAt = maybe(Date(timeIntervalSince1970: Double.random(in: 0...4_000_000_000, using: &generator)))
            details.escalationLevel = maybe(ValueChange(from: 0, to: 1))
            details.priority = maybe(ValueChange(from: 2, to: -1))
            let written = try Self.written(details)
            let encoded = try Self.encoded(details)
            #expect(written != nil && written == encoded, "\(details)")
        }
        #expect(try EventDetails().storedJSON() == Array("{}".utf8))
        // Instants where rounding to the millisecond carries into the next second, against the
        // encoder itself.
        for seconds in [0, 0.4994, 0.4995, 0.9994, 0.9995, 59.9996, 86_399.9995, 1_795_000_000.9995, 4_102_444_799.9999] {
            var details = EventDetails()
            details.leaseExpiresAt = Date(timeIntervalSince1970: seconds)
            let written = try Self.written(details)
            let encoded = try Self.encoded(details)
            #expect(written == encoded, "\(seconds)")
        }
    }

    @Test func detailsWithStagesAndRoutingStillGoThroughTheEncoder() throws {
        var details = EventDetails()
        details.stage = StageReference(clock: .resolution, number: 2, percent: 100, isBreach: true)
        details.notify = [.assignee, .managers]
        details.dueChanges = [DueChange(clock: .response, from: nil, to: Date(timeIntervalSince1970: 1_800_000_000))]
        details.reason = "x"
        let encoded = try Self.encoded(details)
        #expect(try Self.written(details) == encoded)
        #expect(try Self.written(details)?["stage"] != nil)
    }

    @Test func utcInstantsMatchJSONEncodersISO8601() throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        var generator = SystemRandomNumberGenerator()
        var instants = [0, 0.4994, 0.5, 0.9995, 59.9996, 86_399.9999, 951_782_400, 4_102_444_799.9999].map { Date(timeIntervalSince1970: $0) }
        for _ in 0..<2_000 { instants.append(Date(timeIntervalSince1970: Double.random(in: 0...8_000_000_000, using: &generator))) }
        for instant in instants {
            let encoded = String(decoding: try encoder.encode([instant]), as: UTF8.self)
            #expect("[\"\(RFC3339.utcString(from: instant))\"]" == encoded, "\(instant.timeIntervalSince1970)")
        }
    }
}
