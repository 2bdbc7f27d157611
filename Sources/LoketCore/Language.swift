/// The languages Loket speaks to people in: Indonesian first, English second.
public enum Language: String, Sendable, Hashable, CaseIterable, Codable {
    case indonesian = "id"
    case english = "en"
}

/// An error a person may read: it carries a stable machine code for API clients and a message in
/// each supported language, so the API layer never has to re-word domain rules.
public protocol UserFacingError: Error, CustomStringConvertible, Sendable {
    /// A stable, snake_case identifier such as `nik_wrong_length`; clients branch on it.
    var code: String { get }
    /// The message for a person, in the given language.
    func message(_ language: Language) -> String
}

extension UserFacingError {
    /// Logs and test failures read the English message.
    public var description: String { message(.english) }
}
