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

/// Size limits of request bodies.
public enum APILimits {
    public static let maxJSONBody = 64 * 1024
    public static let maxDocumentBytes = 10 * 1024 * 1024
    public static let maxFormBody = 64 * 1024
}
