/// Database identities of the records the domain refers to.
///
/// They mirror the `bigint` identity columns of the schema. The domain never invents them: it
/// receives them from the store and hands them back inside decisions and audit events.
public typealias UnitID = Int64

/// Identity of a staff account (an ASN officer, supervisor, manager or administrator).
public typealias StaffID = Int64

/// Identity of a service type in the catalog.
public typealias ServiceTypeID = Int64

/// Identity of a routing rule.
public typealias RoutingRuleID = Int64

/// Identity of a partner application (an Open311 client holding an API key).
public typealias PartnerID = Int64
