/// A five-character SQLSTATE code as reported by the server.
///
/// The common codes the rest of Loket reacts to are named; any other code is still carried
/// verbatim so that callers can compare against it.
public struct SQLState: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// The two-character class, e.g. "23" for integrity constraint violations.
    public var errorClass: Substring { rawValue.prefix(2) }
    public var description: String { rawValue }

    // Class 08: connection exceptions.
    public static let connectionException = SQLState("08000")
    public static let connectionFailure = SQLState("08006")
    /// The connection was lost after COMMIT was sent: the transaction may or may not have
    /// committed (PostgreSQL's own name for this, which it never sends itself).
    public static let transactionResolutionUnknown = SQLState("08007")
    public static let sqlClientUnableToEstablishConnection = SQLState("08001")
    // Class 22: data exceptions.
    public static let numericValueOutOfRange = SQLState("22003")
    public static let invalidDatetimeFormat = SQLState("22007")
    public static let datetimeFieldOverflow = SQLState("22008")
    public static let divisionByZero = SQLState("22012")
    public static let stringDataRightTruncation = SQLState("22001")
    public static let invalidTextRepresentation = SQLState("22P02")
    public static let invalidParameterValue = SQLState("22023")
    // Class 23: integrity constraint violations.
    public static let integrityConstraintViolation = SQLState("23000")
    public static let restrictViolation = SQLState("23001")
    public static let notNullViolation = SQLState("23502")
    public static let foreignKeyViolation = SQLState("23503")
    public static let uniqueViolation = SQLState("23505")
    public static let checkViolation = SQLState("23514")
    public static let exclusionViolation = SQLState("23P01")
    // Class 25 and 40: transaction state and rollback.
    public static let inFailedSQLTransaction = SQLState("25P02")
    public static let noActiveSQLTransaction = SQLState("25P01")
    public static let activeSQLTransaction = SQLState("25001")
    public static let readOnlySQLTransaction = SQLState("25006")
    public static let serializationFailure = SQLState("40001")
    public static let deadlockDetected = SQLState("40P01")
    // Class 42: syntax and access.
    public static let syntaxError = SQLState("42601")
    public static let insufficientPrivilege = SQLState("42501")
    public static let undefinedTable = SQLState("42P01")
    public static let undefinedColumn = SQLState("42703")
    public static let undefinedFunction = SQLState("42883")
    public static let duplicateTable = SQLState("42P07")
    public static let duplicateObject = SQLState("42710")
    // Classes 53, 55, 57: resources, object state, operator intervention.
    public static let tooManyConnections = SQLState("53300")
    public static let lockNotAvailable = SQLState("55P03")
    public static let objectNotInPrerequisiteState = SQLState("55000")
    public static let queryCanceled = SQLState("57014")
    public static let adminShutdown = SQLState("57P01")
    public static let crashShutdown = SQLState("57P02")
    public static let cannotConnectNow = SQLState("57P03")
    public static let invalidSQLStatementName = SQLState("26000")
    /// Also what a prepared statement whose result type a schema change altered fails with
    /// ("cached plan must not change result type", in the server's language).
    public static let featureNotSupported = SQLState("0A000")
    public static let raiseException = SQLState("P0001")

    /// A transaction that failed with this code may succeed if simply run again.
    public var isTransientTransactionFailure: Bool {
        self == .serializationFailure || self == .deadlockDetected
    }

    /// The connection is gone or the server is going away: the statement did not complete.
    public var isConnectionLoss: Bool {
        errorClass == "08" || self == .adminShutdown || self == .crashShutdown || self == .cannotConnectNow
    }

    /// A violation of a constraint of class 23 (unique, foreign key, check, not null, …).
    public var isIntegrityViolation: Bool { errorClass == "23" }
}

/// An error reported by the PostgreSQL server for a statement, or the loss of the connection while a
/// statement was running.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public var sqlState: SQLState
    public var severity: String
    public var message: String
    public var detail: String?
    public var hint: String?
    public var constraint: String?
    public var schema: String?
    public var table: String?
    public var column: String?
    public var dataType: String?
    /// 1-based character position in the statement text, when the server gave one.
    public var position: Int?
    /// The server function that raised the error (`RevalidateCachedQuery`, …): the same in every
    /// server language, unlike the message.
    public var sourceFunction: String?

    public init(
        sqlState: SQLState, severity: String = "ERROR", message: String, detail: String? = nil,
        hint: String? = nil, constraint: String? = nil, schema: String? = nil, table: String? = nil,
        column: String? = nil, dataType: String? = nil, position: Int? = nil, sourceFunction: String? = nil
    ) {
        self.sqlState = sqlState
        self.severity = severity
        self.message = message
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
        self.schema = schema
        self.table = table
        self.column = column
        self.dataType = dataType
        self.position = position
        self.sourceFunction = sourceFunction
    }

    /// A prepared statement the server can no longer run as prepared: forgotten (DISCARD ALL,
    /// 26000) or invalidated by a schema change that altered its result ("cached plan must not
    /// change result type", 0A000 raised in RevalidateCachedQuery).
    public var invalidatesPreparedStatement: Bool {
        sqlState == .invalidSQLStatementName
            || (sqlState == .featureNotSupported && sourceFunction == "RevalidateCachedQuery")
    }

    public var description: String {
        var text = "\(severity) \(sqlState): \(message)"
        if let detail { text += " (detail: \(detail))" }
        if let hint { text += " (hint: \(hint))" }
        if let constraint { text += " (constraint: \(constraint))" }
        return text
    }
}

/// A connection could not be established. Names the host and the reason; never the password.
public struct PostgresConnectionError: Error, Sendable, CustomStringConvertible {
    /// Where libpq tried to connect: host or socket directory, port and database, as parsed from the
    /// conninfo and PG* environment.
    public var target: String
    /// libpq's reason, trimmed. libpq does not echo passwords in its messages.
    public var reason: String

    public init(target: String, reason: String) {
        self.target = target
        self.reason = reason
    }

    public var description: String { "cannot connect to PostgreSQL at \(target): \(reason)" }
}

/// A value in a result could not be turned into the requested Swift type.
public struct PostgresDecodingError: Error, Sendable, CustomStringConvertible {
    public var column: String
    public var columnIndex: Int
    public var swiftType: String
    public var postgresType: PostgresDataType
    public var reason: String

    public init(column: String, columnIndex: Int, swiftType: String, postgresType: PostgresDataType, reason: String) {
        self.column = column
        self.columnIndex = columnIndex
        self.swiftType = swiftType
        self.postgresType = postgresType
        self.reason = reason
    }

    public var description: String {
        "cannot decode column \"\(column)\" (#\(columnIndex), \(postgresType)) as \(swiftType): \(reason)"
    }
}

/// Misuse of a result: a column that does not exist or a row index out of range.
public struct PostgresResultError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension PostgresError {
    /// The loss of the connection while COMMIT was on its way or awaited, reported as
    /// `transactionResolutionUnknown`: a caller must find out what happened before it repeats the
    /// work (or tells a client to), or the work could be done twice.
    static func commitOutcomeUnknown(_ error: PostgresError) -> PostgresError {
        guard error.sqlState.isConnectionLoss else { return error }
        var unknown = error
        unknown.sqlState = .transactionResolutionUnknown
        unknown.message = "the connection was lost after COMMIT was sent; the transaction may have committed (\(error.message))"
        return unknown
    }
}
