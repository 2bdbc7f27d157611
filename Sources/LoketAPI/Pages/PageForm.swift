import Foundation
import Hummingbird
import LoketCore

/// The fields of an HTML form POST (`application/x-www-form-urlencoded`), first value of each name.
struct PageForm: Sendable {
    let fields: [String: String]

    subscript(_ name: String) -> String? { fields[name] }

    /// A field with surrounding white space removed; nil when absent or blank.
    func trimmed(_ name: String) -> String? {
        guard let value = fields[name]?.trimmingWhitespace(), !value.isEmpty else { return nil }
        return value
    }

    static func read(_ request: Request) async throws -> PageForm {
        guard let type = request.headers[.contentType]?.lowercased(), type.hasPrefix("application/x-www-form-urlencoded") else {
            throw APIError.unsupportedMediaType("application/x-www-form-urlencoded")
        }
        let body = try await request.body.collect(upTo: APILimits.maxFormBody)
        return PageForm(parsing: String(decoding: body.readableBytesView, as: UTF8.self))
    }

    init(parsing text: String) {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let rawName = parts.first else { continue }
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            let name = decode(rawName)
            if fields[name] == nil { fields[name] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        self.fields = fields
    }
}
