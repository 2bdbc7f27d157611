/// Text checks every request runs over its fields, written over Unicode scalars in the standard
/// library. Foundation's `trimmingCharacters(in:)` bridges through NSString on Linux (a copy in
/// UTF-16 and a copy back) and the general-category lookup searches Unicode's tables: together
/// they were a tenth of the server's CPU per filing.
extension String {
    /// Without white space at either end (see `Substring.trimmingWhitespace`).
    public func trimmingWhitespace(includingNewlines: Bool = true) -> String {
        self[...].trimmingWhitespace(includingNewlines: includingNewlines)
    }
}

extension Substring {
    /// Without white space at either end: what Foundation's `.whitespacesAndNewlines` trims
    /// (Unicode's White_Space scalars, and U+200B), or without the line breaks among them when
    /// `includingNewlines` is false (Foundation's `.whitespaces`: category Zs, tab and U+200B).
    public func trimmingWhitespace(includingNewlines: Bool = true) -> String {
        let text = self
        let scalars = text.unicodeScalars
        func isSpace(_ scalar: Unicode.Scalar) -> Bool {
            // Foundation also trims ZERO WIDTH SPACE (category Zs until Unicode 4.0.1): kept, an
            // invisible character at the end of a name is never meant; and so are WORD JOINER and
            // ZERO WIDTH NO-BREAK SPACE (a stray byte-order mark), or a name of nothing but them
            // would pass as given.
            if scalar.value == 0x200B || scalar.value == 0x2060 || scalar.value == 0xFEFF { return true }
            guard scalar.properties.isWhitespace else { return false }
            if includingNewlines { return true }
            switch scalar.value {
            case 0x0A...0x0D, 0x85, 0x2028, 0x2029: return false
            default: return true
            }
        }
        // Most fields need no trimming: an ASCII letter or digit at both ends answers at once.
        if let first = text.utf8.first, let last = text.utf8.last, first > 0x20, first < 0x7F, last > 0x20, last < 0x7F {
            return String(text)
        }
        guard let start = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        var end = scalars.endIndex
        while end > start {
            let before = scalars.index(before: end)
            if !isSpace(scalars[before]) { break }
            end = before
        }
        return String(Substring(scalars[start..<end]))
    }
}

extension StringProtocol {
    /// Whether the text holds a control character (Unicode category Cc: U+0000–U+001F and
    /// U+007F–U+009F) other than line feed and tab, or a bidirectional embedding, override or
    /// isolate (U+202A–U+202E, U+2066–U+2069). NUL cannot be stored at all, the other Cc would
    /// reach officers' terminals as escape sequences, and the bidirectional controls make text
    /// show other than it reads ("ktp\u{202E}fdp.jpg" shows as "ktpgpj.pdf"), so free text refuses
    /// them everywhere (after `normalizingLineBreaks`, so that a carriage return is never one).
    public func containsControlCharacters() -> Bool {
        unicodeScalars.contains { scalar in
            switch scalar.value {
            case 0x0A, 0x09: return false
            case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: return true
            default: return false
            }
        }
    }

    /// The text with every line break a line feed: CR LF (what browsers send for a form's
    /// textarea, and what Windows programs write) and a lone CR become LF, so that free text is
    /// stored one way whichever client wrote it.
    public func normalizingLineBreaks() -> String {
        guard utf8.contains(0x0D) else { return String(self) }
        var result = String.UnicodeScalarView()
        var scalars = unicodeScalars.makeIterator()
        var pending = scalars.next()
        while let scalar = pending {
            pending = scalars.next()
            if scalar == "\r" {
                result.append("\n")
                if pending == "\n" { pending = scalars.next() }
            } else {
                result.append(scalar)
            }
        }
        return String(result)
    }
}
