"""Schemathesis hooks for Loket (loaded by run.sh through SCHEMATHESIS_HOOKS).

Random data alone stops at the first gate of most routes (an unknown tracking code, no token, an
invalid NIK), so these hooks steer part of the calls past it, so that the answers behind it are
checked against the document too:

- every call comes from another client address (X-Forwarded-For; the server under test runs with
  --trust-forwarded-for), so the per-client POST rate limit does not turn the run into 429s;
- half of the calls to a route with a tracking code use one of the requests run.sh filed before
  the run (LOKET_FUZZ_REQUESTS: "CODE TOKEN DOCUMENT_ID" lines), with its access token on citizen
  routes, and one of its documents on document routes;
- staff routes mostly get a real staff token (LOKET_FUZZ_STAFF_TOKEN, a supervisor of the unit the
  filed requests went to), manager routes a manager's (LOKET_FUZZ_MANAGER_TOKEN); Open311 filings
  mostly get a real partner key (LOKET_FUZZ_API_KEY);
- a third of the filings (JSON and Open311) are replaced by valid ones with a fresh NIK, so that the
  201/200 answers and the duplicate rule are exercised; requests filed that way join the pool;
- a third of the document uploads send a real (tiny) PDF or PNG, some transfers name a real unit,
  and half of the tracking-page forms carry a filed request's code and token;
- the actions that close a request (cancel, resolve, reject) only use the first filed requests, so
  that the others stay open for documents, questions and replies;
- some text fields get a NUL or another control character in the middle (PostgreSQL text cannot
  hold NUL, so each text must be checked before it reaches SQL; random strings rarely carry one).
Every change is made on the case itself, so the reproduction that schemathesis prints is exact.
"""
import os
import random

import schemathesis

_FILED = [line.split() for line in os.environ.get("LOKET_FUZZ_REQUESTS", "").splitlines() if line.strip()]
_CLOSING = ("/cancel", "/resolve", "/reject")
_PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
_PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4e90000000049454e44ae426082")
_STAFF_TOKEN = os.environ.get("LOKET_FUZZ_STAFF_TOKEN", "")
_MANAGER_TOKEN = os.environ.get("LOKET_FUZZ_MANAGER_TOKEN", "")
_API_KEY = os.environ.get("LOKET_FUZZ_API_KEY", "")
_random = random.Random(int(os.environ.get("LOKET_FUZZ_SEED", "0")) or None)


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


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = dict(case.headers or {})
    headers["X-Forwarded-For"] = "10.%d.%d.%d" % (_random.randrange(256), _random.randrange(256), _random.randrange(1, 255))
    path = case.path
    parameters = dict(case.path_parameters or {})
    staff = path.startswith("/api/v1/staff/")

    if _FILED and _random.random() < 0.5:
        pool = _FILED[:2] if path.endswith(_CLOSING) else _FILED
        code, token, document = _random.choice(pool)
        for name in ("code", "service_request_id", "token"):
            if name in parameters:
                parameters[name] = code
        if "id" in parameters and document != "-" and _random.random() < 0.7:
            parameters["id"] = int(document)
        if path.startswith("/api/v1/requests/") and _random.random() < 0.9:
            headers["Authorization"] = "Bearer " + token
        case.path_parameters = parameters
    if staff and _STAFF_TOKEN and _random.random() < 0.9:
        headers["Authorization"] = "Bearer " + _STAFF_TOKEN
    if path.startswith("/api/v1/manager/") and _MANAGER_TOKEN and _random.random() < 0.9:
        headers["Authorization"] = "Bearer " + _MANAGER_TOKEN

    if case.method.upper() == "POST":
        if path == "/api/v1/requests" and _random.random() < 0.33:
            case.body = _valid_filing()
            headers["Content-Type"] = "application/json"
            case.media_type = "application/json"
        elif path == "/api/v1/requests/{code}/documents" and _random.random() < 0.33:
            pdf = _random.random() < 0.5
            case.body = _PDF if pdf else _PNG
            # Schemathesis serialises raw bytes only as application/octet-stream; the server judges
            # a document by its content anyway.
            case.media_type = "application/octet-stream"
            headers["Content-Type"] = "application/octet-stream"
        elif path == "/api/v1/staff/requests/{code}/transfer" and _random.random() < 0.3:
            case.body = {"unit": _random.choice(["DISDUKCAPIL-PDP", "DISDUKCAPIL-IDP", "MPP-FO"]), "reason": "Salah unit"}
            case.media_type = "application/json"
            headers["Content-Type"] = "application/json"
        elif path == "/lacak" and _FILED and _random.random() < 0.5:
            code, token, _ = _random.choice(_FILED)
            case.body = {"tracking_code": code, "access_token": token if _random.random() < 0.8 else token[::-1]}
            case.media_type = "application/x-www-form-urlencoded"
        elif path == "/open311/v2/requests.{format}" and _API_KEY:
            if _random.random() < 0.33:
                case.body = _valid_open311_filing()
                case.media_type = "application/x-www-form-urlencoded"
            elif isinstance(case.body, dict) and _random.random() < 0.7:
                case.body = {**case.body, "api_key": _API_KEY}
    if isinstance(case.body, dict) and case.body and _random.random() < 0.15:
        case.body = _with_control_character(case.body)
    case.headers = headers


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
    """Requests filed during the run join the pool (without a document)."""
    if case.method.upper() == "POST" and case.path == "/api/v1/requests" and response.status_code == 201:
        try:
            answer = response.json()
            _FILED.append([answer["tracking_code"], answer["access_token"], "-"])
        except Exception:
            pass
