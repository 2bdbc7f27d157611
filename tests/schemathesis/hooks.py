"""Schemathesis hooks for Loket (loaded by run.sh through SCHEMATHESIS_HOOKS).

Random data alone stops at the first gate of most routes (an unknown tracking code, no token, an
invalid NIK), so these hooks steer part of the calls past it, so that the answers behind it are
checked against the document too:

- every call comes from another client address (X-Forwarded-For; the server under test runs with
  --trust-forwarded-for), so the per-client POST rate limit does not turn the run into 429s;
- half of the calls to a route with a tracking code use one of the requests run.sh filed before
  the run (LOKET_FUZZ_REQUESTS: "CODE TOKEN DOCUMENT_ID UNIT" lines), with its access token on
  citizen routes, and one of its documents on document routes;
- staff routes mostly get a real staff token (LOKET_FUZZ_STAFF_TOKEN, a supervisor of the unit the
  filed requests went to), manager routes a manager's (LOKET_FUZZ_MANAGER_TOKEN), and so does most
  of the recording of a citizen's answer (the supervisor asked the questions, and whoever asked may
  not record the answer: with their token it would only ever be refused); Open311 filings
  mostly get a real partner key (LOKET_FUZZ_API_KEY). A coverage case that leaves out the
  Authorization header on purpose is sent without one;
- a third of the filings (JSON and Open311) are replaced by valid ones with a fresh NIK, so that the
  201/200 answers and the duplicate rule are exercised; requests filed that way join the pool;
- a third of the document uploads send a real (tiny) PDF or PNG, some transfers name a real unit,
  and half of the valid tracking-page forms carry a filed request's code and token;
- the actions that close a request (cancel, resolve, reject) only use the first filed requests, so
  that the others stay open for documents, questions and replies;
- some text fields get a NUL or another control character in the middle (PostgreSQL text cannot
  hold NUL, so each text must be checked before it reaches SQL; random strings rarely carry one).

A case that is valid for the document (positive) must be accepted, so what a JSON schema cannot
say is settled on it from the catalog and the state of the run (LOKET_FUZZ_UNITS, _STAFF_UNITS,
_MANAGER_UNITS, _OFFICERS, _AREAS and _SERVICES, from run.sh), like the tracking codes above: a
unit filter names a real unit; a filing names a real service with valid answers to its attributes
and, when it gives an area code, one of the city's; a transfer names a unit other than the
request's own and an assignment an officer of the request's unit; a period that breaks the rules
between its two ends (`from` after `to`, more than ten years, an Open311 window over 90 days) is
dropped; a valid Idempotency-Key is made particular to the body (the same key with another body is
a refusal by design); an upload carries a real PDF or PNG. A value the document refuses is left as
it is (it is a negative case's violation), and a body is replaced only when no other part of the
case is invalid. Everything else stays as generated. Schemathesis revalidates a case after these
hooks, so a change that makes it invalid (a control character in a text) makes it a negative
case, which the server must refuse; the hooks have it judge the body they send even when it did
not generate one.

Every change is made on the case itself, so the reproduction that schemathesis prints is exact.
"""
import calendar
import datetime
import hashlib
import json
import os
import random
import re

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.generation.meta import ComponentInfo

_FILED = [line.split() for line in os.environ.get("LOKET_FUZZ_REQUESTS", "").splitlines() if line.strip()]
_CLOSING = ("/cancel", "/resolve", "/reject")
_PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
_PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4e90000000049454e44ae426082")
_STAFF_TOKEN = os.environ.get("LOKET_FUZZ_STAFF_TOKEN", "")
_MANAGER_TOKEN = os.environ.get("LOKET_FUZZ_MANAGER_TOKEN", "")
_API_KEY = os.environ.get("LOKET_FUZZ_API_KEY", "")
_random = random.Random(int(os.environ.get("LOKET_FUZZ_SEED", "0")) or None)


def _lines(name):
    return [line.split() for line in os.environ.get(name, "").splitlines() if line.strip()]


# The catalog as run.sh read it: every unit, the units under each token, the officers by unit,
# the city's areas and the services with their attributes (GET /api/v1/services).
_UNITS = [fields[0] for fields in _lines("LOKET_FUZZ_UNITS")]
_STAFF_UNITS = [fields[0] for fields in _lines("LOKET_FUZZ_STAFF_UNITS")] or _UNITS
_MANAGER_UNITS = [fields[0] for fields in _lines("LOKET_FUZZ_MANAGER_UNITS")] or _UNITS
_OFFICERS = {}
for _unit, _nip in _lines("LOKET_FUZZ_OFFICERS"):
    _OFFICERS.setdefault(_unit, []).append(_nip)
_AREAS = [fields[0] for fields in _lines("LOKET_FUZZ_AREAS")] or ["36.73.01.1001"]
_SERVICES = []
if os.environ.get("LOKET_FUZZ_SERVICES"):
    with open(os.environ["LOKET_FUZZ_SERVICES"], encoding="utf-8") as _file:
        _SERVICES = json.load(_file)["services"]
# The unit each known request is in now (filings, transfers and every answer that shows it).
_UNIT_OF = {fields[0]: fields[3] for fields in _FILED if len(fields) > 3}
_JAKARTA = datetime.timezone(datetime.timedelta(hours=7))
# The document's own patterns for the values settled below (a value that does not match them is a
# negative case's violation and stays as it is).
_UNIT_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$")
# As openapi.yaml's StaffAssignBody: 18 digits, or the decree's four groups separated by spaces.
_NIP_PATTERN = re.compile(r"^[0-9]{8} ?[0-9]{6} ?[0-9] ?[0-9]{3}$")
_DATE_PATTERN = re.compile(r"^(?:19[0-9]{2}|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}$")
_DATETIME_PATTERN = re.compile(r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
                               r"(?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)$")
_IDEMPOTENCY_PATTERN = re.compile(r"^[!-~]{1,255}$")
_PERIOD_PATHS = ("/api/v1/manager/reports", "/api/v1/public/transparency", "/api/v1/public/transparency.csv", "/transparansi")


def _nik():
    return "367301%02d%02d%02d%04d" % (
        _random.randint(1, 28), _random.randint(1, 12), _random.randint(50, 99), _random.randint(1, 9999))


def _valid_filing():
    body = {
        "service_code": "kk-baru",
        "citizen": {"name": "Warga Uji", "nik": _nik(), "phone": "0812-3456-7890", "email": "warga@example.id"},
        "area_code": "36.73.01.1001",
        "address": "Jl. Ki Mas Jong No. 5",
        "description": "Permohonan KK baru",
        "attributes": {"alasan": _random.choice(["keluarga_baru", "pisah_kk", "perubahan_data", "hilang_rusak"])},
    }
    if _random.random() < 0.3:
        # A service with a free-text attribute.
        body["service_code"] = "ktp-el"
        body["description"] = "Permohonan KTP-el"
        body["attributes"] = {"jenis_permohonan": "hilang", "nomor_kk": "3673010101090001"}
    return body


def _valid_open311_filing():
    return {
        "api_key": _API_KEY,
        "service_code": "akta-kelahiran",
        "lat": "-6.1204",
        "long": "106.1503",
        "email": "warga@example.id",
        "description": "Pencatatan kelahiran",
        "account_id": str(_random.randint(1, 10**6)),
    }


def _answer(attribute):
    """A valid answer to one attribute of the catalog: a list for a multivaluelist, else one value."""
    keys = [value["key"] for value in attribute.get("values", [])]
    datatype = attribute["datatype"]
    if datatype == "multivaluelist":
        return _random.sample(keys, _random.randint(1, len(keys))) if keys else []
    if datatype == "singlevaluelist":
        return _random.choice(keys)
    if datatype == "number":
        return _random.choice(["12", "7.5", "120"])
    if datatype == "datetime":
        return "2026-12-01T09:00:00+07:00"
    return _random.choice(["Contoh jawaban", "Baris satu\nbaris dua"])


def _answers(service):
    """Answers to every required attribute of `service` and to about half of the others."""
    return {attribute["code"]: _answer(attribute) for attribute in service.get("attributes", [])
            if attribute["required"] or _random.random() < 0.5}


def _is_blank(value):
    return not isinstance(value, str) or not value.strip()


def _coverage(case):
    """The coverage scenario and parameter of the case, if it comes from the coverage phase."""
    meta = case.meta
    data = meta.phase.data if meta is not None else None
    return getattr(data, "scenario", None), (getattr(data, "parameter", None) or "")


def _today():
    return datetime.datetime.now(_JAKARTA).date()


def _period_is_valid(query):
    """ManagerController.period's rules between `from` and `to` (each already a valid date)."""
    today = _today()
    try:
        last = datetime.date.fromisoformat(query["to"]) if not _is_blank(query.get("to")) else today
        if not _is_blank(query.get("from")):
            first = datetime.date.fromisoformat(query["from"])
        else:
            month = datetime.date(today.year + (today.month == 12), today.month % 12 + 1, 1)
            first = datetime.date(month.year - 1, month.month, 1)
    except (ValueError, OverflowError):
        return False  # e.g. year 0000, which the server reads but Python cannot
    end = last + datetime.timedelta(days=1)
    return first < end and (end - first).days <= 3700


def _existing_day(text):
    """An RFC 3339 date-time whose day does not exist in its month (3167-11-31) names no instant,
    and the server refuses it (400), but schemathesis's date-time format lets it through: the day
    is settled to the month's last."""
    match = re.match(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})([Tt].*)$", text)
    if not match:
        return text
    year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    last = calendar.monthrange(year, month)[1] if year > 0 else (29 if month == 2 else calendar.monthrange(2000, month)[1])
    return f"{match.group(1)}-{match.group(2)}-{last:02d}{match.group(4)}" if day > last else text


def _instant(text):
    text = text.strip().replace(" ", "+").replace("t", "T").replace("z", "Z")
    match = re.match(r"^(.*[+-][0-9]{2})([0-9]{2})?$", text)
    if match and ":" not in match.group(1)[-6:]:
        text = match.group(1) + ":" + (match.group(2) or "00")  # ±hhmm and ±hh as ±hh:mm
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        return None


@schemathesis.hook
def before_call(context, case, kwargs):
    # Judge the case as it goes on the wire: schemathesis revalidates what a hook touches, and a
    # value generated as a type mismatch (an integer `sort`) is often valid once it is text.
    case.query = dict(case.query or {})
    case.path_parameters = dict(case.path_parameters or {})
    case.headers = dict(case.headers or {})
    meta = case.meta
    positive = meta is not None and meta.generation.mode.is_positive
    # A body may be replaced only when no other part of the case is the violation it is about.
    negative_elsewhere = meta is not None and any(
        info.mode.is_negative for location, info in meta.components.items() if location != ParameterLocation.BODY)
    scenario, parameter = _coverage(case)
    # The coverage phase leaves the Authorization header out on purpose: a 401 is the point.
    keep_unauthenticated = scenario == "missing_parameter" and parameter.lower() in ("authorization", "x-access-token")
    body_before = case.body

    headers = dict(case.headers or {})
    headers["X-Forwarded-For"] = "10.%d.%d.%d" % (_random.randrange(256), _random.randrange(256), _random.randrange(1, 255))
    path = case.path
    parameters = dict(case.path_parameters)
    staff = path.startswith("/api/v1/staff/")
    manager = path.startswith("/api/v1/manager/")

    if _FILED and _random.random() < 0.5:
        pool = _FILED[:2] if path.endswith(_CLOSING) else _FILED
        code, token, document = _random.choice(pool)[:3]
        for name in ("code", "service_request_id", "token"):
            if name in parameters:
                parameters[name] = code
        if "id" in parameters and document != "-" and _random.random() < 0.7:
            parameters["id"] = int(document)
        if path.startswith("/api/v1/requests/") and _random.random() < 0.9 and not keep_unauthenticated:
            headers["Authorization"] = "Bearer " + token
        case.path_parameters = parameters
    if not keep_unauthenticated:
        if staff and _STAFF_TOKEN and _random.random() < 0.9:
            headers["Authorization"] = "Bearer " + _STAFF_TOKEN
            if path == "/api/v1/staff/requests/{code}/reply" and _MANAGER_TOKEN and _random.random() < 0.7:
                headers["Authorization"] = "Bearer " + _MANAGER_TOKEN
        if manager and _MANAGER_TOKEN and _random.random() < 0.9:
            headers["Authorization"] = "Bearer " + _MANAGER_TOKEN

    _settle_query(case, path, staff, manager)
    replace = not negative_elsewhere

    if case.method.upper() == "POST":
        here = _UNIT_OF.get(parameters.get("code") or "")
        if path == "/api/v1/requests" and replace and _random.random() < 0.33:
            case.body = _valid_filing()
            headers["Content-Type"] = "application/json"
            case.media_type = "application/json"
        elif path == "/api/v1/requests" and positive and isinstance(case.body, dict) and _SERVICES:
            case.body = _settled_filing(case.body)
        elif path == "/api/v1/requests/{code}/documents" and replace and (positive or _random.random() < 0.33):
            pdf = _random.random() < 0.5
            case.body = _PDF if pdf else _PNG
            # Schemathesis serialises raw bytes only as application/octet-stream; the server judges
            # a document by its content anyway.
            case.media_type = "application/octet-stream"
            headers["Content-Type"] = "application/octet-stream"
        elif path == "/api/v1/staff/requests/{code}/transfer":
            targets = [unit for unit in (_UNITS or ["DISDUKCAPIL-PDP", "DISDUKCAPIL-IDP", "MPP-FO"]) if unit != here]
            if isinstance(case.body, dict) and _matches(_UNIT_PATTERN, case.body.get("unit")):
                case.body = {**case.body, "unit": _random.choice(targets)}
            elif replace and _random.random() < 0.3:
                case.body = {"unit": _random.choice(targets), "reason": "Salah unit"}
                case.media_type = "application/json"
                headers["Content-Type"] = "application/json"
        elif path == "/api/v1/staff/requests/{code}/assign" and _OFFICERS:
            if isinstance(case.body, dict) and _matches(_NIP_PATTERN, case.body.get("nip")):
                officers = _OFFICERS.get(here) or [nip for nips in _OFFICERS.values() for nip in nips]
                nip = _random.choice(officers)
                if _random.random() < 0.3:
                    nip = " ".join((nip[:8], nip[8:14], nip[14:15], nip[15:]))
                case.body = {**case.body, "nip": nip}
        elif path == "/lacak" and _FILED and positive and _random.random() < 0.5:
            code, token = _random.choice(_FILED)[:2]
            case.body = {"tracking_code": code, "access_token": token if _random.random() < 0.8 else token[::-1]}
            case.media_type = "application/x-www-form-urlencoded"
        elif path == "/open311/v2/requests.{format}" and _API_KEY:
            if replace and _random.random() < 0.33:
                case.body = _valid_open311_filing()
                case.media_type = "application/x-www-form-urlencoded"
            elif isinstance(case.body, dict) and positive and _SERVICES:
                case.body = _settled_open311_filing(case.body)
            elif isinstance(case.body, dict) and _random.random() < 0.7:
                case.body = {**case.body, "api_key": _API_KEY}
    if isinstance(case.body, dict) and case.body and _random.random() < 0.15:
        case.body = _with_control_character(case.body)
    if path == "/open311/v2/requests.{format}":
        # After the control character, which may land in the body's api_key: the document says two
        # different keys are a 400, a rule across query and body no schema can state.
        _settle_api_key(case)
    _settle_idempotency_key(case, headers)
    case.headers = headers
    if case.body is not body_before and meta is not None and ParameterLocation.BODY not in meta.components:
        # Schemathesis judges only the parts it generated; make it judge the body sent instead.
        meta.components[ParameterLocation.BODY] = ComponentInfo(mode=GenerationMode.POSITIVE)
        meta.update_validated_hash(ParameterLocation.BODY, 0)
        meta.mark_dirty(ParameterLocation.BODY)


def _matches(pattern, value):
    return isinstance(value, str) and pattern.search(value) is not None


def _settle_query(case, path, staff, manager):
    """Query values the document allows but only the catalog and the clock can judge, settled:
    a unit code names a real unit, and a period that breaks the rules between its ends is dropped."""
    query = dict(case.query or {})
    changed = False
    if (staff or manager) and _matches(_UNIT_PATTERN, query.get("unit")):
        units = _MANAGER_UNITS if manager else _STAFF_UNITS
        query["unit"] = _random.choice(units if _random.random() < 0.8 else _UNITS or units)
        changed = True
    if path in _PERIOD_PATHS and all(_is_blank(query.get(name)) or _matches(_DATE_PATTERN, query.get(name)) for name in ("from", "to")):
        if not (_is_blank(query.get("from")) and _is_blank(query.get("to"))) and not _period_is_valid(query):
            query.pop("from", None)
            query.pop("to", None)
            changed = True
    if path == "/open311/v2/requests.{format}":
        for name in ("start_date", "end_date"):
            if _matches(_DATETIME_PATTERN, query.get(name)) and _existing_day(query[name]) != query[name]:
                query[name] = _existing_day(query[name])
                changed = True
    if path == "/open311/v2/requests.{format}" and _matches(_DATETIME_PATTERN, query.get("start_date")) \
            and _matches(_DATETIME_PATTERN, query.get("end_date")):
        start, end = _instant(query["start_date"]), _instant(query["end_date"])
        if start is None or end is None or end < start or (end - start).total_seconds() > 90 * 24 * 3600:
            query.pop("end_date")
            changed = True
    if changed:
        case.query = query


def _settle_idempotency_key(case, headers):
    """A valid Idempotency-Key made particular to the body: the same key with another body is a
    refusal by design (422 or 400), and generated keys repeat across unrelated cases. The same
    body still replays."""
    name = next((key for key in headers if key.lower() == "idempotency-key"), None)
    if name is None or not _matches(_IDEMPOTENCY_PATTERN, headers[name]):
        return
    body = case.body
    if isinstance(body, (bytes, bytearray)):
        text = bytes(body).hex()
    else:
        text = json.dumps(body, sort_keys=True, default=str)
    digest = hashlib.sha256((case.formatted_path + "\n" + text).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    headers[name] = headers[name][:200] + "." + digest


def _settled_filing(body):
    """A positive JSON filing with a real service, valid answers to its attributes and a real area."""
    body = dict(body)
    service = _random.choice(_SERVICES)
    body["service_code"] = service["code"]
    body["attributes"] = _answers(service)
    if not _is_blank(body.get("area_code")):
        body["area_code"] = _random.choice(_AREAS)
    return body


def _settled_open311_filing(body):
    """A positive Open311 form with a real service, its attributes, a real area and (mostly) the real key."""
    body = {name: value for name, value in body.items() if not str(name).startswith("attribute[")}
    service = _random.choice(_SERVICES)
    body["service_code"] = service["code"]
    for name, answer in _answers(service).items():
        if isinstance(answer, list):
            # A form made from a mapping cannot repeat a name, so one key of a multivaluelist.
            body["attribute[%s][]" % name] = answer[0]
        else:
            body["attribute[%s]" % name] = answer
    if not _is_blank(body.get("address_id")):
        body["address_id"] = _random.choice(_AREAS)
    if _random.random() < 0.9:
        body["api_key"] = _API_KEY
    return body


def _settle_api_key(case):
    """The key in the query string and the one in the form must not disagree (a 400 otherwise)."""
    query = dict(case.query or {})
    body = case.body if isinstance(case.body, dict) else {}
    given = query.get("api_key"), body.get("api_key")
    if all(isinstance(key, str) and key.strip() and "\x00" not in key for key in given) and given[0] != given[1]:
        query["api_key"] = given[1]
        case.query = query


def _with_control_character(body):
    """The body with one string value (top level or one level down) given a NUL or an ESC."""
    body = {key: (dict(value) if isinstance(value, dict) else value) for key, value in body.items()}
    slots = [(body, key) for key, value in body.items() if isinstance(value, str)]
    slots += [(value, key) for value in body.values() if isinstance(value, dict)
              for key, inner in value.items() if isinstance(inner, str)]
    if slots:
        container, key = _random.choice(slots)
        text = container[key] or "x"
        middle = len(text) // 2
        container[key] = text[:middle] + _random.choice(["\u0000", "\u001b"]) + text[middle:]
    return body


@schemathesis.hook
def after_call(context, case, response):
    """Requests filed during the run join the pool (without a document); the unit of every request
    an answer shows is remembered, for transfers and assignments."""
    try:
        answer = response.json()
    except Exception:
        return
    if not isinstance(answer, dict):
        return
    if case.method.upper() == "POST" and case.path == "/api/v1/requests" and response.status_code == 201:
        try:
            _FILED.append([answer["tracking_code"], answer["access_token"], "-"])
        except (KeyError, TypeError):
            pass
    unit = answer.get("unit")
    if isinstance(answer.get("tracking_code"), str) and isinstance(unit, dict) and isinstance(unit.get("code"), str):
        _UNIT_OF[answer["tracking_code"]] = unit["code"]
