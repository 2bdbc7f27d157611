import Testing
@testable import LoketCore

@Suite struct EmailTests {
    @Test(arguments: [
        ("budi.santoso@gmail.com", "budi.santoso@gmail.com"),
        ("Siti+loket@SerangKota.GO.ID", "Siti+loket@serangkota.go.id"),
        ("  admin@dpmptsp.serangkota.go.id \n", "admin@dpmptsp.serangkota.go.id"),
        ("o'brien@example.co.id", "o'brien@example.co.id"),
        ("warga_123@mail-server.id", "warga_123@mail-server.id"),
        ("user@xn--p1ai.xn--p1ai", "user@xn--p1ai.xn--p1ai"),
    ])
    func acceptsAndNormalises(text: String, normalised: String) throws {
        #expect(try EmailAddress(text).description == normalised)
    }

    static let invalid: [(String, EmailAddressError)] = [
        ("", .empty),
        ("budi.santoso.gmail.com", .missingAt),
        ("budi@santoso@gmail.com", .multipleAt),
        ("@gmail.com", .emptyLocalPart),
        (String(repeating: "a", count: 65) + "@gmail.com", .localPartTooLong(65)),
        (String(repeating: "a", count: 64) + "@" + String(repeating: "b", count: 190) + ".com" as String, .tooLong(259)),
        ("budi santoso@gmail.com", .invalidLocalCharacter(" ")),
        ("bűdi@gmail.com", .invalidLocalCharacter("ű")),
        ("budi(kantor)@gmail.com", .invalidLocalCharacter("(")),
        ("budi..santoso@gmail.com", .misplacedDot),
        (".budi@gmail.com", .misplacedDot),
        ("budi.@gmail.com", .misplacedDot),
        ("budi@", .emptyDomain),
        ("budi@localhost", .domainWithoutDot("localhost")),
        ("budi@-gmail.com", .invalidDomainLabel("-gmail")),
        ("budi@gmail..com", .invalidDomainLabel("")),
        ("budi@gmail_mail.com", .invalidDomainLabel("gmail_mail")),
        ("budi@gmail.c", .invalidTopLevelDomain("c")),
        ("budi@gmail.c0m", .invalidTopLevelDomain("c0m")),
    ]

    @Test(arguments: invalid)
    func invalidAddressesGiveThePreciseReason(text: String, expected: EmailAddressError) {
        #expect(throws: expected) { try EmailAddress(text) }
        #expect(!expected.message(.indonesian).isEmpty)
    }
}
