import ArgumentParser
import Foundation
import Synchronization

/// The LOKET_* variables that give options their defaults. ArgumentParser cannot fail while it
/// computes a default, so a value that does not parse falls back there and is remembered, and the
/// command's `validate()` refuses it with `check()`: a mistyped number in a unit file or a
/// ConfigMap must stop the process with a clear message, not quietly run it with another value.
/// Only the variables the command's own options read are remembered, so no list of names is kept
/// beside the options.
enum EnvironmentDefaults {
    /// Variables read so far whose value did not parse: the message that refuses each.
    private static let refused = Mutex<[String: String]>([:])

    /// The whole number in `name`; `fallback` when it is unset or empty, or does not parse (then
    /// `check()` refuses it).
    static func integer(_ name: String, default fallback: Int) -> Int {
        guard let text = value(name) else { return fallback }
        guard let number = Int(text) else {
            refuse(name, "must be a whole number, not \"\(text)\"")
            return fallback
        }
        return number
    }

    /// On when `name` is 1 or true (any case); off when unset, empty, 0 or false; anything else is
    /// off and refused by `check()`.
    static func flag(_ name: String) -> Bool {
        guard let text = value(name) else { return false }
        switch text.lowercased() {
        case "1", "true": return true
        case "0", "false": return false
        default:
            refuse(name, "must be 1, 0, true or false, not \"\(text)\"")
            return false
        }
    }

    /// Why a secret in `name` must not be used, or nil: the examples' placeholder (a key everyone
    /// can read in this repository signs nothing), or fewer than `minimumLength` characters.
    static func secretProblem(_ name: String, minimumLength: Int) -> String? {
        guard let text = value(name) else { return nil }
        if text.uppercased().contains("CHANGE-ME") {
            return "\(name) still holds the examples' placeholder; set a secret of your own (openssl rand -hex 32)"
        }
        if text.count < minimumLength {
            return "\(name) must be at least \(minimumLength) characters (openssl rand -hex 32)"
        }
        return nil
    }

    /// Refuses the first (by name) variable read for a default whose value did not parse.
    static func check() throws {
        guard let (name, problem) = refused.withLock({ $0.min { $0.key < $1.key } }) else { return }
        throw ValidationError("\(name) \(problem)")
    }

    private static func refuse(_ name: String, _ problem: String) {
        refused.withLock { $0[name] = problem }
    }

    private static func value(_ name: String) -> String? {
        guard let text = ProcessInfo.processInfo.environment[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
            return nil
        }
        return text
    }
}
