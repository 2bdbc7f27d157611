import Hummingbird

extension Request {
    /// The one value of the query parameter `name`, nil when absent. Empty is returned as it is
    /// (callers treat it as absent, as the document says). A parameter the API defines as one value
    /// but given more than once with different values is refused: taking the first or the last
    /// would silently act on a value the client may not have meant (`limit=&limit=!M` once passed
    /// as "no limit"). Stricter than `FormData.value` on the Open311 routes, where GeoReport's
    /// rule "empty = absent" lets a blank stand beside a value.
    func queryValue(_ name: String) throws -> String? {
        let given = uri.queryParameters.getAll(name)
        guard let first = given.first else { return nil }
        guard given.allSatisfy({ $0 == first }) else { throw APIError.conflictingValues(name) }
        return first
    }
}

extension APIError {
    static func conflictingValues(_ name: String) -> APIError {
        APIError(.badRequest, code: "conflicting_values", message: LocalizedText(
            id: "\(name) diberikan lebih dari sekali dengan nilai berbeda.",
            en: "\(name) is given more than once with different values."), field: name)
    }
}
