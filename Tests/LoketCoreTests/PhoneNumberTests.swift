import Foundation
import Testing
@testable import LoketCore

@Suite struct PhoneNumberTests {
    @Test(arguments: [
        ("0812-3456-7890", "+6281234567890", PhoneNumber.Kind.mobile),
        ("+62 812 3456 7890", "+6281234567890", .mobile),
        ("62 812.3456.7890", "+6281234567890", .mobile),
        ("+62 (0)812 3456 7890", "+6281234567890", .mobile),
        ("0811 1234 567", "+628111234567", .mobile),
        ("0895-1234-5678", "+6289512345678", .mobile),
        ("0812345678", "+62812345678", .mobile),
        ("0858 1234 5678 9", "+62858123456789", .mobile),
        ("(0254) 123456", "+62254123456", .landline),
        ("021-5551234", "+62215551234", .landline),
        ("021 2345 6789", "+622123456789", .landline),
        ("0911-312345", "+62911312345", .landline),
    ])
    func normalisesToE164(text: String, e164: String, kind: PhoneNumber.Kind) throws {
        let number = try PhoneNumber(text)
        #expect(number.e164 == e164)
        #expect(number.kind == kind)
    }

    @Test(arguments: [
        ("", PhoneNumberError.empty),
        ("   ", .empty),
        ("0812-3456-789O", .invalidCharacter("O")),
        ("+6281234567890+", .invalidCharacter("+")),
        ("+1 202 555 0100", .notIndonesian),
        ("+65 6123 4567", .notIndonesian),
        ("812-3456-7890", .missingPrefix),
        ("0062 812 3456 7890", .internationalPrefix),
        ("0842 1234 5678", .unknownMobilePrefix("084")),
        ("0800 123 4567", .unknownMobilePrefix("080")),
        ("0123 456789", .invalidAreaCode("123")),
        ("+62", .tooShort(found: 0, minimum: 8)),
        ("08", .tooShort(found: 1, minimum: 9)),
        ("0812 345 67", .tooShort(found: 8, minimum: 9)),
        ("0812 3456 7890 12", .tooLong(found: 13, maximum: 12)),
        ("021 1234", .tooShort(found: 6, minimum: 8)),
        ("0254 1234 5678 9", .tooLong(found: 12, maximum: 11)),
    ])
    func invalidNumbersGiveThePreciseReason(text: String, expected: PhoneNumberError) {
        #expect(throws: expected) { try PhoneNumber(text) }
        #expect(!expected.message(.indonesian).isEmpty)
    }

    @Test func travelsAsE164() throws {
        let json = try JSONEncoder().encode([try PhoneNumber("0812-3456-7890")])
        #expect(String(decoding: json, as: UTF8.self) == #"["+6281234567890"]"#)
        #expect(try JSONDecoder().decode([PhoneNumber].self, from: json).first?.kind == .mobile)
    }
}
