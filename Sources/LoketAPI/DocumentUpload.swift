import Foundation
import HTTPTypes
import Hummingbird
import LoketCore
import LoketStore
import MultipartKit
import NIOCore

/// A supporting document as uploaded: multipart/form-data (a part named `file`) or a raw body with
/// the document's own content type. The type is judged by content, not by what the client says.
struct DocumentUpload {
    static let accepted = ["application/pdf", "image/jpeg", "image/png"]

    var filename: String
    var contentType: String
    var content: Data

    static func read(_ request: Request, context: AppContext) async throws -> DocumentUpload {
        let declared = request.headers[.contentType] ?? ""
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: APILimits.maxDocumentBytes + 64 * 1024)
        } catch is NIOTooManyBytesError {
            throw APIError.documentTooLarge
        }  // a body cut short on the wire goes on to RequestMiddleware: 400 malformed_request
        var filename: String?
        var content: Data
        if declared.lowercased().hasPrefix("multipart/form-data") {
            guard let boundary = Self.boundary(declared) else {
                throw APIError(.badRequest, code: "multipart_boundary_missing", message: LocalizedText(
                    id: "Header Content-Type multipart tidak memuat boundary yang sah (1–70 karakter).",
                    en: "The multipart Content-Type has no valid boundary (1 to 70 characters)."))
            }
            let parts: [FormPart]
            do {
                parts = try FormPart.parse(buffer, boundary: boundary)
            } catch {
                throw APIError(.badRequest, code: "multipart_invalid", message: LocalizedText(
                    id: "Isi multipart tidak dapat dibaca.", en: "The multipart body cannot be parsed."))
            }
            guard let part = parts.first(where: { $0.name == "file" }) else {
                throw APIError(.unprocessableContent, code: "missing_field", message: LocalizedText(
                    id: "Bagian \"file\" tidak ada dalam formulir.", en: "The form has no \"file\" part."), field: "file")
            }
            filename = part.filename
            content = part.body
        } else {
            guard accepted.contains(where: { declared.lowercased().hasPrefix($0) }) || declared.lowercased().hasPrefix("application/octet-stream") else {
                throw APIError.unsupportedMediaType("multipart/form-data, application/pdf, image/jpeg or image/png")
            }
            content = Data(buffer.readableBytesView)
            filename = try request.queryValue("filename")
                ?? request.headers[HTTPField.Name("Content-Disposition")!].flatMap(Self.dispositionFilename)
        }
        guard !content.isEmpty else {
            throw APIError(.badRequest, code: "document_empty", message: LocalizedText(
                id: "Dokumen kosong.", en: "The document is empty."), field: "file")
        }
        guard content.count <= APILimits.maxDocumentBytes else { throw APIError.documentTooLarge }
        guard let sniffed = Self.sniff(content) else {
            throw APIError(.unsupportedMediaType, code: "document_type_unsupported", message: LocalizedText(
                id: "Hanya dokumen PDF, JPEG, atau PNG yang diterima.", en: "Only PDF, JPEG or PNG documents are accepted."),
                field: "file")
        }
        let name = Self.sanitize(filename, contentType: sniffed)
        return DocumentUpload(filename: name, contentType: sniffed, content: content)
    }

    /// The type by its first bytes.
    static func sniff(_ data: Data) -> String? {
        let bytes = [UInt8](data.prefix(8))
        if bytes.starts(with: Array("%PDF-".utf8)) { return "application/pdf" }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        return nil
    }

    /// A safe file name: no folders, no control or reserved characters, an extension that fits the
    /// type found in the content (`lampiran.html` holding a PDF is stored as `lampiran.html.pdf`, so
    /// that whoever downloads it opens it as what it is).
    static func sanitize(_ given: String?, contentType: String) -> String {
        let fitting = contentType == "application/pdf" ? ["pdf"] : contentType == "image/png" ? ["png"] : ["jpg", "jpeg"]
        var name = given ?? ""
        if let last = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last { name = String(last) }
        name = String(name.unicodeScalars.filter { !$0.properties.isWhitespace || $0 == " " }
            // Format characters too (bidirectional overrides, zero-width ones): a file name must
            // show what it is.
            .filter { ![.control, .format].contains($0.properties.generalCategory) && !"<>:\"|?*".unicodeScalars.contains($0) }
            .map(Character.init))
        name = name.trimmingCharacters(in: CharacterSet(charactersIn: " ."))
        if name.isEmpty { name = "dokumen" }
        var suffix = ".\(fitting[0])"
        if let dot = name.lastIndex(of: "."), fitting.contains(name[name.index(after: dot)...].lowercased()) {
            suffix = String(name[dot...])
            name = String(name[..<dot])
        }
        // Cut by Unicode scalars, which PostgreSQL's char_length counts (documents_filename_safe),
        // keeping the extension.
        let room = 200 - suffix.unicodeScalars.count
        if name.unicodeScalars.count > room { name = String(String.UnicodeScalarView(name.unicodeScalars.prefix(room))) }
        return name + suffix
    }

    /// The boundary as RFC 2046 §5.1.1 allows it (1 to 70 of its characters, not ending in a
    /// space), or nil. multipart-kit traps on an empty boundary, which took the whole server down.
    static func boundary(_ contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingWhitespace(includingNewlines: false) }
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                var value = Substring(pair[1])
                if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
                let allowed = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ")
                guard (1...70).contains(value.count), value.last != " ", value.allSatisfy(allowed.contains) else { return nil }
                return String(value)
            }
        }
        return nil
    }

    static func dispositionFilename(_ header: String) -> String? {
        for parameter in header.split(separator: ";") {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingWhitespace(includingNewlines: false) }
            if pair.count == 2, pair[0].lowercased() == "filename" {
                return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }

    /// RFC 8187's attr-char.
    static let attributeCharacters = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~")

    /// A download that browsers save instead of rendering, with its stored type.
    static func downloadResponse(_ info: DocumentInfo, content: Data) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = info.contentType
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        let ascii = String(info.filename.unicodeScalars.map { $0.isASCII && $0 != "\"" ? Character($0) : "_" })
        // RFC 8187: only attr-chars stay as they are (ASCII letters, digits and a few marks); every
        // other byte of the UTF-8 name is percent-encoded.
        let encoded = info.filename.addingPercentEncoding(withAllowedCharacters: Self.attributeCharacters) ?? ascii
        headers[HTTPField.Name("Content-Disposition")!] = "attachment; filename=\"\(ascii)\"; filename*=UTF-8''\(encoded)"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: content)))
    }
}

extension APIError {
    static let documentTooLarge = APIError(.contentTooLarge, code: "document_too_large", message: LocalizedText(
        id: "Dokumen melebihi 10 MiB.", en: "The document is larger than 10 MiB."), field: "file")
}

/// One part of a multipart/form-data body.
struct FormPart {
    var name: String?
    var filename: String?
    var body: Data

    struct NonASCIIHeaderName: Error {}

    /// Collects the parts with multipart-kit's streaming parser.
    static func parse(_ buffer: ByteBuffer, boundary: String) throws -> [FormPart] {
        guard headerNamesAreASCII(Data(buffer.readableBytesView), boundary: boundary) else { throw NonASCIIHeaderName() }
        let parser = MultipartParser(boundary: boundary)
        var parts: [FormPart] = []
        var current = FormPart(name: nil, filename: nil, body: Data())
        parser.onHeader = { name, value in
            guard name.lowercased() == "content-disposition" else { return }
            for parameter in value.split(separator: ";") {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingWhitespace(includingNewlines: false) }
                guard pair.count == 2 else { continue }
                let text = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                switch pair[0].lowercased() {
                case "name": current.name = text
                case "filename": current.filename = text
                default: break
                }
            }
        }
        parser.onBody = { body in current.body.append(contentsOf: body.readableBytesView) }
        parser.onPartComplete = {
            parts.append(current)
            current = FormPart(name: nil, filename: nil, body: Data())
        }
        try parser.execute(buffer)
        return parts
    }
}

extension FormPart {
    /// Whether every part header's name is ASCII. multipart-kit (4.7) looks a header name's bytes
    /// up in a table of the 128 ASCII bytes and traps on any other one: an index out of range that
    /// ends the whole process, so such a body must not reach it. Checks every header block that
    /// follows a delimiter line (`--BOUNDARY` and CRLF), which covers every block the parser reads.
    static func headerNamesAreASCII(_ body: Data, boundary: String) -> Bool {
        let delimiter = Data("--\(boundary)\r\n".utf8)
        let bytes = [UInt8](body)
        var searchFrom = body.startIndex
        while let found = body.range(of: delimiter, in: searchFrom..<body.endIndex) {
            var index = found.upperBound - body.startIndex
            header: while index < bytes.count, bytes[index] != UInt8(ascii: "\r") {
                // The name, up to the colon.
                while index < bytes.count, bytes[index] != UInt8(ascii: ":") {
                    if bytes[index] >= 0x80 { return false }
                    if bytes[index] == UInt8(ascii: "\r") { break header }  // the parser refuses this line
                    index += 1
                }
                // The value, up to CR LF.
                while index < bytes.count, bytes[index] != UInt8(ascii: "\r") { index += 1 }
                index += 2
            }
            searchFrom = found.lowerBound + 1
        }
        return true
    }
}
