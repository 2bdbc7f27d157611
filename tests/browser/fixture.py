"""Creates the browser tests' fixture through Loket's real HTTP APIs and prints it as JSON.

    python3 tests/browser/fixture.py BASE_URL OFFICER_TOKEN > fixture.json

Five family-card (kk-baru) requests are filed as citizens would; an officer of the unit they are
routed to claims them and resolves two, rejects one and asks the citizen about one; the citizens
of the two completed requests give IKM feedback (all 4s and all 3s). The fifth stays queued
(tests/browser/run.sh then moves its response deadline into the past, the only step that cannot
go through the API, so that the dashboard has a breach).

Expected on the public pages for the current period, all in one unit: 3 closed, 3 of 3 resolved
on time (100%), IKM 87.50 (grade B: the mean of 100 and 75).
Only the standard library is used, so the script runs before any virtual environment exists.
"""

import json
import sys
import urllib.error
import urllib.request


def call(base, method, path, body=None, token=None, forwarded=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    if forwarded:
        request.add_header("X-Forwarded-For", forwarded)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return json.loads(text) if text else {}
    except urllib.error.HTTPError as error:
        raise SystemExit(f"{method} {path} answered {error.code}: {error.read().decode()}")


def file_request(base, serial, description):
    body = {
        "service_code": "kk-baru",
        "citizen": {
            "name": f"Warga Uji {serial}",
            "nik": f"36730125058500{serial:02d}",
            "phone": "0812-3456-7890",
            "email": f"warga{serial}@example.id",
        },
        "area_code": "36.73.01.1001",
        "address": "Jl. Ki Mas Jong No. 5",
        "description": description,
        "attributes": {"alasan": "keluarga_baru"},
    }
    return call(base, "POST", "/api/v1/requests", body, forwarded=f"10.254.1.{serial}")


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: fixture.py BASE_URL OFFICER_TOKEN")
    base, officer = sys.argv[1].rstrip("/"), sys.argv[2]
    filed = [file_request(base, serial, f"Permohonan uji peramban {serial}") for serial in range(1, 6)]
    completed_a, completed_b, rejected, waiting, queued = filed
    for receipt in (completed_a, completed_b, rejected, waiting):
        call(base, "POST", f"/api/v1/staff/requests/{receipt['tracking_code']}/claim", {}, token=officer)
    for receipt in (completed_a, completed_b):
        call(base, "POST", f"/api/v1/staff/requests/{receipt['tracking_code']}/resolve",
             {"public_message": "KK dapat diambil di loket 3 <b>dengan</b> KTP asli."}, token=officer)
    call(base, "POST", f"/api/v1/staff/requests/{rejected['tracking_code']}/reject",
         {"reason": "Dokumen pendukung tidak sesuai."}, token=officer)
    call(base, "POST", f"/api/v1/staff/requests/{waiting['tracking_code']}/ask",
         {"question": "Mohon unggah buku nikah. <script>alert(1)</script>"}, token=officer)
    for receipt, score in ((completed_a, 4), (completed_b, 3)):
        call(base, "POST", f"/api/v1/requests/{receipt['tracking_code']}/feedback",
             {"scores": [score] * 9}, token=receipt["access_token"], forwarded="10.254.2.1")
    unit = completed_a["unit"]
    json.dump({
        "unit_code": unit["code"],
        "unit_name": unit["name"],
        "waiting": {"code": waiting["tracking_code"], "token": waiting["access_token"]},
        "completed": {"code": completed_a["tracking_code"], "token": completed_a["access_token"]},
        "queued": {"code": queued["tracking_code"], "token": queued["access_token"]},
        "closed": 3,
        "on_time_percent": "100%",
        "ikm_id": "87,50 (B)",
        "ikm_en": "87.50 (B)",
    }, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
