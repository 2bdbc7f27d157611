import Testing
@testable import LoketCore

@Suite struct NIPTests {
    let today = Fixtures.date("2026-03-17")

    @Test func readsBirthAppointmentSexAndSerial() throws {
        let nip = try NIP("198503122010011003", today: today)
        #expect(nip.birthDate == Fixtures.date("1985-03-12"))
        #expect(nip.appointmentYear == 2010 && nip.appointmentMonth == 1)
        #expect(nip.sex == .male && nip.serial == 3)
        let spaced = try NIP("19900715 201503 2 001", today: today)
        #expect(spaced.sex == .female && spaced.digits == "199007152015032001")
        #expect(throws: Never.self) { try NIP("199503122013031003", today: today) }
        #expect(throws: Never.self) { try NIP("200001012026031001", today: today) }
    }

    @Test(arguments: [
        ("", NIPError.empty),
        ("19850312-201001-1-003", .nonDigit(position: 9, character: "-")),
        ("19850312201001100", .wrongLength(17)),
        ("198502302010011003", .invalidBirthDate("19850230")),
        ("189901012010011003", .invalidBirthDate("18990101")),
        ("202712012010011003", .birthDateInFuture("20271201")),
        ("198503122010131003", .invalidAppointmentDate("201013")),
        ("198503122010001003", .invalidAppointmentDate("201000")),
        ("198503122027011003", .appointmentInFuture(year: 2027, month: 1)),
        ("198503122026041003", .appointmentInFuture(year: 2026, month: 4)),
        ("199503122012011003", .appointmentBeforeAge18(year: 2012, month: 1)),
        ("199503122013021003", .appointmentBeforeAge18(year: 2013, month: 2)),
        ("198503122010013003", .invalidSexDigit("3")),
        ("198503122010010003", .invalidSexDigit("0")),
        ("198503122010011000", .zeroSerial),
    ])
    func invalidNumbersGiveThePreciseReason(text: String, expected: NIPError) {
        #expect(throws: expected) { try NIP(text, today: today) }
        #expect(!expected.message(.indonesian).isEmpty && !expected.code.isEmpty)
    }
}
