import Foundation
import Hummingbird
import HummingbirdCore
import HTTPTypes
import Logging
import LoketCore
import NIOCore
import NIOHTTP1

// `Expect: 100-continue` (RFC 9110 §10.1.1): a client that asks for it sends the head of its request
// and waits for an interim 100 (Continue) before it sends the body. Hummingbird answers no
// expectation by itself, so without the handler below such a client waits for its own timeout (curl:
// one second) and a client that waits for ever is never answered. Loket:
//   - sends 100 (Continue) as soon as the head of such a request arrives (after the answer to any
//     earlier request on the connection is complete), then the route reads the body and answers;
//   - answers at once, without 100, when it would refuse the request anyway: 417 (Expectation
//     Failed, code `expectation_failed`) for any expectation other than 100-continue, 413
//     (`body_too_large`) for a Content-Length beyond the largest body any route accepts; then it
//     closes the connection (the body may never come, so it cannot be read past);
//   - ignores Expect in an HTTP/1.0 request (RFC 9110: a server must not send 1xx to HTTP/1.0);
//   - sends no 100 for a request that declares no body.

/// What an `Expect` header asks of the server, and Loket's answer.
enum ExpectContinue {
    /// The largest body any route reads: a document upload (10 MiB of content plus multipart
    /// framing). A declared length beyond it is refused before the body is sent; each route still
    /// applies its own, smaller limit to what it reads (64 KiB of JSON or form).
    static let maxBodyBytes = APILimits.maxDocumentBytes + 64 * 1024

    enum Decision: Equatable {
        /// No expectation to answer (none was sent, or the request declares no body).
        case proceed
        /// Send 100 (Continue), then let the route read the body.
        case sendContinue
        /// Answer this final status at once and close the connection; the body is never read.
        case refuse(HTTPResponse.Status)
    }

    /// - Parameters:
    ///   - expect: the values of every `Expect` field (each may be a comma-separated list).
    ///   - contentLength: the value of `Content-Length`, if any.
    ///   - chunked: whether the request has a `Transfer-Encoding` (a body of unknown length).
    static func decide(expect: [String], contentLength: String?, chunked: Bool) -> Decision {
        let expectations = expect.flatMap { $0.split(separator: ",") }
            .map { $0.trimmingWhitespace(includingNewlines: false).lowercased() }
            .filter { !$0.isEmpty }
        guard !expectations.isEmpty else { return .proceed }
        guard expectations.allSatisfy({ $0 == "100-continue" }) else { return .refuse(.expectationFailed) }
        let length = contentLength.flatMap { Int($0.trimmingWhitespace(includingNewlines: false)) }
        if let length, length > maxBodyBytes { return .refuse(.contentTooLarge) }
        guard chunked || (length ?? 0) > 0 else { return .proceed }
        return .sendContinue
    }

    static func decide(_ headers: HTTPFields) -> Decision {
        decide(expect: headers[values: .expect], contentLength: headers[.contentLength],
               chunked: headers[.transferEncoding] != nil)
    }

    static func decide(_ headers: HTTPHeaders) -> Decision {
        decide(expect: headers["expect"], contentLength: headers.first(name: "content-length"),
               chunked: headers.contains(name: "transfer-encoding"))
    }
}

extension APIError {
    static let expectationFailed = APIError(.expectationFailed, code: "expectation_failed", message: LocalizedText(
        id: "Header Expect tidak dapat dipenuhi; hanya 100-continue yang didukung.",
        en: "The Expect header cannot be met; only 100-continue is supported."))
}

/// Answers a refused expectation (417, or 413 for a declared body longer than any route reads) in
/// Loket's error shape, with `Connection: close`. The 100 (Continue) itself is sent by
/// `ExpectContinueHandler` on the connection; without that handler (router tests) a request that
/// expects 100-continue simply proceeds.
struct ExpectationMiddleware: RouterMiddleware {
    typealias Context = AppContext

    func handle(_ request: Request, context: AppContext, next: @concurrent (Request, AppContext) async throws -> Response) async throws -> Response {
        guard case .refuse(let status) = ExpectContinue.decide(request.headers) else {
            return try await next(request, context)
        }
        let error: APIError = status == .expectationFailed ? .expectationFailed : .bodyTooLarge
        if PageMiddleware.isPage(request.uri.path) {
            throw error  // PageMiddleware renders it as an error page
        }
        var response = error.response(language: context.language, requestID: context.requestID)
        response.headers[.connection] = "close"
        return response
    }
}

/// A handler between swift-nio's HTTP/1 request decoder and Hummingbird's conversion to HTTP types,
/// where the request's HTTP version is still known. Sends 100 (Continue) for a request that expects
/// it; for a request whose expectation is refused, marks the request `Connection: close` (so that
/// Hummingbird does not wait to read past a body that may never come) and closes the connection
/// once the answer (written by `ExpectationMiddleware`) is out.
///
/// Answers on a connection go out in the order of the requests. A request read while an earlier
/// one is still being answered (pipelining) gets its 100 (Continue) after that answer ends, never
/// in the middle of it, and none if its own final answer has begun.
final class ExpectContinueHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private struct Exchange {
        var continuePending = false
        var closeAfterAnswer = false
    }

    /// Requests read whose final answer has not ended yet, oldest first.
    private var exchanges = CircularBuffer<Exchange>()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        var exchange = Exchange()
        if head.version.major == 1 && head.version.minor == 0 {
            head.headers.remove(name: "expect")
        } else {
            switch ExpectContinue.decide(head.headers) {
            case .proceed: break
            case .sendContinue: exchange.continuePending = true
            case .refuse:
                head.headers.replaceOrAdd(name: "connection", value: "close")
                exchange.closeAfterAnswer = true
            }
        }
        exchanges.append(exchange)
        if exchanges.count == 1 { sendPendingContinue(context: context) }
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            let interim = (100..<200).contains(head.status.code) && head.status.code != 101
            if !interim, !exchanges.isEmpty { exchanges[exchanges.startIndex].continuePending = false }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            let finished = exchanges.popFirst()
            if finished?.closeAfterAnswer == true {
                let written = context.eventLoop.makePromise(of: Void.self)
                if let promise { written.futureResult.cascade(to: promise) }
                context.writeAndFlush(data, promise: written)
                let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
                written.futureResult.whenComplete { _ in loopBound.value.close(promise: nil) }
            } else {
                context.write(data, promise: promise)
                sendPendingContinue(context: context)
            }
        }
    }

    /// The 100 (Continue) of the oldest unanswered request, if it awaits one.
    private func sendPendingContinue(context: ChannelHandlerContext) {
        guard !exchanges.isEmpty, exchanges[exchanges.startIndex].continuePending else { return }
        exchanges[exchanges.startIndex].continuePending = false
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
    }
}

/// Hummingbird's HTTP/1 child channel with `ExpectContinueHandler` inserted right after the
/// HTTP/1 request decoder (before the conversion to HTTP types, which drops the HTTP version).
struct ExpectContinueHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandler(ExpectContinueHandler(), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// Loket's HTTP/1.1 server: Hummingbird's HTTP1Channel that also answers `Expect: 100-continue`.
    public static func loketHTTP1(idleTimeout: Duration) -> HTTPServerBuilder {
        let configuration = HTTP1Channel.Configuration(idleTimeout: .seconds(Int64(idleTimeout.components.seconds)))
        return HTTPServerBuilder { responder in
            ExpectContinueHTTP1Channel(base: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}
