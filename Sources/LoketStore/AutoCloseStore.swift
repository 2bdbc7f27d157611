import Foundation
import LoketCore
import Postgres

/// A request that has been waiting for the citizen since `pausedAt`.
public struct WaitingRequest: Sendable, Equatable {
    public var id: Int64
    public var trackingCode: String
    public var serviceTypeID: ServiceTypeID
    public var pausedAt: Date
}

/// The worker's auto-close: a request that waited for the citizen longer than allowed is rejected
/// by the system with a reason the citizen reads (Lifecycle lets the system reject only a request
/// in `waiting_citizen`). The candidates come from a partial index on `paused_at`.
public struct AutoCloseStore: Sendable {
    public let pool: ConnectionPool
    let requests: RequestStore

    public init(pool: ConnectionPool) {
        self.pool = pool
        self.requests = RequestStore(pool: pool)
    }

    /// Requests waiting for the citizen since `cutoff` or before, oldest first, after `cursor` (the
    /// last one of the previous page; the row comparison bounds the index scan), leaving out those
    /// whose citizen uploaded a document since the question.
    public func waiting(since cutoff: Date, after cursor: WaitingRequest?, limit: Int) async throws -> [WaitingRequest] {
        try await pool.query(
            """
            SELECT r.id, r.tracking_code, r.service_type_id, r.paused_at FROM service_requests r
            WHERE r.status = 'waiting_citizen' AND r.paused_at <= $1
              AND (r.paused_at, r.id) > ($2::timestamptz, $3::bigint)
              AND NOT EXISTS (
                  SELECT 1 FROM documents d WHERE d.request_id = r.id AND d.uploaded_by = 'citizen' AND d.created_at >= r.paused_at)
            ORDER BY r.paused_at, r.id LIMIT $4
            """, cutoff, cursor?.pausedAt ?? Date(timeIntervalSince1970: -62_135_596_800), cursor?.id ?? 0, limit
        ).map { row in
            WaitingRequest(
                id: try row.decode(Int64.self, "id"), trackingCode: try row.decode(String.self, "tracking_code"),
                serviceTypeID: try row.decode(Int64.self, "service_type_id"), pausedAt: try row.decode(Date.self, "paused_at"))
        }
    }

    /// Rejects `request` as the system if it still waits in the same pause; false when the citizen
    /// answered (or anything else changed it) since it was listed.
    public func close(_ request: WaitingRequest, reason: String, catalog: CatalogSnapshot, now: Date) async throws -> Bool {
        struct Changed: Error {}
        do {
            _ = try await requests.apply(.reject(reason: reason), by: .system, trackingCode: request.trackingCode, catalog: catalog, now: now) { record in
                guard record.status == .waitingCitizen, record.pausedAt == request.pausedAt else { throw Changed() }
            }
            return true
        } catch is Changed {
            return false
        } catch RequestStoreError.refused(_) {
            return false
        }
    }
}
