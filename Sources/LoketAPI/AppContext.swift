import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import LoketCore
import LoketStore

/// The request context of every Loket route: Hummingbird's core storage plus what Loket adds
/// (the request id echoed to the client and the language the client asked for).
public struct AppContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The TCP peer (a proxy's address when Loket runs behind one).
    public let remoteAddress: SocketAddress?
    /// The id sent back in `X-Request-ID` and written on every log line of this request.
    public var requestID: String = ""
    /// Indonesian unless the client sent `Accept-Language: en…`.
    public var language: Language = .indonesian
    /// The officer behind the bearer token, on staff routes.
    public var staff: StaffAccount?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Documents are the largest bodies Loket accepts (10 MiB of content plus multipart framing);
    /// the JSON routes check their own, smaller limit.
    public var maxUploadSize: Int { 11 * 1024 * 1024 }

    public var requestDecoder: LoketJSONDecoder { LoketJSONDecoder() }
    public var responseEncoder: LoketJSONEncoder { LoketJSONEncoder() }
}

/// JSON bodies: snake_case keys are spelled out in each type's CodingKeys, instants are RFC 3339.
public struct LoketJSONDecoder: RequestDecoder {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        let buffer = try await request.body.collect(upTo: APILimits.maxJSONBody)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(T.self, from: Data(buffer.readableBytesView))
    }
}

public struct LoketJSONEncoder: ResponseEncoder {
    public init() {}

    public func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        // The hot answers write themselves (JSONWriter); the rest go through JSONEncoder.
        let buffer = if let writable = value as? any JSONWritable {
            ByteBuffer(bytes: writable.jsonBytes)
        } else {
            ByteBuffer(bytes: try LoketJSON.encoder.encode(value))
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: buffer))
    }
}

enum LoketJSON {
    /// Instants are written in Jakarta time with their offset (RFC 3339), as citizens read them.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RFC3339.string(from: date))
        }
        return encoder
    }()
}

/// RFC 3339 instants with the jurisdiction's offset, e.g. `2026-12-01T09:30:00+07:00`.
public enum RFC3339 {
    nonisolated(unsafe) private static let formatter: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "Asia/Jakarta")
        return formatter
    }()
    private static let lock = NSLock()

    /// Jakarta has kept UTC+7 since 1964: from 1970 on the instant is written by arithmetic, with no
    /// lock and no formatter (every JSON answer writes several; the formatter was a few per cent
    /// of the server's CPU). Earlier instants, which Loket never stores, go to the formatter and
    /// its history of Jakarta's offsets.
    public static func string(from date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        guard seconds >= 0, seconds < 253_402_300_799 - 25_200 else {
            lock.lock()
            defer { lock.unlock() }
            return formatter.string(from: date)
        }
        // To the millisecond first, then the second cut off: what the formatter does.
        let local = Int((seconds * 1000).rounded() / 1000) + 25_200
        let day = LocalDate(daysSinceEpoch: local / 86_400)
        let second = local % 86_400
        var text = ""
        text.reserveCapacity(25)
        func append(_ value: Int, width: Int) {
            let digits = String(value)
            if digits.count < width { text += String(repeating: "0", count: width - digits.count) }
            text += digits
        }
        append(day.year, width: 4); text += "-"; append(day.month, width: 2); text += "-"; append(day.day, width: 2)
        text += "T"
        append(second / 3600, width: 2); text += ":"; append(second / 60 % 60, width: 2); text += ":"; append(second % 60, width: 2)
        text += "+07:00"
        return text
    }

    /// Parses an instant that carries a zone (`Z` or `±hh:mm`), with or without fractional seconds.
    public static func date(from text: String) -> Date? {
        lock.lock()
        defer { lock.unlock() }
        if let date = formatter.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }
}

/// Size limits of request bodies.
public enum APILimits {
    public static let maxJSONBody = 64 * 1024
    public static let maxDocumentBytes = 10 * 1024 * 1024
    public static let maxFormBody = 64 * 1024
}
