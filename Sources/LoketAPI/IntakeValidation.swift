import Foundation
import LoketCore
import LoketStore

/// An answer to a service attribute as it arrived: one value or several.
enum AttributeAnswer: Sendable, Equatable, Codable {
    case single(String)
    case multiple([String])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .single(text)
        } else if let number = try? container.decode(Double.self) {
            self = .single(number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number))
        } else if let list = try? container.decode([String].self) {
            self = .multiple(list)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "an attribute is a string, a number or a list of strings")
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .single(let value): try container.encode(value)
        case .multiple(let values): try container.encode(values)
        }
    }
}

/// The raw fields of a new request, from the JSON API or from an Open311 form.
struct IntakeFields {
    var serviceCode: String?
    var name: String?
    var nik: String?
    var phone: String?
    var email: String?
    var areaCode: String?
    var address: String?
    var latitude: Double?
    var longitude: Double?
    var description: String?
    var mediaURL: String?
    var attributes: [String: AttributeAnswer] = [:]
}

/// Turns raw fields into a `NewRequest`, or every problem found, each naming its field.
struct IntakeValidator {
    /// Field names as the client sent them (the JSON API nests citizen fields, Open311 does not).
    struct FieldNames {
        var serviceCode = "service_code"
        var name = "citizen.name"
        var nik = "citizen.nik"
        var phone = "citizen.phone"
        var email = "citizen.email"
        var contact = "citizen"
        var areaCode = "area_code"
        var address = "address"
        var latitude = "latitude"
        var longitude = "longitude"
        var location = "location"
        var description = "description"
        var mediaURL = "media_url"
        var attributes = "attributes"
        /// Open311 names an answer `attribute[CODE]`, as its form does; the JSON API `attributes.CODE`.
        var attributesInBrackets = false

        func attribute(_ code: String) -> String {
            attributesInBrackets ? "\(attributes)[\(code)]" : "\(attributes).\(code)"
        }
    }

    let catalog: CatalogSnapshot
    let today: LocalDate
    var names = FieldNames()
    /// Open311 partners file without NIK and name; the web API requires both.
    var requireIdentity = true
    /// The web API requires a phone number or an e-mail address, so that officers can reach the
    /// citizen; GeoReport v2 makes both optional (the partner's app keeps in touch with its user).
    var requireContact = true

    func validate(_ fields: IntakeFields, source: NewRequest.Source, partnerID: PartnerID?) -> Result<NewRequest, APIError> {
        var problems: [FieldProblem] = []
        func text(_ value: String?, _ field: String, max: Int, required: Bool = false) -> String? {
            // The length is counted as sent (a CR LF is two characters, as openapi.yaml's patterns
            // count them), the text stored with its line breaks as LF.
            let trimmed = value?.trimmingWhitespace()
            guard let trimmed, !trimmed.isEmpty else {
                if required { problems.append(.missing(field)) }
                return nil
            }
            // Counted in Unicode scalars, as PostgreSQL's char_length and JSON Schema's maxLength
            // count: "é" written as e + U+0301 is one Character but two scalars.
            if trimmed.unicodeScalars.count > max {
                problems.append(.invalid(field, code: "too_long", id: "paling banyak \(max) karakter", en: "at most \(max) characters"))
                return nil
            }
            let text = trimmed.normalizingLineBreaks()
            if text.containsControlCharacters() {
                problems.append(.invalid(field, code: "control_characters", id: "berisi karakter kendali", en: "contains control characters"))
                return nil
            }
            return text
        }

        var service: ServiceType?
        if let code = text(fields.serviceCode, names.serviceCode, max: 64, required: true) {
            service = catalog.servicesByCode[code]
            if service == nil {
                problems.append(FieldProblem(field: names.serviceCode, code: "unknown_service", message: LocalizedText(
                    id: "\(names.serviceCode): layanan \"\(code)\" tidak ada atau tidak aktif",
                    en: "\(names.serviceCode): there is no active service \"\(code)\"")))
            }
        }
        let name = text(fields.name, names.name, max: 200, required: requireIdentity)
        var nik: NIK?
        if let raw = text(fields.nik, names.nik, max: 32, required: requireIdentity) {
            do { nik = try NIK(raw, today: today) } catch { problems.append(.invalid(names.nik, error)) }
        }
        var phone: PhoneNumber?
        if let raw = text(fields.phone, names.phone, max: 32) {
            do { phone = try PhoneNumber(raw) } catch { problems.append(.invalid(names.phone, error)) }
        }
        var email: EmailAddress?
        if let raw = text(fields.email, names.email, max: 254) {
            do { email = try EmailAddress(raw) } catch { problems.append(.invalid(names.email, error)) }
        }
        // Blank counts as not given, here as in `text`: a phone or e-mail of white space alone would
        // otherwise pass this check and store a request nobody can reach.
        func given(_ value: String?) -> Bool { value?.trimmingWhitespace().isEmpty == false }
        if requireContact, !given(fields.phone), !given(fields.email) {
            problems.append(FieldProblem(field: names.contact, code: "contact_required", message: LocalizedText(
                id: "Isi nomor telepon atau alamat e-mail agar petugas dapat menghubungi Anda.",
                en: "Give a phone number or an e-mail address so that officers can reach you.")))
        }
        var area: AreaCode?
        if let raw = text(fields.areaCode, names.areaCode, max: 20) {
            do {
                let code = try AreaCode(raw)
                if catalog.areaNames[code.description] != nil {
                    area = code
                } else {
                    problems.append(.invalid(names.areaCode, code: "unknown_area", id: "wilayah \(raw) tidak dikenal", en: "unknown area \(raw)"))
                }
            } catch {
                problems.append(.invalid(names.areaCode, error))
            }
        }
        let address = text(fields.address, names.address, max: 500)
        switch (fields.latitude, fields.longitude) {
        case (nil, nil): break
        case (let latitude?, let longitude?):
            if !(-90...90).contains(latitude) || !latitude.isFinite {
                problems.append(.invalid(names.latitude, code: "out_of_range", id: "harus antara -90 dan 90", en: "must be between -90 and 90"))
            }
            if !(-180...180).contains(longitude) || !longitude.isFinite {
                problems.append(.invalid(names.longitude, code: "out_of_range", id: "harus antara -180 dan 180", en: "must be between -180 and 180"))
            }
        default:
            problems.append(.invalid(names.location, code: "coordinates_incomplete", id: "lintang dan bujur harus diisi bersama", en: "latitude and longitude go together"))
        }
        if area == nil, address == nil, fields.latitude == nil, !given(fields.areaCode), !given(fields.address) {
            problems.append(FieldProblem(field: names.location, code: "location_required", message: LocalizedText(
                id: "Isi kode wilayah (kelurahan/kecamatan), alamat, atau koordinat.",
                en: "Give an area code (kelurahan/kecamatan), an address or coordinates.")))
        }
        let description = text(fields.description, names.description, max: 4000)
        var mediaURL: String?
        if let raw = text(fields.mediaURL, names.mediaURL, max: 2048) {
            if let url = URL(string: raw), let scheme = url.scheme, ["http", "https"].contains(scheme.lowercased()), url.host != nil {
                // Schemes are case-insensitive (RFC 3986); stored in their lower-case, canonical form.
                mediaURL = scheme.lowercased() + raw.dropFirst(scheme.count)
            } else {
                problems.append(.invalid(names.mediaURL, code: "invalid_url", id: "bukan URL http(s)", en: "not an http(s) URL"))
            }
        }
        var answers: [String: AttributeAnswer] = [:]
        if let service {
            answers = validateAttributes(fields.attributes, of: service, problems: &problems)
        }
        guard problems.isEmpty, let service else { return .failure(.validation(problems)) }
        let attributesJSON = String(decoding: AttributeAnswer.json(answers), as: UTF8.self)
        return .success(NewRequest(
            service: service, citizenName: name, nik: nik, phone: phone, email: email, area: area, address: address,
            latitude: fields.latitude, longitude: fields.longitude, description: description, mediaURL: mediaURL,
            attributesJSON: attributesJSON, source: source, partnerID: partnerID))
    }

    private func validateAttributes(
        _ given: [String: AttributeAnswer], of service: ServiceType, problems: inout [FieldProblem]
    ) -> [String: AttributeAnswer] {
        let definitions = Dictionary(uniqueKeysWithValues: service.attributes.map { ($0.code, $0) })
        var accepted: [String: AttributeAnswer] = [:]
        for code in given.keys.sorted() where definitions[code] == nil {
            problems.append(.invalid(names.attribute(code), code: "unknown_attribute",
                id: "layanan ini tidak memiliki atribut \(code)", en: "this service has no attribute \(code)"))
        }
        for definition in service.attributes {
            let field = names.attribute(definition.code)
            guard let answer = given[definition.code] else {
                if definition.required { problems.append(.missing(field)) }
                continue
            }
            // Trimmed like every free text (docs/api.md): a number or an instant is read, a choice
            // matched and a text stored without white space around it.
            let values: [String]
            switch answer {
            case .single(let value): values = [value.normalizingLineBreaks().trimmingWhitespace()]
            case .multiple(let list): values = list.map { $0.normalizingLineBreaks().trimmingWhitespace() }
            }
            if values.isEmpty || values.allSatisfy(\.isEmpty) {
                if definition.required { problems.append(.missing(field)) }
                continue
            }
            // NUL cannot be stored in jsonb, and no other control character belongs in an answer.
            if values.contains(where: { $0.containsControlCharacters() }) {
                problems.append(.invalid(field, code: "control_characters", id: "berisi karakter kendali", en: "contains control characters"))
                continue
            }
            switch definition.datatype {
            case "number":
                // A finite number: Double also reads "nan", "inf" and "1e999" (infinity).
                guard values.count == 1, let number = Double(values[0]), number.isFinite else {
                    problems.append(.invalid(field, code: "not_a_number", id: "harus berupa angka", en: "must be a number"))
                    continue
                }
            case "datetime":
                guard values.count == 1, RFC3339.date(from: values[0]) != nil else {
                    problems.append(.invalid(field, code: "not_a_datetime", id: "harus berupa waktu ISO 8601 dengan zona", en: "must be an ISO 8601 instant with a zone"))
                    continue
                }
            case "singlevaluelist", "multivaluelist":
                let keys = Set(definition.values.map(\.key))
                if definition.datatype == "singlevaluelist", values.count != 1 {
                    problems.append(.invalid(field, code: "single_value_expected", id: "pilih tepat satu nilai", en: "choose exactly one value"))
                    continue
                }
                if let bad = values.first(where: { !keys.contains($0) }) {
                    problems.append(.invalid(field, code: "invalid_choice",
                        id: "\"\(bad)\" bukan pilihan yang sah (\(keys.sorted().joined(separator: ", ")))",
                        en: "\"\(bad)\" is not a valid choice (\(keys.sorted().joined(separator: ", ")))"))
                    continue
                }
            default:
                // Counted in Unicode scalars, as every other field (and JSON Schema's maxLength).
                guard values.count == 1, values[0].unicodeScalars.count <= 1000 else {
                    problems.append(.invalid(field, code: "invalid_text", id: "satu teks, paling banyak 1000 karakter", en: "one text of at most 1000 characters"))
                    continue
                }
            }
            accepted[definition.code] = definition.datatype == "multivaluelist" ? .multiple(values) : .single(values[0])
        }
        return accepted
    }
}

extension LocalDate {
    /// Today's date in a time zone.
    static func today(in timeZone: String, now: Date) -> LocalDate {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: timeZone) ?? .gmt
        let parts = calendar.dateComponents([.year, .month, .day], from: now)
        return (try? LocalDate(year: parts.year!, month: parts.month!, day: parts.day!))!
    }
}
