#!/usr/bin/env python3
"""The hostile-input corpus of tests/reliability/hostile-input.sh (standard library only).

    hostile_corpus.py fixtures --base URL --out FILE
        Files the requests the corpus aims at: A (open, with a PDF), B (cancelled), C (open, kept
        for the last cases, whose acceptance would change it) and writes their codes and tokens.

    hostile_corpus.py refuse --base URL --fixtures FILE --staff-token T --manager-token T
                             --api-key K [--rounds N] [--report FILE] [--only SUBSTRING]
        Sends every case of the corpus on its own connection, written byte by byte (so that bodies,
        paths and headers can be what no ordinary client would send), and judges each answer:
          json       a 4xx with Content-Type application/json and {"error": {"code": "snake_case"}};
          open311    a 4xx with Open311's error list (JSON [{"code": <status>, "description"}] or
                     XML <errors><error><code>…), code = the HTTP status;
          transport  what the HTTP parser (swift-nio) refuses before loketd sees a request: a 4xx
                     (its bare "400 Bad Request" has no body) or a closed connection;
          expect     an Expect header, no body sent: the status the case names (100 Continue at
                     once, or 413/417 at once without 100), never a wait for the body;
        and for every case: no 5xx, a complete answer within --max-seconds (no hang), and the server
        still answering /healthz afterwards. With --rounds 2 the corpus runs twice and each case
        must get the same status and code both times (stable codes). Exits 1 on any violation.

    hostile_corpus.py accept --base URL --fixtures FILE --staff-token T --api-key K --out FILE
        The other half of "SQL and script fragments in every field": in free-text fields such text is
        a citizen's legitimate words (an apostrophe, a quote, angle brackets), so the server must
        store it verbatim, not refuse it. Files requests (JSON API and Open311) with fragments in every
        free-text field, adds a staff note, uploads PDFs under path-trick filenames, then reads all
        back through the API: text verbatim, filenames stripped of folders and control characters,
        download headers safe. Writes how many rows it created (--out) for the row-count check.

Every request carries its own X-Forwarded-For address (loketd runs with --trust-forwarded-for) so
the per-client rate limit does not answer 429 in place of the answer under test.
"""
import argparse
import json
import re
import socket
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

# ------------------------------------------------------------------------------------------------
# The wire


class Answer:
    def __init__(self):
        self.status = None
        self.headers = {}
        self.body = b""
        self.elapsed = 0.0
        self.error = None      # transport error while reading (reset, timeout)
        self.send_error = None  # the server stopped reading our body (it may have answered early)
        self.complete = False   # a whole response (status, headers, body) arrived


def exchange(port, head, body, timeout, half_close=False):
    """Sends head+body on a fresh loopback connection and reads one response (by Content-Length,
    chunked encoding or connection close). The body is written by a second thread so that an early
    answer (413 while we are still sending) is read as soon as it comes."""
    answer = Answer()
    started = time.monotonic()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as exc:
        answer.error = "connect: %r" % exc
        return answer
    sock.settimeout(timeout)

    def send():
        try:
            sock.sendall(head)
            view = memoryview(body)
            for offset in range(0, len(body), 256 * 1024):
                sock.sendall(view[offset:offset + 256 * 1024])
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            answer.send_error = repr(exc)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    buffer = b""
    deadline = started + timeout

    def receive():
        nonlocal buffer
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError
        buffer += chunk

    try:
        while b"\r\n\r\n" not in buffer:
            receive()
        head_bytes, rest = buffer.split(b"\r\n\r\n", 1)
        lines = head_bytes.split(b"\r\n")
        answer.status = int(lines[0].split()[1])
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            answer.headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        buffer = rest
        if 100 <= answer.status < 200:
            pass  # an interim answer is a head alone (100 Continue: the server waits for the body)
        elif "content-length" in answer.headers:
            length = int(answer.headers["content-length"])
            while len(buffer) < length:
                receive()
            answer.body = buffer[:length]
        elif answer.headers.get("transfer-encoding", "").lower() == "chunked":
            body_parts = b""
            while True:
                while b"\r\n" not in buffer:
                    receive()
                size_line, buffer = buffer.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(buffer) < size + 2:
                    receive()
                body_parts += buffer[:size]
                buffer = buffer[size + 2:]
                if size == 0:
                    break
            answer.body = body_parts
        else:
            try:
                while True:
                    receive()
            except EOFError:
                pass
            answer.body = buffer
        answer.complete = True
    except EOFError:
        if answer.status is None:
            answer.error = "closed without an answer"
        else:
            answer.error = "closed inside the answer"
    except (socket.timeout, TimeoutError):
        answer.error = "timeout"
    except OSError as exc:
        answer.error = repr(exc)
    except (ValueError, IndexError) as exc:
        answer.error = "unreadable answer: %r" % exc
    answer.elapsed = time.monotonic() - started
    try:
        sock.close()
    except OSError:
        pass
    return answer


def to_bytes(value):
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


class Case:
    def __init__(self, name, method, target, headers=(), body=b"", kind="json", auth=None, content_type=None,
                 max_seconds=None, length=True, half_close=False, statuses=None):
        self.name = name
        self.method = method
        self.target = to_bytes(target)
        self.headers = [(to_bytes(k), to_bytes(v)) for k, v in headers]
        self.body = to_bytes(body)
        self.kind = kind
        self.auth = auth
        self.content_type = content_type
        self.max_seconds = max_seconds
        self.length = length
        self.half_close = half_close
        self.statuses = statuses  # kind "expect": the statuses that are right

    def wire(self, address):
        names = {k.lower() for k, _ in self.headers}
        lines = [b"%s %s HTTP/1.1" % (self.method.encode(), self.target)]
        if b"host" not in names:
            lines.append(b"Host: 127.0.0.1")
        lines.append(b"Connection: close")
        if b"x-forwarded-for" not in names:
            lines.append(b"X-Forwarded-For: " + address.encode())
        if self.auth and b"authorization" not in names:
            lines.append(b"Authorization: Bearer " + to_bytes(self.auth))
        if self.content_type and b"content-type" not in names:
            lines.append(b"Content-Type: " + to_bytes(self.content_type))
        if self.length and b"content-length" not in names and b"transfer-encoding" not in names and (
                self.body or self.method in ("POST", "PUT")):
            lines.append(b"Content-Length: %d" % len(self.body))
        lines += [k + b": " + v for k, v in self.headers]
        return b"\r\n".join(lines) + b"\r\n\r\n", self.body


# ------------------------------------------------------------------------------------------------
# Tracking codes (Luhn mod 32 over Crockford base32), for well-formed codes that name no request

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def tracking_code(prefix, symbols):
    values = [ALPHABET.index(c) for c in symbols]
    total, factor = 0, 2
    for value in reversed(values):
        product = value * factor
        total += product // 32 + product % 32
        factor = 3 - factor
    check = ALPHABET[(32 - total % 32) % 32]
    s = symbols + check
    return "%s-%s-%s-%s" % (prefix, s[0:4], s[4:8], s[8:12])


UNKNOWN_CODE = tracking_code("SRG", "ZZZZZZZZZZZ")

# ------------------------------------------------------------------------------------------------
# Hostile values

SQL = [
    "' OR '1'='1",
    "'; DROP TABLE service_requests; --",
    "1; SELECT pg_sleep(15) --",
    "' UNION SELECT token_hash, NULL FROM api_tokens --",
    "$$; DELETE FROM staff; $$",
    "\\'; TRUNCATE request_events CASCADE; --",
]
SCRIPT = [
    "<script>alert(document.cookie)</script>",
    "\"><img src=x onerror=alert(1)>",
    "javascript:alert(1)//",
    "{{7*7}}${7*7}<%= 7*7 %>",
    "]]><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>",
]
FRAGMENTS = SQL + SCRIPT
PATH_TRICKS = [
    "../../../../etc/passwd",
    "..\\..\\..\\windows\\win.ini",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "....//....//etc/passwd",
    "/etc/passwd",
    "C:\\boot.ini",
    "a\x00.pdf",
    "..",
    ".",
    "\u202etxt.pdf",
]
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4e90000000049454e44ae426082")


def deep_array(levels):
    return "[" * levels + "]" * levels


def deep_object(levels, key="a"):
    return ('{"%s":' % key) * levels + "1" + "}" * levels


def filing(nik, **changes):
    body = {
        "service_code": "kk-baru",
        "citizen": {"name": "Siti Aminah", "nik": nik, "phone": "0812-3456-7890", "email": "siti@example.id"},
        "area_code": "36.73.01.1001",
        "address": "Jl. Ki Mas Jong No. 5",
        "description": "Permohonan KK baru",
        "attributes": {"alasan": "keluarga_baru"},
    }
    for path, value in changes.items():
        target = body
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[key]
        if value is DELETE:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = value
    return body


DELETE = object()


def dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def form(pairs):
    return "&".join("%s=%s" % (urllib.parse.quote(k, safe="[]"), urllib.parse.quote(v, safe="")) for k, v in pairs).encode()


def multipart(boundary, parts):
    """parts: (headers bytes, content bytes)."""
    out = b""
    for headers, content in parts:
        out += b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + content + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


# ------------------------------------------------------------------------------------------------
# The corpus


def corpus(fx, staff, manager, api_key):
    a, b, c = fx["A"], fx["B"], fx["C"]
    nik_a = fx["A"]["nik"]
    doc = fx["A"]["document"]
    cases = []

    def add(*args, **kwargs):
        cases.append(Case(*args, **kwargs))

    def citizen_json(name, path, body, token=None, **kwargs):
        headers = list(kwargs.pop("headers", ()))
        if token:
            headers.append(("Authorization", "Bearer " + token))
        add(name, "POST", path, headers=headers, body=body, content_type=kwargs.pop("content_type", "application/json"), **kwargs)

    def staff_json(name, path, body, **kwargs):
        add(name, "POST", "/api/v1/staff" + path, body=body, auth=kwargs.pop("auth", staff),
            content_type=kwargs.pop("content_type", "application/json"), **kwargs)

    def open311(name, body, fmt="json", **kwargs):
        add(name, "POST", "/open311/v2/requests." + fmt, body=body, kind="open311",
            content_type=kwargs.pop("content_type", "application/x-www-form-urlencoded"), **kwargs)

    o311 = [("api_key", api_key), ("service_code", "akta-kelahiran"), ("lat", "-6.1204"), ("long", "106.1503"),
            ("email", "warga@example.id"), ("description", "Pencatatan kelahiran")]

    def o311_with(**changes):
        pairs = [(k, changes.pop(k)) if k in changes else (k, v) for k, v in o311]
        pairs = [(k, v) for k, v in pairs if v is not DELETE]
        return pairs + list(changes.items())

    # -- Oversized bodies ------------------------------------------------------------------------
    big_text = "a" * (64 * 1024 + 10)
    citizen_json("filing: 64 KiB + 10 of JSON", "/api/v1/requests", dumps(filing(nik_a, description=big_text)))
    citizen_json("filing: 1 MiB of JSON", "/api/v1/requests", b'{"description":"' + b"x" * (1 << 20) + b'"}')
    citizen_json("filing: 12 MiB of JSON", "/api/v1/requests", b'{"description":"' + b"x" * (12 << 20) + b'"}')
    citizen_json("filing: 64 KiB + 1 of whitespace around a valid body", "/api/v1/requests",
                 b" " * (64 * 1024 + 1) + dumps(filing(nik_a)))
    add("upload: PDF of 10 MiB + 1 byte", "POST", "/api/v1/requests/%s/documents?filename=besar.pdf" % a["code"],
        headers=[("Authorization", "Bearer " + a["token"])], content_type="application/pdf",
        body=PDF + b"0" * (10 * 1024 * 1024 + 1 - len(PDF)))
    add("upload: PDF of 20 MiB", "POST", "/api/v1/requests/%s/documents" % a["code"],
        headers=[("Authorization", "Bearer " + a["token"])], content_type="application/pdf",
        body=PDF + b"0" * (20 * 1024 * 1024))
    boundary = b"loketboundary"
    add("upload: multipart with a 10 MiB + 100 KiB file part", "POST", "/api/v1/requests/%s/documents" % a["code"],
        headers=[("Authorization", "Bearer " + a["token"])], content_type="multipart/form-data; boundary=loketboundary",
        body=multipart(boundary, [(b'Content-Disposition: form-data; name="file"; filename="besar.pdf"\r\nContent-Type: application/pdf',
                                   PDF + b"0" * (10 * 1024 * 1024 + 100 * 1024))]))
    for route in ("reply", "cancel", "feedback"):
        citizen_json("%s: 70 KiB of JSON" % route, "/api/v1/requests/%s/%s" % (b["code"], route),
                     b'{"message":"' + b"y" * (70 * 1024) + b'"}', token=b["token"])
    staff_json("staff note: 70 KiB of JSON", "/requests/%s/notes" % a["code"], b'{"text":"' + b"z" * (70 * 1024) + b'"}')
    staff_json("staff resolve: 12 MiB of JSON", "/requests/%s/resolve" % UNKNOWN_CODE, b'{"public_message":"' + b"z" * (12 << 20) + b'"}')
    open311("open311: 70 KiB form", form(o311_with(description="d" * (70 * 1024))))

    # -- Invalid UTF-8 -----------------------------------------------------------------------------
    valid = dumps(filing(nik_a))
    citizen_json("filing: invalid UTF-8 bytes in a string", "/api/v1/requests",
                 valid.replace(b"Permohonan KK baru", b"Permohonan \xff\xfe KK"))
    citizen_json("filing: overlong UTF-8 encoding of '/'", "/api/v1/requests", valid.replace(b"Siti", b"Si\xc0\xafti"))
    citizen_json("filing: UTF-8 encoded surrogate", "/api/v1/requests", valid.replace(b"Siti", b"Si\xed\xa0\x80ti"))
    citizen_json("filing: lone surrogate escape", "/api/v1/requests", valid.replace(b"Siti", b"Si\\ud800ti"))
    citizen_json("filing: truncated multi-byte sequence at the end", "/api/v1/requests", valid[:-2] + b"\xe2\x82")
    citizen_json("filing: UTF-16 body", "/api/v1/requests", valid.decode().encode("utf-16"))
    citizen_json("reply: invalid UTF-8", "/api/v1/requests/%s/reply" % b["code"], b'{"message":"\xff\xff"}', token=b["token"])
    staff_json("staff note: invalid UTF-8", "/requests/%s/notes" % a["code"], b'{"text":"catatan \xc3\x28"}')
    staff_json("staff transfer: invalid UTF-8 unit", "/requests/%s/transfer" % a["code"], b'{"unit":"\xff","reason":"x"}')
    open311("open311: %FF in a value", form(o311)[:-1] + b"%FF")
    open311("open311: raw invalid byte in a value", form(o311) + b"&first_name=\xff\xfe")
    open311("open311: %C0%AF overlong slash", form(o311) + b"&address_string=%C0%AF")
    add("staff queue: ?unit=%FF", "GET", "/api/v1/staff/queue?unit=%FF", auth=staff)
    add("staff queue: ?unit=%C0%AF", "GET", "/api/v1/staff/queue?unit=%C0%AF", auth=staff)
    add("manager report: ?by=%FF", "GET", "/api/v1/manager/reports?by=%FF", auth=manager)
    add("transparency: ?from=%FE", "GET", "/api/v1/public/transparency?from=%FE")
    add("open311 list: ?status=%FF", "GET", "/open311/v2/requests.json?status=%FF", kind="open311")
    add("public view: %FF%FE as the code", "GET", "/api/v1/public/requests/%FF%FE")
    add("catalog: %C0%AE%C0%AE as the code", "GET", "/api/v1/services/%C0%AE%C0%AE")
    add("detail: raw invalid bytes in the path", "GET", b"/api/v1/requests/SRG-\xff\xfe", kind="transport")
    add("staff: Authorization with invalid UTF-8", "GET", "/api/v1/staff/me", headers=[("Authorization", b"Bearer lks_\xff\xfe\xfd")])
    citizen_json("filing: Idempotency-Key with invalid UTF-8", "/api/v1/requests", valid, headers=[("Idempotency-Key", b"key-\xff\xfe")])

    # -- Wrong content types -----------------------------------------------------------------------
    citizen_json("filing: text/plain", "/api/v1/requests", valid, content_type="text/plain")
    citizen_json("filing: no Content-Type", "/api/v1/requests", valid, content_type=None)
    citizen_json("filing: form-urlencoded", "/api/v1/requests", form([("service_code", "kk-baru")]),
                 content_type="application/x-www-form-urlencoded")
    citizen_json("filing: multipart", "/api/v1/requests", multipart(boundary, [(b'Content-Disposition: form-data; name="service_code"', b"kk-baru")]),
                 content_type="multipart/form-data; boundary=loketboundary")
    citizen_json("filing: application/xml", "/api/v1/requests", b"<request><service_code>kk-baru</service_code></request>",
                 content_type="application/xml")
    citizen_json("filing: Content-Type of 8 KiB", "/api/v1/requests", valid, content_type="application/" + "x" * 8192)
    citizen_json("filing: JSON with charset=utf-16", "/api/v1/requests", valid.decode().encode("utf-16"),
                 content_type="application/json; charset=utf-16")
    add("upload: text/html", "POST", "/api/v1/requests/%s/documents" % a["code"], headers=[("Authorization", "Bearer " + a["token"])],
        content_type="text/html", body=b"<html><script>alert(1)</script></html>")
    add("upload: image/svg+xml with a script", "POST", "/api/v1/requests/%s/documents" % a["code"],
        headers=[("Authorization", "Bearer " + a["token"])], content_type="image/svg+xml",
        body=b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')
    add("upload: application/pdf that is HTML", "POST", "/api/v1/requests/%s/documents?filename=surat.pdf" % a["code"],
        headers=[("Authorization", "Bearer " + a["token"])], content_type="application/pdf", body=b"<script>alert(1)</script>")
    add("upload: image/png that is an ELF binary", "POST", "/api/v1/requests/%s/documents" % a["code"],
        headers=[("Authorization", "Bearer " + a["token"])], content_type="image/png", body=b"\x7fELF\x02\x01\x01" + b"\x00" * 100)
    add("upload: application/zip", "POST", "/api/v1/requests/%s/documents" % a["code"],
        headers=[("Authorization", "Bearer " + a["token"])], content_type="application/zip", body=b"PK\x03\x04" + b"\x00" * 100)
    add("upload: empty application/pdf", "POST", "/api/v1/requests/%s/documents" % a["code"],
        headers=[("Authorization", "Bearer " + a["token"])], content_type="application/pdf", body=b"")
    add("upload: multipart without boundary", "POST", "/api/v1/requests/%s/documents" % a["code"],
        headers=[("Authorization", "Bearer " + a["token"])], content_type="multipart/form-data", body=PDF)
    add("upload: multipart with a broken body", "POST", "/api/v1/requests/%s/documents" % a["code"],
        headers=[("Authorization", "Bearer " + a["token"])], content_type="multipart/form-data; boundary=zzz",
        body=b"--zzz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n%PDF-1.4 no end")
    add("upload: multipart without a file part", "POST", "/api/v1/requests/%s/documents" % a["code"],
        headers=[("Authorization", "Bearer " + a["token"])], content_type="multipart/form-data; boundary=loketboundary",
        body=multipart(boundary, [(b'Content-Disposition: form-data; name="other"', PDF)]))
    add("upload: multipart with 5,000 empty parts", "POST", "/api/v1/requests/%s/documents" % a["code"],
        headers=[("Authorization", "Bearer " + a["token"])], content_type="multipart/form-data; boundary=loketboundary",
        body=multipart(boundary, [(b'Content-Disposition: form-data; name="x"', b"")] * 5000))
    staff_json("staff note: text/plain", "/requests/%s/notes" % a["code"], b'{"text":"catatan"}', content_type="text/plain")
    staff_json("staff ask: form-urlencoded", "/requests/%s/ask" % a["code"], b"question=apa", content_type="application/x-www-form-urlencoded")
    citizen_json("cancel: text/xml", "/api/v1/requests/%s/cancel" % a["code"], b"<reason>x</reason>", token=a["token"], content_type="text/xml")
    citizen_json("feedback: no Content-Type", "/api/v1/requests/%s/feedback" % b["code"], b'{"scores":[4,4,4,4,4,4,4,4,4]}',
                 token=b["token"], content_type=None)
    open311("open311: application/json", dumps(dict(o311)), content_type="application/json")
    open311("open311: multipart", multipart(boundary, [(b'Content-Disposition: form-data; name="api_key"', api_key.encode())]),
            content_type="multipart/form-data; boundary=loketboundary")
    open311("open311: no Content-Type", form(o311), content_type=None)

    # -- Deep and huge JSON -----------------------------------------------------------------------
    citizen_json("filing: 10,000 nested arrays as service_code", "/api/v1/requests", ('{"service_code":%s}' % deep_array(10000)).encode())
    citizen_json("filing: 10,000 nested objects in attributes", "/api/v1/requests", ('{"attributes":%s}' % deep_object(10000)).encode())
    citizen_json("filing: 30,000 nested arrays (the whole body)", "/api/v1/requests", deep_array(30000).encode())
    citizen_json("filing: 10,000 nested arrays in an unknown key of a valid filing", "/api/v1/requests",
                 dumps(filing(nik_a))[:-1] + (',"extra":%s}' % deep_array(10000)).encode())
    citizen_json("filing: 100,000 unclosed arrays", "/api/v1/requests", b"[" * 60000)
    citizen_json("feedback: scores nested 10,000 deep", "/api/v1/requests/%s/feedback" % b["code"],
                 ('{"scores":%s}' % deep_array(10000)).encode(), token=b["token"])
    citizen_json("reply: message nested 10,000 deep", "/api/v1/requests/%s/reply" % b["code"],
                 ('{"message":%s}' % deep_object(10000)).encode(), token=b["token"])
    staff_json("staff note: 10,000 nested objects", "/requests/%s/notes" % a["code"], deep_object(10000, "text").encode())
    staff_json("staff transfer: unit nested 10,000 deep", "/requests/%s/transfer" % a["code"],
               ('{"unit":%s,"reason":"x"}' % deep_array(10000)).encode())
    citizen_json("feedback: 20,000 scores", "/api/v1/requests/%s/feedback" % b["code"],
                 dumps({"scores": [4] * 20000}), token=b["token"])
    citizen_json("filing: an attribute with 6,000 values", "/api/v1/requests", dumps(filing(nik_a, **{"attributes.alasan": ["keluarga_baru"] * 6000})))
    citizen_json("filing: 4,000 unknown attributes", "/api/v1/requests", dumps(filing(nik_a, attributes={"k%d" % i: "v" for i in range(4000)})))
    citizen_json("filing: top-level array of 30,000 numbers", "/api/v1/requests", dumps([1] * 30000))
    citizen_json("filing: 5,000 duplicate keys", "/api/v1/requests", b"{" + b'"service_code":"x",' * 5000 + b'"a":1}')
    citizen_json("filing: JSON null", "/api/v1/requests", b"null")
    citizen_json("filing: empty body", "/api/v1/requests", b"")
    citizen_json("filing: a bare string", "/api/v1/requests", b'"kk-baru"')
    staff_json("staff transfer: unit as an array", "/requests/%s/transfer" % a["code"], dumps({"unit": ["MPP-FO"] * 5000, "reason": "x"}))
    open311("open311: 4,000 attribute values", form(o311_with(**{"attribute[x][]": "v"})) + b"&attribute[x][]=v" * 4000)
    open311("open311: attribute key nested 5,000 deep", form(o311) + b"&attribute" + b"[a]" * 5000 + b"=1")
    open311("open311: 8,000 empty pairs (bad e-mail)", form(o311_with(email="bukan-email")) + b"&" * 8000)
    add("open311 list: 1,001 service_request_id values", "GET",
        "/open311/v2/requests.json?service_request_id=" + ",".join([UNKNOWN_CODE] * 1001), kind="open311")

    # -- Numbers out of range -----------------------------------------------------------------------
    for lat, lon in (("1e400", "106.15"), ("-1e400", "106.15"), ("-0", "1e400"), ("1e-400", "181"), ("91", "106.15"),
                     ("-6.12", "-180.0000001"), ("123456789012345678901234567890", "0"), ("NaN", "0"), ("Infinity", "0"),
                     ("-Infinity", "0"), ('"NaN"', "0"), ('"-6.12"', '"106.15"'), ("0x10", "0"), ("1_000", "0"), ("+1", "0"),
                     ("0.1e", "0"), (".5", "0"), ("01", "0"), ("-6.12", None)):
        text = dumps(filing(nik_a))[:-1] + (',"latitude":%s' % lat).encode() + ((',"longitude":%s' % lon).encode() if lon else b"") + b"}"
        citizen_json("filing: latitude %s, longitude %s" % (lat, lon), "/api/v1/requests", text)
    for scores in ("[1e400,4,4,4,4,4,4,4,4]", "[-0,4,4,4,4,4,4,4,4]", "[4.5,4,4,4,4,4,4,4,4]", "[9223372036854775808,4,4,4,4,4,4,4,4]",
                   '["4",4,4,4,4,4,4,4,4]', "[NaN,4,4,4,4,4,4,4,4]", "[5,4,4,4,4,4,4,4,4]", "[-1,4,4,4,4,4,4,4,4]",
                   "[4,4,4,4,4,4,4,4]", "[1e2,4,4,4,4,4,4,4,4]", "[true,4,4,4,4,4,4,4,4]", "[null,4,4,4,4,4,4,4,4]"):
        citizen_json("feedback: scores %s" % scores[:24], "/api/v1/requests/%s/feedback" % b["code"],
                     ('{"scores":%s}' % scores).encode(), token=b["token"])
    for value in ("1e400", "-0", "NaN", "0", "501", "99999999999999999999", "-1", "1.5", "0x10", "%205", "%00"):
        add("staff queue: ?limit=%s" % value, "GET", "/api/v1/staff/queue?limit=" + value, auth=staff)
    for name, value in (("within", "1e400"), ("within", "-0"), ("within", "10001"), ("limit", "NaN"), ("limit", "1001")):
        add("manager at-risk: ?%s=%s" % (name, value), "GET", "/api/v1/manager/at-risk?%s=%s" % (name, value), auth=manager)
    for value in ("-0", "61", "1e400", "9223372036854775808"):
        add("manager trend: ?months=%s" % value, "GET", "/api/v1/manager/trend?months=" + value, auth=manager)
    for query in ("from=2026-13-45", "from=99999-01-01", "from=-0001-01-01", "from=2026-02-30", "from=2000-01-01&to=2026-01-01",
                  "from=2026-06-01&to=2026-01-01", "to=1e400"):
        add("manager report: ?%s" % query, "GET", "/api/v1/manager/reports?" + query, auth=manager)
        add("transparency: ?%s" % query, "GET", "/api/v1/public/transparency?" + query)
    for query in ("start_date=1e400", "start_date=NaN", "start_date=2026-13-01T00:00:00Z", "end_date=-0",
                  "start_date=2020-01-01T00:00:00Z&end_date=2026-01-01T00:00:00Z"):
        add("open311 list: ?%s" % query, "GET", "/open311/v2/requests.json?" + query, kind="open311")
    for lat, lon in (("1e400", "106.15"), ("NaN", "NaN"), ("-0", "Infinity"), ("91", "0"), ("0x1p7", "0")):
        open311("open311: lat=%s long=%s" % (lat, lon), form(o311_with(lat=lat, long=lon)))
    for value in ("1e400", "-0", "NaN", "9223372036854775808", "-1", "0x1"):
        add("download: document id %s" % value, "GET", "/api/v1/requests/%s/documents/%s" % (a["code"], value),
            headers=[("Authorization", "Bearer " + a["token"])])
        add("staff download: document id %s" % value, "GET", "/api/v1/staff/requests/%s/documents/%s" % (a["code"], value), auth=staff)

    # -- SQL and script fragments in every field ----------------------------------------------------
    # Fields checked by format refuse them; free-text fields get A's NIK, so that the filing passes
    # every check and is refused only by the one-open-request rule, after the text went through.
    for fragment in FRAGMENTS:
        short = fragment[:28]
        for field in ("service_code", "citizen.nik", "citizen.phone", "citizen.email", "area_code", "attributes.alasan"):
            citizen_json("filing: %s = %s" % (field, short), "/api/v1/requests", dumps(filing(nik_a, **{field: fragment})))
        for field in ("citizen.name", "address", "description"):
            citizen_json("filing (A's NIK): %s = %s" % (field, short), "/api/v1/requests", dumps(filing(nik_a, **{field: fragment})))
        citizen_json("filing: an attribute named %s" % short, "/api/v1/requests", dumps(filing(nik_a, attributes={"alasan": "pisah_kk", fragment: "x"})))
        citizen_json("filing (A's NIK): Idempotency-Key %s" % short, "/api/v1/requests", dumps(filing(nik_a)),
                     headers=[("Idempotency-Key", fragment.encode("utf-8"))])
        citizen_json("reply (closed B): message %s" % short, "/api/v1/requests/%s/reply" % b["code"], dumps({"message": fragment}), token=b["token"])
        citizen_json("cancel (closed B): reason %s" % short, "/api/v1/requests/%s/cancel" % b["code"], dumps({"reason": fragment}), token=b["token"])
        citizen_json("feedback (closed B): comment %s" % short, "/api/v1/requests/%s/feedback" % b["code"],
                     dumps({"scores": [4] * 9, "comment": fragment}), token=b["token"])
        add("detail: X-Access-Token %s" % short, "GET", "/api/v1/requests/%s" % a["code"], headers=[("X-Access-Token", fragment.encode())])
        add("detail: Bearer %s" % short, "GET", "/api/v1/requests/%s" % a["code"], headers=[("Authorization", ("Bearer " + fragment).encode())])
        quoted = urllib.parse.quote(fragment, safe="")
        for route in ("/api/v1/requests/%s", "/api/v1/public/requests/%s", "/api/v1/services/%s", "/api/v1/requests/%s/documents",
                      "/api/v1/staff/requests/%s"):
            add("path %s with %s" % (route.replace("%s", "{code}"), short), "GET", route % quoted,
                auth=staff if "/staff/" in route else None)
        add("staff: Bearer %s" % short, "GET", "/api/v1/staff/me", headers=[("Authorization", ("Bearer " + fragment).encode())])
        add("staff queue: ?unit=%s" % short, "GET", "/api/v1/staff/queue?unit=" + quoted, auth=staff)
        add("staff escalated: ?unit=%s" % short, "GET", "/api/v1/staff/escalated?unit=" + quoted, auth=staff)
        add("staff claim next: ?unit=%s" % short, "POST", "/api/v1/staff/claim?unit=" + quoted, auth=staff)
        staff_json("staff note (unknown code): text %s" % short, "/requests/%s/notes" % UNKNOWN_CODE, dumps({"text": fragment, "public": True}))
        staff_json("staff ask (unknown code): question %s" % short, "/requests/%s/ask" % UNKNOWN_CODE, dumps({"question": fragment}))
        staff_json("staff resolve (unknown code): %s" % short, "/requests/%s/resolve" % UNKNOWN_CODE,
                   dumps({"public_message": fragment, "outcome": fragment}))
        staff_json("staff reject (unknown code): reason %s" % short, "/requests/%s/reject" % UNKNOWN_CODE, dumps({"reason": fragment}))
        staff_json("staff release (unknown code): reason %s" % short, "/requests/%s/release" % UNKNOWN_CODE, dumps({"reason": fragment}))
        staff_json("staff transfer: unit %s" % short, "/requests/%s/transfer" % a["code"], dumps({"unit": fragment, "reason": "x"}))
        staff_json("staff transfer (unknown code): reason %s" % short, "/requests/%s/transfer" % UNKNOWN_CODE,
                   dumps({"unit": "MPP-FO", "reason": fragment}))
        staff_json("staff assign: nip %s" % short, "/requests/%s/assign" % a["code"], dumps({"nip": fragment}))
        staff_json("staff claim: code %s" % short, "/requests/%s/claim" % quoted, b"")
        staff_json("staff heartbeat: code %s" % short, "/requests/%s/heartbeat" % quoted, b"")
        for name in ("unit", "by", "from", "to"):
            add("manager report: ?%s=%s" % (name, short), "GET", "/api/v1/manager/reports?%s=%s" % (name, quoted), auth=manager)
        add("manager breaches: ?unit=%s" % short, "GET", "/api/v1/manager/breaches?unit=" + quoted, auth=manager)
        add("manager workload: ?unit=%s" % short, "GET", "/api/v1/manager/workload?unit=" + quoted, auth=manager)
        add("transparency: ?by=%s" % short, "GET", "/api/v1/public/transparency?by=" + quoted)
        add("transparency csv: ?from=%s" % short, "GET", "/api/v1/public/transparency.csv?from=" + quoted)
        for field in ("api_key", "service_code", "lat", "long", "email", "phone", "address_id", "media_url", "jurisdiction_id",
                      "attribute[" + fragment + "]"):
            open311("open311: %s = %s" % (field[:20], short), form(o311_with(**{field: fragment})))
        # Free-text Open311 fields pass their own check; an invalid e-mail is what refuses these.
        for field in ("description", "address_string", "first_name", "last_name", "account_id", "device_id"):
            open311("open311 (bad e-mail): %s = %s" % (field, short), form(o311_with(email="bukan-email", **{field: fragment})))
        add("open311 list: ?status=%s" % short, "GET", "/open311/v2/requests.json?status=" + quoted, kind="open311")
        add("open311 list: ?start_date=%s" % short, "GET", "/open311/v2/requests.xml?start_date=" + quoted, kind="open311")
        add("open311 list: ?jurisdiction_id=%s" % short, "GET", "/open311/v2/requests.json?jurisdiction_id=" + quoted, kind="open311")
        add("open311 discovery: ?jurisdiction_id=%s" % short, "GET", "/open311/v2/discovery.xml?jurisdiction_id=" + quoted, kind="open311")
        for route in ("services/%s.json", "requests/%s.xml", "tokens/%s.json"):
            add("open311 %s with %s" % (route.split("/")[0], short), "GET", "/open311/v2/" + route % quoted, kind="open311")

    # -- NUL bytes ------------------------------------------------------------------------------------
    for field in ("citizen.name", "citizen.nik", "citizen.phone", "citizen.email", "address", "description", "area_code",
                  "service_code", "attributes.alasan"):
        citizen_json("filing: NUL in %s" % field, "/api/v1/requests", dumps(filing(nik_a, **{field: "Siti\x00Aminah"})))
    citizen_json("filing: NUL in an attribute name", "/api/v1/requests", dumps(filing(nik_a, attributes={"alasan": "pisah_kk", "a\x00b": "x"})))
    citizen_json("filing: raw NUL byte in the JSON text", "/api/v1/requests", valid.replace(b"Siti", b"Si\x00ti"))
    citizen_json("reply (closed B): NUL in message", "/api/v1/requests/%s/reply" % b["code"], dumps({"message": "a\x00b"}), token=b["token"])
    citizen_json("feedback (closed B): NUL in comment", "/api/v1/requests/%s/feedback" % b["code"],
                 dumps({"scores": [4] * 9, "comment": "a\x00b"}), token=b["token"])
    staff_json("staff transfer (same unit): NUL in reason", "/requests/%s/transfer" % a["code"], dumps({"unit": fx["unit"], "reason": "a\x00b"}))
    staff_json("staff assign: NUL in nip", "/requests/%s/assign" % a["code"], dumps({"nip": "1985\x00"}))
    staff_json("staff note (unknown code): NUL in text", "/requests/%s/notes" % UNKNOWN_CODE, dumps({"text": "a\x00b"}))
    for field in ("description", "first_name", "address_string", "api_key", "service_code"):
        open311("open311: %%00 in %s" % field, form(o311_with(**{field: "a\x00b"})))
    add("staff queue: ?unit=%00", "GET", "/api/v1/staff/queue?unit=%00", auth=staff)
    add("transparency: ?by=unit%00", "GET", "/api/v1/public/transparency?by=unit%00")
    add("detail: %00 in the code", "GET", "/api/v1/requests/%s%%00" % a["code"], headers=[("Authorization", "Bearer " + a["token"])])
    add("public view: %00 alone", "GET", "/api/v1/public/requests/%00")
    add("open311 detail: %00 in the id", "GET", "/open311/v2/requests/%s%%00.json" % a["code"], kind="open311")
    add("upload: multipart filename with NUL, content not a document", "POST", "/api/v1/requests/%s/documents" % a["code"],
        headers=[("Authorization", "Bearer " + a["token"])], content_type="multipart/form-data; boundary=loketboundary",
        body=multipart(boundary, [(b'Content-Disposition: form-data; name="file"; filename="a\x00.pdf"', b"MZ\x90\x00")]))
    add("staff: NUL inside the Authorization header", "GET", "/api/v1/staff/me", headers=[("Authorization", b"Bearer lks_\x00abc")], kind="transport")

    # -- Path tricks ----------------------------------------------------------------------------------
    for trick in PATH_TRICKS:
        name = trick.encode("unicode_escape").decode()[:30]
        add("upload: ?filename=%s, content not a document" % name, "POST",
            "/api/v1/requests/%s/documents?filename=%s" % (a["code"], urllib.parse.quote(trick, safe="")),
            headers=[("Authorization", "Bearer " + a["token"])], content_type="application/pdf", body=b"<?php system($_GET['c']); ?>")
        add("upload: multipart filename %s, content not a document" % name, "POST", "/api/v1/requests/%s/documents" % a["code"],
            headers=[("Authorization", "Bearer " + a["token"])], content_type="multipart/form-data; boundary=loketboundary",
            body=multipart(boundary, [(b'Content-Disposition: form-data; name="file"; filename="' + trick.encode() + b'"', b"#!/bin/sh\nrm -rf /\n")]))
        add("upload: Content-Disposition filename %s, content not a document" % name, "POST", "/api/v1/requests/%s/documents" % a["code"],
            headers=[("Authorization", "Bearer " + a["token"]), ("Content-Disposition", b'attachment; filename="' + trick.encode() + b'"')],
            content_type="image/jpeg", body=b"GIF89a", kind="transport" if "\x00" in trick else "json")
    for path in ("/api/v1/requests/..%2f..%2f..%2fetc%2fpasswd", "/api/v1/requests/%2e%2e", "/api/v1/requests/%2e%2e%2f%2e%2e%2fstaff%2fme",
                 "/api/v1/requests/%252e%252e%252f", "/api/v1/public/requests/..%5c..%5cwindows%5cwin.ini",
                 "/api/v1/requests/%s/documents/..%%2f..%%2f1" % a["code"], "/api/v1/requests/%s/documents/%%2e%%2e" % a["code"],
                 "/api/v1/services/..%2f..%2fopenapi.yaml", "/api/v1/staff/requests/%2e%2e%2f%2e%2e%2fmanager%2freports",
                 "/api/v1/requests/SRG-" + "A" * 5000, "/api/v1/public/requests/" + "SRG-ABCD-" * 600,
                 "/api/v1/public/requests/%s" % urllib.parse.quote("SRG-ⅠⅠⅠⅠ-ＡＢＣＤ-ＥＦＧＨ"),
                 "/api/v1/public/requests/%s" % UNKNOWN_CODE.replace("-", "/"), "/api/v1/requests/%s/documents/" % a["code"] + "9" * 400):
        add("path: %s" % path[:60], "GET", path, auth=staff if "/staff/" in path else None,
            headers=[("Authorization", "Bearer " + a["token"])] if "/api/v1/requests/" in path else ())
    add("path: /api/v1/requests/../../etc/passwd (raw dots)", "GET", "/api/v1/requests/../../etc/passwd")
    add("path: //api//v1//requests", "POST", "//api//v1//requests", body=valid, content_type="application/json")
    add("path: open311 ..%2f in an id", "GET", "/open311/v2/requests/..%2f..%2fetc%2fpasswd.json", kind="open311")
    add("path: open311 %2e%2e as a service", "GET", "/open311/v2/services/%2e%2e.xml", kind="open311")
    add("path: open311 unknown format .php", "GET", "/open311/v2/requests.php", kind="open311")
    add("path: open311 POST to format %2e%2e", "POST", "/open311/v2/requests.%2e%2e", body=form(o311),
        content_type="application/x-www-form-urlencoded", kind="open311")
    add("path: open311 overlong service code", "GET", "/open311/v2/services/" + "k" * 5000 + ".json", kind="open311")
    add("path: 100 KiB URL", "GET", "/api/v1/services/" + "A" * 100000, kind="transport")
    add("path: absolute-form URL to another host", "GET", "http://169.254.169.254/latest/meta-data/")
    add("path: asterisk-form on GET", "GET", "*", kind="transport")

    # -- Header abuse ---------------------------------------------------------------------------------
    add("header: one header of 100 KiB", "GET", "/api/v1/services", headers=[("X-Junk", "a" * 100 * 1024)], kind="transport")
    add("header: 10,000 headers", "GET", "/api/v1/services", headers=[("X-J%d" % i, "v") for i in range(10000)], kind="transport")
    add("header: Authorization of 100 KiB on the staff API", "GET", "/api/v1/staff/me",
        headers=[("Authorization", "Bearer lks_" + "a" * 100 * 1024)], kind="transport")
    add("header: Authorization of 8 KiB on the staff API", "GET", "/api/v1/staff/me", headers=[("Authorization", "Bearer lks_" + "a" * 8192)])
    add("header: Authorization Basic on the staff API", "GET", "/api/v1/staff/queue", headers=[("Authorization", "Basic YWRtaW46YWRtaW4=")])
    add("header: two Authorization headers", "GET", "/api/v1/staff/me",
        headers=[("Authorization", "Bearer lks_nope"), ("Authorization", "Bearer " + staff)])
    add("header: 300 X-Forwarded-For addresses on a filing", "POST", "/api/v1/requests", body=dumps(filing(nik_a, **{"citizen.nik": "1"})),
        content_type="application/json", headers=[("X-Forwarded-For", ", ".join("10.9.%d.%d" % (i // 250, i % 250) for i in range(300)))])
    citizen_json("header: Idempotency-Key of 300 characters", "/api/v1/requests", valid, headers=[("Idempotency-Key", "k" * 300)])
    citizen_json("header: Idempotency-Key of 8 KiB", "/api/v1/requests", valid, headers=[("Idempotency-Key", "k" * 8192)])
    citizen_json("header: Idempotency-Key with spaces", "/api/v1/requests", valid, headers=[("Idempotency-Key", "a key")])
    citizen_json("header: Idempotency-Key non-ASCII", "/api/v1/requests", valid, headers=[("Idempotency-Key", "kunci-é")])
    citizen_json("header: Idempotency-Key empty", "/api/v1/requests", valid, headers=[("Idempotency-Key", "")])
    citizen_json("header: two Idempotency-Keys", "/api/v1/requests", valid, headers=[("Idempotency-Key", "one"), ("Idempotency-Key", "two")])
    citizen_json("header: two Content-Types", "/api/v1/requests", valid, content_type="text/plain", headers=[("Content-Type", "application/json")])
    citizen_json("header: Accept-Language of 8 KiB", "/api/v1/requests", b"{}", headers=[("Accept-Language", "en;q=0.5," * 900)])
    citizen_json("header: Accept-Language q=NaN, q=1e400", "/api/v1/requests", b"{}", headers=[("Accept-Language", "en;q=NaN, id;q=1e400, *;q=-0")])
    citizen_json("header: X-Request-ID of 8 KiB with a script", "/api/v1/requests", b"{}",
                 headers=[("X-Request-ID", "<script>" + "r" * 8192)])
    add("header: 400 headers of 100 bytes", "GET", "/api/v1/requests/%s" % UNKNOWN_CODE,
        headers=[("X-J%d" % i, "v" * 100) for i in range(400)])
    add("header: Content-Length -1", "POST", "/api/v1/requests", headers=[("Content-Length", "-1")], kind="transport", length=False)
    add("header: Content-Length 2^64", "POST", "/api/v1/requests", headers=[("Content-Length", "18446744073709551616")],
        kind="transport", length=False)
    add("header: two different Content-Lengths", "POST", "/api/v1/requests", content_type="application/json",
        headers=[("Content-Length", "2"), ("Content-Length", "3")], body=b"{}", kind="transport", length=False)
    add("header: Transfer-Encoding chunked with Content-Length", "POST", "/api/v1/requests", content_type="application/json",
        headers=[("Content-Length", "4"), ("Transfer-Encoding", "chunked")], body=b"0\r\n\r\n", kind="transport", length=False)
    add("header: Transfer-Encoding gzip, chunked", "POST", "/api/v1/requests", content_type="application/json",
        headers=[("Transfer-Encoding", "gzip, chunked")], body=b"2\r\n{}\r\n0\r\n\r\n", kind="transport", length=False)
    add("header: chunked body of 12 MiB", "POST", "/api/v1/requests", content_type="application/json",
        headers=[("Transfer-Encoding", "chunked")], length=False,
        body=b"".join(b"100000\r\n" + b"x" * 0x100000 + b"\r\n" for _ in range(12)) + b"0\r\n\r\n")
    add("header: chunk size overflow", "POST", "/api/v1/requests", content_type="application/json",
        headers=[("Transfer-Encoding", "chunked")], body=b"FFFFFFFFFFFFFFFFFF\r\nx\r\n", kind="transport", length=False)
    add("body: 10 of 100 promised bytes, then the client half-closes", "POST", "/api/v1/requests", content_type="application/json",
        headers=[("Content-Length", "100")], body=b'{"service_', length=False, half_close=True)
    add("body: chunked, then the client half-closes before the last chunk", "POST", "/api/v1/requests", content_type="application/json",
        headers=[("Transfer-Encoding", "chunked")], body=b"a\r\n{\"service_c\r\n", length=False, half_close=True)
    add("upload: 1 KiB of 1 MiB promised, then the client half-closes", "POST", "/api/v1/requests/%s/documents" % a["code"],
        headers=[("Authorization", "Bearer " + a["token"]), ("Content-Length", str(1 << 20))], content_type="application/pdf",
        body=PDF + b"0" * 1000, length=False, half_close=True)
    add("header: name with a space", "GET", "/api/v1/services", headers=[("Bad Name", "v")], kind="transport")
    add("header: CR inside a value", "GET", "/api/v1/services", headers=[("X-A", b"a\rb")], kind="transport")
    add("header: obsolete line folding", "GET", "/api/v1/services", headers=[("X-A", b"a\r\n b")], kind="transport")
    add("header: Content-Type with a NUL", "POST", "/api/v1/requests", headers=[("Content-Type", b"application/json\x00")],
        body=valid, kind="transport")
    add("header: HTTP/1.1 without Host", "GET", "/api/v1/requests/%s" % UNKNOWN_CODE, headers=[("Host", "")])
    add("method: DELETE on a request", "DELETE", "/api/v1/requests/%s" % a["code"], headers=[("Authorization", "Bearer " + a["token"])])
    add("method: PUT on the filing route", "PUT", "/api/v1/requests", body=valid, content_type="application/json")
    add("method: TRACE", "TRACE", "/api/v1/requests")
    add("method: made-up method", "FOO", "/api/v1/requests", kind="transport")
    # RFC 9110 10.1.1: the client sends the head and waits; the server must answer at once, with
    # 100 (Continue) or, when it refuses the request anyway, the final status (and no 100).
    add("header: Expect: 100-continue with 100 MB declared, no body sent", "POST", "/api/v1/requests",
        content_type="application/json", headers=[("Expect", "100-continue"), ("Content-Length", "100000000")],
        length=False, kind="expect", statuses={413})
    add("header: Expect: 100-continue with a filing's length declared, body withheld", "POST", "/api/v1/requests",
        content_type="application/json", headers=[("Expect", "100-continue"), ("Content-Length", str(len(valid)))],
        length=False, kind="expect", statuses={100})
    add("header: Expect: 100-continue on an upload, body withheld", "POST", "/api/v1/requests/%s/documents" % a["code"],
        headers=[("Authorization", "Bearer " + a["token"]), ("Expect", "100-continue"), ("Content-Length", str(1 << 20))],
        content_type="application/pdf", length=False, kind="expect", statuses={100})
    add("header: Expect: something-else, body withheld", "POST", "/api/v1/requests",
        content_type="application/json", headers=[("Expect", "something-else"), ("Content-Length", str(len(valid)))],
        length=False, kind="expect", statuses={417})
    add("header: Expect: 100-continue on an Open311 filing, body withheld", "POST", "/open311/v2/requests.json",
        content_type="application/x-www-form-urlencoded", headers=[("Expect", "100-continue"), ("Content-Length", "100")],
        length=False, kind="expect", statuses={100})

    # -- Last: cases whose acceptance would change request C (so they cannot disturb the others) ---
    # A NUL cannot be stored in PostgreSQL text; such text must be refused before SQL, never a 500.
    staff_json("staff note (open C): NUL in text", "/requests/%s/notes" % c["code"], dumps({"text": "catatan\x00rahasia"}))
    staff_json("staff note (open C): ESC and BEL in text", "/requests/%s/notes" % c["code"], dumps({"text": "a\x1b[2Jb\x07"}))
    staff_json("staff note (open C): 4,001 characters", "/requests/%s/notes" % c["code"], dumps({"text": "n" * 4001}))
    staff_json("staff note (open C): empty JSON object", "/requests/%s/notes" % c["code"], b"{}")
    staff_json("staff note (open C): text is a number", "/requests/%s/notes" % c["code"], b'{"text":1e400}')
    staff_json("staff reject (open C): NUL in reason", "/requests/%s/reject" % c["code"], dumps({"reason": "tidak\x00lengkap"}))
    staff_json("staff resolve (open C): NUL in public_message", "/requests/%s/resolve" % c["code"], dumps({"public_message": "selesai\x00"}))
    citizen_json("cancel (open C): NUL in reason", "/api/v1/requests/%s/cancel" % c["code"], dumps({"reason": "batal\x00"}), token=c["token"])
    citizen_json("cancel (open C): ESC in reason", "/api/v1/requests/%s/cancel" % c["code"], dumps({"reason": "batal\x1b[31m"}), token=c["token"])
    citizen_json("cancel (open C): 1,001 characters", "/api/v1/requests/%s/cancel" % c["code"], dumps({"reason": "r" * 1001}), token=c["token"])
    citizen_json("cancel (open C): reason is an object", "/api/v1/requests/%s/cancel" % c["code"], b'{"reason":{"$ne":null}}', token=c["token"])
    citizen_json("cancel (open C): wrong access token", "/api/v1/requests/%s/cancel" % c["code"], b"{}", token=b["token"])
    return cases


# ------------------------------------------------------------------------------------------------
# Judging

CODE = re.compile(r"^[a-z][a-z0-9_]*$")


def judge(case, answer, max_seconds):
    """(verdict text or None if fine, stable code)"""
    limit = case.max_seconds or max_seconds
    if answer.elapsed > limit:
        return "no complete answer within %.0fs (took %.1fs; %s)" % (limit, answer.elapsed, answer.error or "slow"), None
    if answer.status is None:
        closed = answer.error and (answer.error.startswith("closed") or "reset" in answer.error.lower())
        if case.kind == "transport" and closed:
            return None, "closed"
        return "no answer (%s)" % answer.error, None
    if case.kind == "expect":
        if answer.status not in case.statuses:
            return "answered %d, expected %s" % (answer.status, "/".join(map(str, sorted(case.statuses)))), None
        if answer.status >= 400 and not answer.complete:
            return "incomplete answer %d (%s)" % (answer.status, answer.error), None
        return None, (json_code(answer) or str(answer.status)) if answer.status >= 400 else "continue"
    if not answer.complete:
        return "incomplete answer %d (%s)" % (answer.status, answer.error), None
    if answer.status >= 500:
        return "server error %d: %s" % (answer.status, answer.body[:300]), None
    if not 400 <= answer.status < 500:
        return "not refused: %d %s" % (answer.status, answer.body[:200]), None
    if case.kind == "transport":
        if answer.body:
            code = json_code(answer)
            return None, code or "parser"
        return None, "parser"
    if case.kind == "open311":
        code = open311_code(answer)
        if code is None:
            return "%d without an Open311 error list: %s" % (answer.status, answer.body[:200]), None
        if code != answer.status:
            return "Open311 error code %s differs from the status %d" % (code, answer.status), None
        return None, str(code)
    content_type = answer.headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        return "%d with Content-Type %r: %s" % (answer.status, content_type, answer.body[:200]), None
    code = json_code(answer)
    if code is None or not CODE.match(code):
        return "%d without {\"error\":{\"code\"}} (code %r): %s" % (answer.status, code, answer.body[:200]), None
    return None, code


def json_code(answer):
    try:
        code = json.loads(answer.body)["error"]["code"]
        return code if isinstance(code, str) else None
    except Exception:
        return None


def open311_code(answer):
    """The one error code of an Open311 error list (JSON or XML), or None if the body is not one."""
    codes = None
    try:
        document = json.loads(answer.body)
        if isinstance(document, list) and document and all(
                isinstance(e, dict) and isinstance(e.get("code"), int) and isinstance(e.get("description"), str) for e in document):
            codes = {e["code"] for e in document}
    except ValueError:
        try:
            root = ET.fromstring(answer.body)
            errors = root.findall("error")
            if root.tag == "errors" and errors and all(e.findtext("description") for e in errors):
                codes = {int(e.findtext("code")) for e in errors}
        except (ET.ParseError, TypeError, ValueError):
            pass
    return codes.pop() if codes and len(codes) == 1 else None


def alive(port):
    answer = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", b"", 10)
    return answer.status == 200


def port_of(base):
    return urllib.parse.urlsplit(base).port


def run_refuse(args):
    port = port_of(args.base)
    with open(args.fixtures) as source:
        fixtures = json.load(source)
    cases = corpus(fixtures, args.staff_token, args.manager_token, args.api_key)
    if args.only:
        cases = [c for c in cases if args.only in c.name]
    names = [c.name for c in cases]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        print("corpus error: duplicate case names %s" % sorted(duplicates)[:5])
        return 2
    print("hostile corpus: %d cases x %d round(s)" % (len(cases), args.rounds))
    results = {}
    violations = []
    address = [0]
    started = time.monotonic()
    for round_number in range(1, args.rounds + 1):
        for case in cases:
            address[0] += 1
            head, body = case.wire("10.%d.%d.%d" % (100 + round_number, (address[0] >> 8) & 255, address[0] & 255))
            answer = exchange(port, head, body, (case.max_seconds or args.max_seconds) + 5, case.half_close)
            verdict, code = judge(case, answer, args.max_seconds)
            outcome = (answer.status, code)
            if verdict:
                violations.append("%s: %s" % (case.name, verdict))
            elif case.name in results and results[case.name] != outcome:
                violations.append("%s: unstable answer: %s then %s" % (case.name, results[case.name], outcome))
            results.setdefault(case.name, outcome)
            if not alive(port):
                violations.append("%s: the server stopped answering /healthz after this case" % case.name)
                print("FATAL: loketd stopped answering after %r" % case.name)
                break
        else:
            continue
        break
    elapsed = time.monotonic() - started
    tally = {}
    for name, (status, code) in results.items():
        tally[(status, code)] = tally.get((status, code), 0) + 1
    print("answers (status, code: cases):")
    for (status, code), count in sorted(tally.items(), key=lambda item: (str(item[0][0]), str(item[0][1]))):
        print("  %s %-32s %d" % (status, code, count))
    if args.report:
        with open(args.report, "w") as out:
            for case in cases:
                status, code = results.get(case.name, (None, None))
                out.write("%s\t%s\t%s\t%s\n" % (case.kind, status, code, case.name))
    transport = sum(1 for c in cases if c.kind == "transport")
    print("%d cases in %.1fs (%d of them refused by the HTTP parser before loketd's handlers: no JSON body there)" % (
        len(cases), elapsed, transport))
    for violation in violations:
        print("  VIOLATION %s" % violation)
    print("hostile corpus: %d violations" % len(violations))
    return 1 if violations else 0


# ------------------------------------------------------------------------------------------------
# Fixtures


def call(port, method, path, body=b"", headers=(), timeout=15):
    case = Case("fixture", method, path, headers=headers, body=body)
    head, data = case.wire("10.200.%d.%d" % (int(time.time() * 1000) % 250, threading.get_ident() % 250))
    answer = exchange(port, head, data, timeout)
    if answer.status is None:
        raise RuntimeError("%s %s: %s" % (method, path, answer.error))
    return answer


def file_request(port, nik, service="kk-baru", attributes=None, **changes):
    body = filing(nik, **changes)
    body["service_code"] = service
    if attributes is not None:
        body["attributes"] = attributes
    answer = call(port, "POST", "/api/v1/requests", dumps(body), [("Content-Type", "application/json")])
    if answer.status != 201:
        raise RuntimeError("filing failed: %d %s" % (answer.status, answer.body[:300]))
    return json.loads(answer.body)


def run_fixtures(args):
    port = port_of(args.base)
    fixtures = {}
    for name, nik in (("A", "3673012505850001"), ("B", "3673012505850002"), ("C", "3673012505850003")):
        filed = file_request(port, nik)
        fixtures[name] = {"code": filed["tracking_code"], "token": filed["access_token"], "nik": nik}
        fixtures["unit"] = filed["unit"]["code"]
    a = fixtures["A"]
    answer = call(port, "POST", "/api/v1/requests/%s/documents?filename=ktp.pdf" % a["code"], PDF,
                  [("Content-Type", "application/pdf"), ("Authorization", "Bearer " + a["token"])])
    if answer.status != 201:
        raise RuntimeError("upload failed: %d %s" % (answer.status, answer.body[:300]))
    a["document"] = json.loads(answer.body)["id"]
    b = fixtures["B"]
    answer = call(port, "POST", "/api/v1/requests/%s/cancel" % b["code"], dumps({"reason": "uji"}),
                  [("Content-Type", "application/json"), ("Authorization", "Bearer " + b["token"])])
    if answer.status != 200:
        raise RuntimeError("cancel failed: %d %s" % (answer.status, answer.body[:300]))
    with open(args.out, "w") as out:
        json.dump(fixtures, out)
    print("fixtures: A %s (open, document %s), B %s (cancelled), C %s (open), unit %s" % (
        a["code"], a["document"], b["code"], fixtures["C"]["code"], fixtures["unit"]))
    return 0


# ------------------------------------------------------------------------------------------------
# Acceptance of hostile text where it is legitimate


def run_accept(args):
    port = port_of(args.base)
    with open(args.fixtures) as source:
        fixtures = json.load(source)
    problems = []
    created = {"service_requests": 0, "documents": 0}

    def check(condition, text):
        if not condition:
            problems.append(text)

    # 1. JSON filings: every free-text field carries fragments; read back by the citizen and staff.
    texts = FRAGMENTS + ["Robert'); DROP TABLE students;--", "O'Brien \"Bob\" <b>&amp;</b> \\ % _ ; --"]
    for index in range(0, len(texts), 3):
        name, address, description = (texts[(index + k) % len(texts)] for k in range(3))
        nik = "36730125058%05d" % (10 + index)
        filed = file_request(port, nik, service="ktp-el",
                             attributes={"jenis_permohonan": "hilang", "nomor_kk": texts[(index + 3) % len(texts)]},
                             **{"citizen.name": name, "address": address, "description": description})
        created["service_requests"] += 1
        code, token = filed["tracking_code"], filed["access_token"]
        detail = call(port, "GET", "/api/v1/requests/" + code, headers=[("Authorization", "Bearer " + token)])
        check(detail.status == 200, "citizen detail of %s: %d" % (code, detail.status))
        if detail.status == 200:
            document = json.loads(detail.body)
            check(document["citizen"]["name"] == name, "name not verbatim: %r vs %r" % (document["citizen"]["name"], name))
            check(document["address"] == address, "address not verbatim: %r vs %r" % (document["address"], address))
            check(document["description"] == description, "description not verbatim: %r vs %r" % (document["description"], description))
            check(document["attributes"].get("nomor_kk") == texts[(index + 3) % len(texts)], "text attribute not verbatim")
        staff_detail = call(port, "GET", "/api/v1/staff/requests/" + code, headers=[("Authorization", "Bearer " + args.staff_token)])
        check(staff_detail.status in (200, 403), "staff detail of %s: %d %s" % (code, staff_detail.status, staff_detail.body[:200]))
        public = call(port, "GET", "/api/v1/public/requests/" + code)
        check(public.status == 200, "public view of %s: %d" % (code, public.status))

    # 2. Open311 filing with fragments in its free-text fields; read back in XML and JSON.
    pairs = [("api_key", args.api_key), ("service_code", "akta-kelahiran"), ("lat", "-6.1204"), ("long", "106.1503"),
             ("email", "warga@example.id"), ("description", SQL[1] + " " + SQL[3] + " " + SCRIPT[3]), ("address_string", SCRIPT[4]),
             ("first_name", SQL[0]), ("last_name", SCRIPT[1]), ("account_id", SQL[3]), ("device_id", SCRIPT[2])]
    answer = call(port, "POST", "/open311/v2/requests.xml", form(pairs), [("Content-Type", "application/x-www-form-urlencoded")])
    check(answer.status == 200, "Open311 filing with fragments: %d %s" % (answer.status, answer.body[:300]))
    if answer.status == 200:
        created["service_requests"] += 1
        root = ET.fromstring(answer.body)
        check(root.findtext("request/account_id") == SQL[3], "Open311 account_id not echoed verbatim")
        code = root.findtext("request/service_request_id")
        for fmt in ("xml", "json"):
            detail = call(port, "GET", "/open311/v2/requests/%s.%s" % (code, fmt))
            check(detail.status == 200, "Open311 detail .%s: %d" % (fmt, detail.status))
            if fmt == "xml" and detail.status == 200:
                try:
                    ET.fromstring(detail.body)
                except ET.ParseError as exc:
                    problems.append("Open311 XML detail is not well-formed: %s" % exc)

    # 3. A staff note with fragments on A, read back in the staff view's audit trail.
    a = fixtures["A"]
    note = SQL[2] + " " + SCRIPT[0] + " " + SQL[1]
    answer = call(port, "POST", "/api/v1/staff/requests/%s/notes" % a["code"], dumps({"text": note}),
                  [("Content-Type", "application/json"), ("Authorization", "Bearer " + args.staff_token)])
    check(answer.status == 201, "staff note with fragments: %d %s" % (answer.status, answer.body[:300]))
    detail = call(port, "GET", "/api/v1/staff/requests/" + a["code"], headers=[("Authorization", "Bearer " + args.staff_token)])
    timeline = json.loads(detail.body).get("audit", []) if detail.status == 200 else []
    check(any(note in json.dumps(entry, ensure_ascii=False) for entry in timeline),
          "the staff note is not in the audit trail verbatim (staff detail %d): %s" % (detail.status, json.dumps(timeline)[:1500]))

    # 4. PDFs uploaded under path-trick names: stored under a plain name, downloaded safely.
    sent = []
    for trick in PATH_TRICKS + ["<script>alert(1)</script>.pdf", "x" * 1000 + ".pdf", "\r\nSet-Cookie: a=b.pdf", "dokumen.pdf"]:
        if "\r" in trick or "\n" in trick or "\x00" in trick:
            boundary = b"loketboundary"
            body = multipart(boundary, [(b'Content-Disposition: form-data; name="file"; filename="' + trick.encode() + b'"', PDF)])
            answer = call(port, "POST", "/api/v1/requests/%s/documents" % a["code"], body,
                          [("Content-Type", "multipart/form-data; boundary=loketboundary"), ("Authorization", "Bearer " + a["token"])])
        else:
            answer = call(port, "POST", "/api/v1/requests/%s/documents?filename=%s" % (a["code"], urllib.parse.quote(trick, safe="")),
                          PDF, [("Content-Type", "application/pdf"), ("Authorization", "Bearer " + a["token"])])
        if answer.status == 201:
            created["documents"] += 1
            stored = json.loads(answer.body)
            sent.append((trick, stored))
        else:
            check(400 <= answer.status < 500 and json_code(answer), "upload named %r: %d %s" % (trick, answer.status, answer.body[:200]))
    for trick, stored in sent:
        name = stored.get("filename", "")
        check(name and "/" not in name and "\\" not in name and not name.startswith(".") and len(name) <= 200
              and not any(ord(ch) < 32 or ord(ch) == 127 or 0x202A <= ord(ch) <= 0x202E or 0x2066 <= ord(ch) <= 0x2069 for ch in name),
              "upload named %r stored as %r" % (trick, name))
        download = call(port, "GET", "/api/v1/requests/%s/documents/%s" % (a["code"], stored["id"]),
                        headers=[("Authorization", "Bearer " + a["token"])])
        disposition = download.headers.get("content-disposition", "")
        check(download.status == 200 and download.body == PDF, "download of %r: %d" % (trick, download.status))
        check(disposition.startswith("attachment") and "\r" not in disposition and "\n" not in disposition
              and "set-cookie" not in {k for k in download.headers} and download.headers.get("x-content-type-options") == "nosniff",
              "download of %r: unsafe headers %r" % (trick, download.headers))

    with open(args.out, "w") as out:
        json.dump(created, out)
    for problem in problems:
        print("  PROBLEM %s" % problem)
    print("accept: %d requests and %d documents with hostile text stored and read back; %d problems" % (
        created["service_requests"], created["documents"], len(problems)))
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    fixtures = commands.add_parser("fixtures")
    fixtures.add_argument("--base", required=True)
    fixtures.add_argument("--out", required=True)
    refuse = commands.add_parser("refuse")
    refuse.add_argument("--base", required=True)
    refuse.add_argument("--fixtures", required=True)
    refuse.add_argument("--staff-token", required=True)
    refuse.add_argument("--manager-token", required=True)
    refuse.add_argument("--api-key", required=True)
    refuse.add_argument("--rounds", type=int, default=1)
    refuse.add_argument("--max-seconds", type=float, default=10)
    refuse.add_argument("--report", help="write kind, status, code and name of every case (TSV)")
    refuse.add_argument("--only", help="run only the cases whose name contains this")
    accept = commands.add_parser("accept")
    accept.add_argument("--base", required=True)
    accept.add_argument("--fixtures", required=True)
    accept.add_argument("--staff-token", required=True)
    accept.add_argument("--api-key", required=True)
    accept.add_argument("--out", required=True)
    args = parser.parse_args()
    return {"fixtures": run_fixtures, "refuse": run_refuse, "accept": run_accept}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
