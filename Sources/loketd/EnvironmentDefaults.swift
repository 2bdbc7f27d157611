import ArgumentParser
import Foundation

/// The LOKET_* variables that give options their defaults. ArgumentParser cannot fail while it
/// computes a default, so a value that does not parse falls back there, and the command's
/// `validate()` refuses it with `check`: a mistyped number in a unit file or a ConfigMap must stop
/// the process with a clear message, not quietly run it with another value.
enum EnvironmentDefaults {
    /// The whole number in `name`; `fallback` when it is unset or empty (or does not parse: see `check`).
    static func integer(_ name: String, default fallback: Int) -> Int {
        value(name).flatMap { Int($0) } ?? fallback
    }

    /// On when `name` is 1 or true (any case); off when unset, empty, 0 or false.
    static func flag(_ name: String) -> Bool {
        value(name).map { ["1", "true"].contains($0.lowercased()) } ?? false
    }

    /// Refuses a set variable among `integers` that is not a whole number, or among `flags` that
    /// is not 1, 0, true or false.
    static func check(integers: [String] = [], flags: [String] = []) throws {
        for name in integers {
            if let text = value(name), Int(text) == nil {
                throw ValidationError("\(name) must be a whole number, not \"\(text)\"")
            }
        }
        for name in flags {
            if let text = value(name), !["0", "1", "true", "false"].contains(text.lowercased()) {
                throw ValidationError("\(name) must be 1, 0, true or false, not \"\(text)\"")
            }
        }
    }

    private static func value(_ name: String) -> String? {
        guard let text = ProcessInfo.processInfo.environment[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
            return nil
        }
        return text
    }
}
