import Foundation
import LoketCore
import Postgres

/// A request as Open311 listings may show it. The query that fills it never reads the citizen's
/// name, NIK, phone or e-mail, and withholds the free text and location of requests whose service
/// type is not public, so a private field cannot leak through a rendering mistake.
public struct Open311Request: Sendable {
    public var trackingCode: String
    public var status: RequestStatus
    public var serviceCode: String
    public var serviceName: LocalizedPair
    public var serviceIsPublic: Bool
    /// The unit whose queue holds the request now.
    public var unitName: String
    /// The citizen's description; nil for private services.
    public var description: String?
    /// The reject reason of a rejected request, else the latest public message; nil for private services.
    public var statusNotes: String?
    /// Nil for private services.
    public var address: String?
    /// The Kemendagri area code: the kelurahan for a public service, at most the kecamatan for
    /// another (a village and a birth certificate can point to a family).
    public var areaCode: String?
    /// Nil for private services.
    public var latitude: Double?
    /// Nil for private services.
    public var longitude: Double?
    /// Nil for private services: a partner's media link may show the person.
    public var mediaURL: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var closedAt: Date?
    public var resolutionDueAt: Date
}

/// The SQL behind Open311's GET requests, GET requests/{id} and GET tokens/{token}.
public struct Open311Store: Sendable {
    public let pool: ConnectionPool

    /// Open311's cap on one listing.
    public static let maxResults = 1000

    public init(pool: ConnectionPool) {
        self.pool = pool
    }

    /// The statuses Open311 calls `open`.
    public static let openStatuses: [RequestStatus] = RequestStatus.allCases.filter { !$0.isFinal }
    /// The statuses Open311 calls `closed`.
    public static let closedStatuses: [RequestStatus] = RequestStatus.allCases.filter(\.isFinal)

    // MARK: Queries

    /// Public columns only; the privacy rule of `service_types.is_public` is applied here, in SQL.
    static let selectPublicColumns = """
        SELECT r.tracking_code, r.status, st.code AS service_code, st.name_id AS service_name_id,
               st.name_en AS service_name_en, st.is_public, u.name AS unit_name,
               CASE WHEN st.is_public THEN r.description END AS description,
               CASE WHEN st.is_public THEN
                   CASE WHEN r.status = 'rejected' THEN r.reject_reason ELSE r.public_message END
               END AS status_notes,
               CASE WHEN st.is_public THEN r.address END AS address,
               CASE WHEN st.is_public THEN r.area_code ELSE left(r.area_code, 8) END AS area_code,
               CASE WHEN st.is_public THEN r.latitude END AS latitude,
               CASE WHEN st.is_public THEN r.longitude END AS longitude,
               CASE WHEN st.is_public THEN r.media_url END AS media_url,
               r.created_at, r.updated_at, r.closed_at, r.resolution_due_at
        FROM service_requests r
        JOIN service_types st ON st.id = r.service_type_id
        JOIN units u ON u.id = r.unit_id
        """

    /// `service_request_id=A,B,…`: by tracking code (the unique index), newest first.
    static let listByTrackingCodes = selectPublicColumns + """

        WHERE r.tracking_code = ANY($1::text[])
        ORDER BY r.created_at DESC, r.id DESC
        LIMIT $2
        """

    /// The filtered listing: a created_at range (the created_at index, read backwards), optional
    /// service codes and statuses (an empty array means "any").
    static let listFiltered = selectPublicColumns + """

        WHERE r.created_at >= $1 AND r.created_at <= $2
          AND (cardinality($3::text[]) = 0 OR st.code = ANY($3::text[]))
          AND (cardinality($4::text[]) = 0 OR r.status = ANY($4::text[]))
        ORDER BY r.created_at DESC, r.id DESC
        LIMIT $5
        """

    static let findByTrackingCode = selectPublicColumns + """

        WHERE r.tracking_code = $1
        """

    static let trackingCodeExists = "SELECT EXISTS (SELECT 1 FROM service_requests WHERE tracking_code = $1) AS found"

    // MARK: Reading

    /// The requests with these tracking codes, newest first, at most `limit`.
    public func requests(trackingCodes: [String], limit: Int = maxResults) async throws -> [Open311Request] {
        guard !trackingCodes.isEmpty else { return [] }
        return try await pool.query(Self.listByTrackingCodes, trackingCodes, limit).map(Open311Request.init(row:))
    }

    /// Requests filed in `from...through`, optionally only of some services and statuses, newest
    /// first, at most `limit`.
    public func requests(
        from: Date, through: Date, serviceCodes: [String] = [], statuses: [RequestStatus] = [], limit: Int = maxResults
    ) async throws -> [Open311Request] {
        try await pool.query(Self.listFiltered, from, through, serviceCodes, statuses.map(\.rawValue), limit)
            .map(Open311Request.init(row:))
    }

    public func request(trackingCode: String) async throws -> Open311Request? {
        try await pool.query(Self.findByTrackingCode, trackingCode).first.map(Open311Request.init(row:))
    }

    public func exists(trackingCode: String) async throws -> Bool {
        try await pool.query(Self.trackingCodeExists, trackingCode).single().decode(Bool.self, "found")
    }
}

extension Open311Request {
    init(row: PostgresRow) throws {
        trackingCode = try row.decode(String.self, "tracking_code")
        let statusText = try row.decode(String.self, "status")
        guard let status = RequestStatus(rawValue: statusText) else {
            throw PostgresResultError("unknown request status \(statusText)")
        }
        self.status = status
        serviceCode = try row.decode(String.self, "service_code")
        serviceName = LocalizedPair(
            id: try row.decode(String.self, "service_name_id"), en: try row.decode(String.self, "service_name_en"))
        serviceIsPublic = try row.decode(Bool.self, "is_public")
        unitName = try row.decode(String.self, "unit_name")
        description = try row.decode(String?.self, "description")
        statusNotes = try row.decode(String?.self, "status_notes")
        address = try row.decode(String?.self, "address")
        areaCode = try row.decode(String?.self, "area_code")
        latitude = try row.decode(Double?.self, "latitude")
        longitude = try row.decode(Double?.self, "longitude")
        mediaURL = try row.decode(String?.self, "media_url")
        createdAt = try row.decode(Date.self, "created_at")
        updatedAt = try row.decode(Date.self, "updated_at")
        closedAt = try row.decode(Date?.self, "closed_at")
        resolutionDueAt = try row.decode(Date.self, "resolution_due_at")
    }
}
