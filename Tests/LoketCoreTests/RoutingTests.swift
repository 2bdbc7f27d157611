import Foundation
import Testing
@testable import LoketCore

/// A sample catalog for Kota Serang (36.73): service types 1 KTP-el, 2 akta kelahiran,
/// 3 PBG (building approval), 4 pengaduan (complaints). Units: 11 Disdukcapil, 12 UPT Disdukcapil
/// Kasemen, 13 Kelurahan Kasemen, 14 Kecamatan Walantaka, 15 Inspektorat, 16 Ombudsman desk,
/// 17 DPMPTSP, 99 a retired unit, 1 the front office (triage).
@Suite struct RoutingTests {
    static func area(_ code: String) -> AreaCode { try! AreaCode(code) }

    let table = RoutingTable(rules: [
        RoutingRule(id: 1, serviceTypeId: 1, areaCode: nil, unitId: 11, priority: 0, isActive: true),
        RoutingRule(id: 2, serviceTypeId: 1, areaCode: area("36.73.02"), unitId: 12, priority: 0, isActive: true),
        RoutingRule(id: 3, serviceTypeId: 1, areaCode: area("36.73.02.1001"), unitId: 13, priority: 0, isActive: true),
        RoutingRule(id: 4, serviceTypeId: nil, areaCode: area("36.73.03"), unitId: 14, priority: 0, isActive: true),
        RoutingRule(id: 5, serviceTypeId: 4, areaCode: nil, unitId: 15, priority: 5, isActive: true),
        RoutingRule(id: 6, serviceTypeId: 4, areaCode: nil, unitId: 16, priority: 10, isActive: true),
        RoutingRule(id: 7, serviceTypeId: 1, areaCode: area("36.73.01.1001"), unitId: 99, priority: 100, isActive: false),
        RoutingRule(id: 9, serviceTypeId: 3, areaCode: area("36.73"), unitId: 18, priority: 0, isActive: true),
        RoutingRule(id: 8, serviceTypeId: 3, areaCode: area("36.73"), unitId: 17, priority: 0, isActive: true),
    ])

    func route(_ service: ServiceTypeID, _ area: String?, default unit: UnitID? = nil) -> RoutingDecision {
        table.route(serviceTypeId: service, area: area.map(Self.area), defaultUnitId: unit, triageUnitId: 1)
    }

    @Test func theMostSpecificAreaWins() {
        let kelurahan = route(1, "36.73.02.1001")
        #expect(kelurahan.unitId == 13 && kelurahan.basis == .rule && kelurahan.rule?.id == 3)
        #expect(kelurahan.outranked == [2, 1])
        let kecamatan = route(1, "36.73.02.1002")
        #expect(kecamatan.unitId == 12 && kecamatan.rule?.id == 2)
        let anywhere = route(1, "36.73.05.1004")
        #expect(anywhere.unitId == 11 && anywhere.rule?.id == 1)
        #expect(route(1, nil).unitId == 11, "no area given: only rules for any area apply")
    }

    @Test func aRuleForTheServiceBeatsARuleForTheArea() {
        // Walantaka routes everything to its kecamatan office, except services with their own rule.
        #expect(route(1, "36.73.03.2001").unitId == 11)
        let building = route(2, "36.73.03.2001", default: 11)
        #expect(building.unitId == 14 && building.rule?.id == 4)
    }

    @Test func inactiveRulesAreIgnored() {
        let decision = route(1, "36.73.01.1001")
        #expect(decision.unitId == 11)
        #expect(!decision.outranked.contains(7))
    }

    @Test func priorityThenIdBreakTies() {
        let complaint = route(4, "36.73.01.1001")
        #expect(complaint.unitId == 16 && complaint.outranked == [5])
        let permit = route(3, "36.73.04.1002")
        #expect(permit.rule?.id == 8 && permit.outranked == [9], "equal rules: the lower id wins, whatever the order")
    }

    @Test func fallBackToTheServiceDefaultThenTheTriageUnit() {
        let defaulted = route(2, "36.73.01.1001", default: 11)
        #expect(defaulted.unitId == 11 && defaulted.basis == .serviceDefault && defaulted.rule == nil)
        let triaged = route(2, "36.73.01.1001")
        #expect(triaged.unitId == 1 && triaged.basis == .triage)
    }

    /// A unit that takes no work (inactive) is passed over: its rules and, as a default, the unit
    /// itself; the request goes where the next rule, the default or the triage unit sends it.
    @Test func unitsThatTakeNoWorkArePassedOver() {
        let withoutSection = table.route(
            serviceTypeId: 4, area: Self.area("36.73.01.1001"), defaultUnitId: nil, triageUnitId: 1, takesWork: { $0 != 16 })
        #expect(withoutSection.unitId == 15 && withoutSection.rule?.id == 5)
        let defaultClosed = table.route(
            serviceTypeId: 2, area: Self.area("36.73.01.1001"), defaultUnitId: 11, triageUnitId: 1, takesWork: { $0 != 11 })
        #expect(defaultClosed.unitId == 1 && defaultClosed.basis == .triage)
    }

    @Test func decisionsExplainThemselves() throws {
        #expect(route(1, "36.73.02.1001").explanation(.english)
            == "Rule #3 chosen: specific to service 1, for village (kelurahan/desa) 36.73.02.1001, priority 0; it outranks rules #2, #1. Destination unit: 13.")
        #expect(route(1, "36.73.02.1001").explanation(.indonesian)
            == "Aturan #3 dipilih: khusus layanan 1, untuk kelurahan/desa 36.73.02.1001, prioritas 0; mengalahkan aturan #2, #1. Unit tujuan: 13.")
        #expect(route(2, "36.73.03.2001").explanation(.english)
            == "Rule #4 chosen: for any service, for district (kecamatan) 36.73.03, priority 0. Destination unit: 14.")
        #expect(route(2, nil, default: 11).explanation(.english) == "No rule matched; service 2's default unit 11 is used.")
        #expect(route(2, nil).explanation(.indonesian)
            == "Tidak ada aturan yang cocok dan layanan 2 tidak punya unit bawaan; permohonan masuk ke unit front office 1.")

        let decision = route(1, "36.73.02.1002")
        let event = AuditEvent.created(by: .citizen, at: Fixtures.wib("2026-03-17 09:00"), routing: decision)
        #expect(event.details.routing == decision && event.toStatus == .queued && event.fromStatus == nil)
        let stored = try JSONEncoder().encode(event.details)
        #expect(try JSONDecoder().decode(EventDetails.self, from: stored).routing == decision)
        #expect(String(decoding: stored, as: UTF8.self).contains(#""area_code":"36.73.02""#))
    }

    @Test func areaCodes() throws {
        let kelurahan = try AreaCode("36.73.01.1001")
        #expect(kelurahan.level == .village)
        #expect(kelurahan.lineage.map(\.description) == ["36.73.01.1001", "36.73.01", "36.73", "36"])
        #expect(kelurahan.parent == (try AreaCode("367301")))
        #expect(try AreaCode("3673011001") == kelurahan)
        #expect(try AreaCode("36.73").contains(kelurahan))
        #expect(!(try AreaCode("36.74").contains(kelurahan)))
        #expect(!kelurahan.contains(try AreaCode("36.73")))
    }

    @Test(arguments: [
        ("", AreaCodeError.empty),
        ("36-73-01", .invalidCharacter("-")),
        ("36.73.01.1001.5", .tooManySegments(5)),
        ("36.73.1.1001", .wrongSegmentLength(segment: 3, expected: 2, found: 1)),
        ("36.73.01.101", .wrongSegmentLength(segment: 4, expected: 4, found: 3)),
        ("367301100", .wrongLength(9)),
        ("36.00.01", .zeroSegment(segment: 2)),
        ("36..01", .wrongSegmentLength(segment: 2, expected: 2, found: 0)),
    ])
    func invalidAreaCodes(text: String, expected: AreaCodeError) {
        #expect(throws: expected) { try AreaCode(text) }
    }
}
