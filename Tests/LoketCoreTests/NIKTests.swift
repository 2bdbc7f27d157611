import Testing
@testable import LoketCore

@Suite struct NIKTests {
    let today = Fixtures.date("2026-03-17")

    @Test func readsRegionBirthDateSexAndSerial() throws {
        let man = try NIK("3673011203850001", today: today)
        #expect(man.region.description == "36.73.01")
        #expect(man.birthDate == Fixtures.date("1985-03-12"))
        #expect(man.sex == .male)
        #expect(man.serial == 1)

        let woman = try NIK("3673 0152 0385 0002", today: today)
        #expect(woman.sex == .female && woman.birthDate == Fixtures.date("1985-03-12"))
        #expect(woman.digits == "3673015203850002")
        #expect(try NIK("3673016902000001", today: today).birthDate == Fixtures.date("2000-02-29"), "a leap day, for a woman")
    }

    @Test func theCenturyIsTheMostRecentOneNotInTheFuture() throws {
        #expect(try NIK("3673010101050003", today: today).birthDate == Fixtures.date("2005-01-01"))
        #expect(try NIK("3673014102250004", today: today).birthDate == Fixtures.date("2025-02-01"))
        #expect(try NIK("3673010101300005", today: today).birthDate == Fixtures.date("1930-01-01"))
        #expect(try NIK("3673011503260006", today: today).birthDate == Fixtures.date("2026-03-15"))
        #expect(try NIK("3673011512260007", today: today).birthDate == Fixtures.date("1926-12-15"))
    }

    @Test(arguments: [
        ("", NIKError.empty),
        ("36730112038500O1", .nonDigit(position: 15, character: "O")),
        ("3673-0112-0385-0001", .nonDigit(position: 5, character: "-")),
        ("367301120385001", .wrongLength(15)),
        ("36730112038500011", .wrongLength(17)),
        ("2073011203850001", .invalidProvinceCode("20")),
        ("9973011203850001", .invalidProvinceCode("99")),
        ("3600011203850001", .invalidRegencyCode("00")),
        ("3673001203850001", .invalidDistrictCode("00")),
        ("3673010003850001", .invalidBirthDay(0)),
        ("3673013503850001", .invalidBirthDay(35)),
        ("3673017203850001", .invalidBirthDay(72)),
        ("3673011213850001", .invalidBirthMonth(13)),
        ("3673011200850001", .invalidBirthMonth(0)),
        ("3673013104850001", .invalidBirthDate("310485")),
        ("3673012902010001", .invalidBirthDate("290201")),
        ("3673011203850000", .zeroSerial),
    ])
    func invalidNumbersGiveThePreciseReason(text: String, expected: NIKError) {
        #expect(throws: expected) { try NIK(text, today: today) }
        #expect(!expected.message(.indonesian).isEmpty && !expected.code.isEmpty)
    }
}
