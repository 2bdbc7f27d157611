import CLibPQ
import Foundation

/// A complete statement result. libpq has already read every row when a statement returns, so
/// this is a random-access collection over memory the result owns; it frees the PGresult when
/// the last reference goes.
public final class PostgresRows: @unchecked Sendable {
    // Immutable after init: the PGresult is only read, which libpq allows from any thread.
    private let result: OpaquePointer?
    public let count: Int
    public let columnCount: Int
    /// The command tag, e.g. "INSERT 0 1" or "UPDATE 3".
    public let commandTag: String
    /// Rows touched by INSERT/UPDATE/DELETE/MERGE (or returned by SELECT), from the command tag.
    public let affectedRows: Int
    private let columnTypes: [PostgresDataType]
    /// Each column's name as libpq holds it (valid while the result lives), with its length and
    /// hash: rows are decoded by name, and a scan of 64-bit hashes finds a name without building a
    /// Swift string and a dictionary for every column of every result.
    private let columnKeys: [ColumnKey]

    private struct ColumnKey {
        var hash: UInt64
        var name: UnsafePointer<CChar>
        var length: Int
    }

    init(result: OpaquePointer?) {
        self.result = result
        guard let result else {
            count = 0
            columnCount = 0
            commandTag = ""
            affectedRows = 0
            columnTypes = []
            columnKeys = []
            return
        }
        count = Int(PQntuples(result))
        columnCount = Int(PQnfields(result))
        commandTag = String(cString: PQcmdStatus(result))
        affectedRows = Int(String(cString: PQcmdTuples(result))) ?? 0
        var types: [PostgresDataType] = []
        var keys: [ColumnKey] = []
        types.reserveCapacity(columnCount)
        keys.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            let name = PQfname(result, Int32(column))!
            let length = strlen(name)
            keys.append(ColumnKey(hash: Self.hash(UnsafeRawBufferPointer(start: name, count: length)), name: name, length: length))
            types.append(PostgresDataType(PQftype(result, Int32(column))))
        }
        columnTypes = types
        columnKeys = keys
    }

    /// FNV-1a: enough to tell a result's few dozen column names apart before comparing bytes.
    private static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    deinit {
        if let result { PQclear(result) }
    }

    public var columns: [String] { columnKeys.map { String(cString: $0.name) } }
    public func columnType(_ index: Int) -> PostgresDataType { columnTypes[index] }
    public var isEmpty: Bool { count == 0 }

    public subscript(row: Int) -> PostgresRow {
        precondition(row >= 0 && row < count, "row \(row) out of range 0..<\(count)")
        return PostgresRow(rows: self, index: row)
    }

    /// The first row, if any.
    public var first: PostgresRow? { count > 0 ? self[0] : nil }

    /// The only row: throws if there is none or more than one.
    public func single() throws -> PostgresRow {
        guard count == 1 else { throw PostgresResultError("expected exactly one row, got \(count)") }
        return self[0]
    }

    func columnIndex(named name: String) throws(PostgresResultError) -> Int {
        var name = name
        let found: Int? = name.withUTF8 { utf8 in
            let hash = Self.hash(UnsafeRawBufferPointer(utf8))
            for (index, key) in columnKeys.enumerated() where key.hash == hash && key.length == utf8.count {
                if utf8.isEmpty || memcmp(key.name, utf8.baseAddress!, utf8.count) == 0 { return index }
            }
            return nil
        }
        guard let found else {
            throw PostgresResultError("no column \"\(name)\" in result (columns: \(columns.joined(separator: ", ")))")
        }
        return found
    }

    func decode<T: PostgresDecodable>(_ type: T.Type, row: Int, column: Int) throws -> T {
        guard column >= 0 && column < columnCount else {
            throw PostgresResultError("column index \(column) out of range 0..<\(columnCount)")
        }
        let pgType = columnTypes[column]
        do throws(PostgresValueMismatch) {
            if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                return try T.decodeNull()
            }
            let length = Int(PQgetlength(result, Int32(row), Int32(column)))
            let pointer = PQgetvalue(result, Int32(row), Int32(column))
            let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
            return try T.decode(from: PostgresValue(type: pgType, bytes: bytes))
        } catch {
            throw PostgresDecodingError(
                column: String(cString: columnKeys[column].name), columnIndex: column, swiftType: String(describing: T.self),
                postgresType: pgType, reason: error.reason)
        }
    }

    func isNull(row: Int, column: Int) -> Bool {
        PQgetisnull(result, Int32(row), Int32(column)) == 1
    }
}

extension PostgresRows: RandomAccessCollection {
    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
}

/// One row of a result. Decode fields by column name or position:
/// `let id = try row.decode(Int64.self, "id")`, `try row.decode(String?.self, 2)`.
public struct PostgresRow: @unchecked Sendable {
    let rows: PostgresRows
    public let index: Int

    public func decode<T: PostgresDecodable>(_ type: T.Type, _ column: String) throws -> T {
        try rows.decode(type, row: index, column: rows.columnIndex(named: column))
    }

    public func decode<T: PostgresDecodable>(_ type: T.Type, _ column: Int) throws -> T {
        try rows.decode(type, row: index, column: column)
    }

    /// Decodes a json or jsonb column with `JSONDecoder` (ISO 8601 dates).
    public func json<T: Decodable>(_ type: T.Type, _ column: String) throws -> T {
        let columnIndex = try rows.columnIndex(named: column)
        let text = try rows.decode(JSONText.self, row: index, column: columnIndex)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(T.self, from: Data(text.utf8))
        } catch {
            throw PostgresDecodingError(
                column: column, columnIndex: columnIndex, swiftType: String(describing: T.self),
                postgresType: rows.columnType(columnIndex), reason: "JSON does not match: \(error)")
        }
    }

    public func isNull(_ column: String) throws -> Bool {
        rows.isNull(row: index, column: try rows.columnIndex(named: column))
    }
}

/// The JSON text of a json or jsonb field (jsonb's binary form carries a version byte first).
private struct JSONText: PostgresDecodable {
    let utf8: String.UTF8View

    static func decode(from value: PostgresValue) throws(PostgresValueMismatch) -> JSONText {
        switch value.type {
        case .json:
            return JSONText(utf8: String(decoding: value.bytes, as: UTF8.self).utf8)
        case .jsonb:
            guard let version = value.bytes.first, version == 1 else {
                throw PostgresValueMismatch("unknown jsonb format version")
            }
            return JSONText(utf8: String(decoding: UnsafeRawBufferPointer(rebasing: value.bytes.dropFirst()), as: UTF8.self).utf8)
        default:
            throw .unsupported(value.type)
        }
    }
}
