#!/usr/bin/env python3
"""Load generators of the reliability checks (standard library only: http.client and threads).

    load.py intake  --base URL --out FILE --stop-file FILE [--clients N] [--max-seconds S] ...
        Citizens filing valid requests, each with its own Idempotency-Key and NIK, retrying the same
        key and body on connection errors, timeouts and 5xx until they get a 201. When the stop file
        appears, each client finishes the filing it has started (the server is up by then) and stops.
        Every attempt is written to --attempts (JSON lines) when given; the acknowledged filings
        (key, body, tracking code) go to --out as JSON.

    load.py replay  --base URL --acks FILE [--sample N]
        Sends acknowledged filings again with their key and body: each must be answered 201 with
        Idempotent-Replayed: true and the same tracking code.

    load.py readers --base URL --attempts FILE --stop-file FILE --fixtures FILE [--clients N]
        Reads (public view, detail with the access token, catalog) and probes /readyz in a loop,
        writing every attempt to --attempts.

    load.py outage  --attempts FILE [FILE…] --events FILE [--recovery S]
        Judges the attempts of a PostgreSQL outage (restart-postgres-during-load.sh); exits 1 on a
        violation. Events are lines "NAME UNIX-TIME": restart_begin/restart_end around each
        `pg_ctl restart -m fast`; down (before pg_ctl stop), stopped (once it returned), starting
        (before pg_ctl start) and up (once PostgreSQL accepts connections) for each held outage.

Each filing uses NIK 367301 + DDMMYY + a 4-digit serial (never 0000), all distinct in a run, and
its own X-Forwarded-For address, so that the per-client rate limit of a server started with
--trust-forwarded-for never refuses one.
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

FILING_TEMPLATE = {
    "service_code": "kk-baru",
    "citizen": {"name": "Warga Uji Keandalan", "nik": None, "phone": "0812-3456-7890", "email": "warga@example.id"},
    "area_code": "36.73.01.1001",
    "address": "Jl. Ki Mas Jong No. 5",
    "description": None,
    "attributes": {"alasan": "keluarga_baru"},
}


def nik_for(index):
    """A valid NIK of Kota Serang (region 367301), distinct for every index below 9999*28*12*50."""
    serial = index % 9999 + 1
    q = index // 9999
    day = q % 28 + 1
    q //= 28
    month = q % 12 + 1
    q //= 12
    year = 50 + q % 50
    return "367301%02d%02d%02d%04d" % (day, month, year, serial)


def address_for(index):
    return "10.%d.%d.%d" % ((index >> 16) & 255, (index >> 8) & 255, index & 255)


def filing_body(index, key):
    body = json.loads(json.dumps(FILING_TEMPLATE))
    body["citizen"]["nik"] = nik_for(index)
    body["description"] = "Uji keandalan, kunci %s" % key
    return json.dumps(body, separators=(",", ":")).encode()


class Endpoint:
    def __init__(self, base, timeout):
        parts = urllib.parse.urlsplit(base)
        self.host = parts.hostname
        self.port = parts.port
        self.timeout = timeout

    def call(self, method, path, body=None, headers=None):
        """(status, headers dict lower-cased, body bytes); raises OSError/HTTPException on transport errors."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            connection.close()


def error_code(data):
    try:
        return json.loads(data)["error"]["code"]
    except Exception:
        return None


def classify(exc):
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return "timeout"
    return "connection_error"


class AttemptLog:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.file = open(path, "a", buffering=1) if path else None

    def write(self, record):
        if self.file:
            with self.lock:
                self.file.write(json.dumps(record, separators=(",", ":")) + "\n")


# ------------------------------------------------------------------------------------------------
# intake


def run_intake(args):
    endpoint = Endpoint(args.base, args.timeout)
    log = AttemptLog(args.attempts)
    lock = threading.Lock()
    counter = [args.first_index]
    acks = []
    problems = []
    stats = {"attempts": 0, "connection_error": 0, "timeout": 0, "status_503": 0, "status_5xx_other": 0,
             "status_429": 0, "replayed": 0, "retried_keys": 0}
    started = time.time()
    hard_deadline = started + args.max_seconds
    stop = threading.Event()

    def watch_stop_file():
        while not stop.is_set():
            if os.path.exists(args.stop_file) or time.time() > hard_deadline:
                stop.set()
            time.sleep(0.05)

    def bump(name):
        with lock:
            stats[name] += 1

    def client(number):
        rng = random.Random(number)
        while not stop.is_set():
            with lock:
                index = counter[0]
                counter[0] += 1
            key = "rel-%d-%d-%06d" % (args.run_id, number, index)
            body = filing_body(index, key)
            headers = {"Content-Type": "application/json", "Idempotency-Key": key,
                       "X-Forwarded-For": address_for(index), "Accept-Language": "en"}
            attempt = 0
            finish_deadline = None
            while True:
                if stop.is_set() and finish_deadline is None:
                    finish_deadline = time.time() + args.finish_seconds
                if finish_deadline is not None and time.time() > finish_deadline:
                    with lock:
                        problems.append({"key": key, "problem": "no 201 within %ss after the load stopped" % args.finish_seconds,
                                         "attempts": attempt})
                    return
                attempt += 1
                bump("attempts")
                t0 = time.time()
                record = {"t0": t0, "kind": "file", "key": key, "attempt": attempt}
                try:
                    status, answer_headers, data = endpoint.call("POST", "/api/v1/requests", body, headers)
                except (OSError, http.client.HTTPException) as exc:
                    outcome = classify(exc)
                    bump(outcome)
                    record.update(t1=time.time(), outcome=outcome, detail=str(exc)[:200])
                    log.write(record)
                    time.sleep(rng.uniform(0.05, 0.25))
                    continue
                record.update(t1=time.time(), outcome="status", status=status, code=error_code(data),
                              retry_after=answer_headers.get("retry-after"))
                log.write(record)
                if status == 201:
                    answer = json.loads(data)
                    replayed = answer_headers.get("idempotent-replayed") == "true"
                    if replayed:
                        bump("replayed")
                    if attempt > 1:
                        bump("retried_keys")
                    with lock:
                        acks.append({"key": key, "index": index, "tracking_code": answer["tracking_code"],
                                     "attempts": attempt, "replayed": replayed, "body": body.decode()})
                    break
                if status == 503 or status == 429:
                    # As a well-behaved client: wait as long as Retry-After says (at most 2 s).
                    bump("status_503" if status == 503 else "status_429")
                    retry_after = answer_headers.get("retry-after") or "1"
                    time.sleep(min(float(retry_after) if retry_after.isdigit() else 1.0, 2.0) * rng.uniform(0.8, 1.2))
                    continue
                if status >= 500:
                    bump("status_5xx_other")
                    with lock:
                        problems.append({"key": key, "problem": "answer %d" % status, "body": data[:300].decode(errors="replace")})
                    time.sleep(0.2)
                    continue
                with lock:
                    problems.append({"key": key, "problem": "answer %d" % status, "body": data[:300].decode(errors="replace")})
                break

    watcher = threading.Thread(target=watch_stop_file, daemon=True)
    watcher.start()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    result = {"acks": acks, "problems": problems, "stats": stats, "seconds": round(time.time() - started, 1)}
    with open(args.out, "w") as out:
        json.dump(result, out)
    print("intake: %d acknowledged in %.1fs; %s; %d problems" % (
        len(acks), time.time() - started, ", ".join("%s %d" % kv for kv in stats.items()), len(problems)))
    for problem in problems[:10]:
        print("  problem: %s" % json.dumps(problem))
    return 0


# ------------------------------------------------------------------------------------------------
# replay


def run_replay(args):
    endpoint = Endpoint(args.base, args.timeout)
    with open(args.acks) as source:
        acks = json.load(source)["acks"]
    rng = random.Random(7)
    sample = acks if len(acks) <= args.sample else rng.sample(acks, args.sample)
    bad = 0
    for ack in sample:
        headers = {"Content-Type": "application/json", "Idempotency-Key": ack["key"],
                   "X-Forwarded-For": address_for(ack["index"] + 1_000_000)}
        status, answer_headers, data = endpoint.call("POST", "/api/v1/requests", ack["body"].encode(), headers)
        code = json.loads(data).get("tracking_code") if status == 201 else None
        if status != 201 or answer_headers.get("idempotent-replayed") != "true" or code != ack["tracking_code"]:
            bad += 1
            print("  replay of %s: %d, replayed=%s, code %s (acknowledged %s)" % (
                ack["key"], status, answer_headers.get("idempotent-replayed"), code, ack["tracking_code"]))
    print("replay: %d of %d replays answered with the acknowledged tracking code" % (len(sample) - bad, len(sample)))
    return 1 if bad else 0


# ------------------------------------------------------------------------------------------------
# readers


def run_readers(args):
    endpoint = Endpoint(args.base, args.timeout)
    log = AttemptLog(args.attempts)
    with open(args.fixtures) as source:
        fixtures = [line.split() for line in source if line.strip()]
    stop = threading.Event()

    def watch_stop_file():
        deadline = time.time() + args.max_seconds
        while not os.path.exists(args.stop_file) and time.time() < deadline:
            time.sleep(0.05)
        stop.set()

    def one(kind, path, headers, rng):
        t0 = time.time()
        record = {"t0": t0, "kind": kind}
        try:
            status, answer_headers, data = endpoint.call("GET", path, None, headers)
            record.update(outcome="status", status=status, retry_after=answer_headers.get("retry-after"))
            if kind == "readyz":
                try:
                    record["ready_status"] = json.loads(data).get("status")
                except Exception:
                    record["ready_status"] = None
            else:
                record["code"] = error_code(data) if status >= 400 else None
        except (OSError, http.client.HTTPException) as exc:
            record.update(outcome=classify(exc), detail=str(exc)[:200])
        record["t1"] = time.time()
        log.write(record)

    def reader(number):
        rng = random.Random(number)
        while not stop.is_set():
            code, token = rng.choice(fixtures)
            choice = rng.random()
            if choice < 0.45:
                one("public", "/api/v1/public/requests/" + code, {}, rng)
            elif choice < 0.9:
                one("detail", "/api/v1/requests/" + code, {"Authorization": "Bearer " + token}, rng)
            else:
                one("catalog", "/api/v1/services", {}, rng)
            time.sleep(rng.uniform(0.01, 0.05))

    def prober():
        while not stop.is_set():
            one("readyz", "/readyz", {}, None)
            time.sleep(0.1)

    threading.Thread(target=watch_stop_file, daemon=True).start()
    threads = [threading.Thread(target=reader, args=(n,)) for n in range(args.clients)]
    threads.append(threading.Thread(target=prober))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 0


# ------------------------------------------------------------------------------------------------
# outage


def run_outage(args):
    attempts = []
    for path in args.attempts:
        with open(path) as source:
            attempts += [json.loads(line) for line in source if line.strip()]
    events = []
    with open(args.events) as source:
        for line in source:
            if line.strip():
                name, at = line.split()
                events.append((name, float(at)))
    failures = []
    notes = []

    def fail(text):
        failures.append(text)

    # 1. No hang, no 500, no lost connection to loketd: only answers, and 5xx only as 503.
    transport = [a for a in attempts if a["outcome"] != "status"]
    if transport:
        fail("%d calls got no answer (%s), e.g. %s" % (
            len(transport), ", ".join(sorted({a["outcome"] for a in transport})), json.dumps(transport[0])))
    other5xx = [a for a in attempts if a["outcome"] == "status" and a["status"] >= 500 and a["status"] != 503]
    if other5xx:
        fail("%d answers were 5xx other than 503, e.g. %s" % (len(other5xx), json.dumps(other5xx[0])))
    # 2. Every 503 carries Retry-After; API 503s carry the service_unavailable code.
    unavailable = [a for a in attempts if a.get("status") == 503]
    no_retry = [a for a in unavailable if not (a.get("retry_after") or "").isdigit()]
    if no_retry:
        fail("%d answers 503 without a Retry-After, e.g. %s" % (len(no_retry), json.dumps(no_retry[0])))
    wrong_code = [a for a in unavailable if a["kind"] != "readyz" and a.get("code") != "service_unavailable"]
    if wrong_code:
        fail("%d API answers 503 without the code service_unavailable, e.g. %s" % (len(wrong_code), json.dumps(wrong_code[0])))
    unexpected4xx = [a for a in attempts if a.get("outcome") == "status" and 400 <= a["status"] < 500]
    if unexpected4xx:
        fail("%d answers were 4xx, e.g. %s" % (len(unexpected4xx), json.dumps(unexpected4xx[0])))
    slowest = max((a["t1"] - a["t0"] for a in attempts), default=0)
    notes.append("%d calls, %d answered 503, slowest call %.2fs" % (len(attempts), len(unavailable), slowest))

    # 3. During each held outage (from the moment pg_ctl stop returned until pg_ctl start began):
    # DB-backed calls 503, /readyz 503 unready once its one-second cache has expired.
    downs = [t for n, t in events if n == "stopped"]
    ups = [t for n, t in events if n == "starting"]
    for down, up in zip(downs, ups):
        inside = [a for a in attempts if down + 0.1 <= a["t0"] and a["t1"] <= up]
        ready = [a for a in inside if a["kind"] == "readyz" and a["t0"] >= down + 1.1]
        if not ready:
            fail("no /readyz probe during the outage at %.1f" % down)
        elif any(a.get("status") != 503 or a.get("ready_status") != "unready" for a in ready):
            fail("/readyz was not 503 unready throughout the outage: %s" % sorted({(a.get("status"), a.get("ready_status")) for a in ready}))
        for kind in ("file", "public", "detail"):
            calls = [a for a in inside if a["kind"] == kind]
            statuses = sorted({a.get("status") for a in calls})
            if not calls:
                fail("no %s call during the outage at %.1f" % (kind, down))
            elif statuses != [503]:
                fail("%s calls during the outage answered %s (expected only 503)" % (kind, statuses))
        answered = sorted({(a["kind"], a.get("status")) for a in inside})
        notes.append("held outage of %.1fs: %d calls inside it answered %s" % (up - down, len(inside), answered))

    # 4. Recovery: after each return of PostgreSQL (end of a restart, end of an outage), the first
    # success of each kind comes within --recovery seconds, and every call started after that
    # window succeeds until the next disruption.
    returns = [t for n, t in events if n in ("up", "restart_end")]
    disruptions = sorted(t for n, t in events if n in ("down", "restart_begin"))
    for back in returns:
        following = [t for t in disruptions if t > back]
        until = following[0] if following else float("inf")
        for kind in ("readyz", "file", "public", "detail"):
            calls = sorted((a for a in attempts if a["kind"] == kind and back <= a["t0"] < until), key=lambda a: a["t0"])
            ok = [a for a in calls if a.get("status") in (200, 201)]
            if not calls:
                continue
            if not ok:
                fail("%s: no success after PostgreSQL came back at %.1f" % (kind, back))
                continue
            delay = ok[0]["t1"] - back
            if delay > args.recovery:
                fail("%s: first success %.1fs after PostgreSQL came back (limit %ss)" % (kind, delay, args.recovery))
            # A call still running when the next disruption began may fail for that one.
            late = [a for a in calls if a["t0"] > back + args.recovery and a["t1"] < until and a.get("status") not in (200, 201)]
            if late:
                fail("%s: %d calls failed more than %ss after PostgreSQL came back, e.g. %s" % (
                    kind, len(late), args.recovery, json.dumps(late[0])))
        first_ready = [a for a in attempts if a["kind"] == "readyz" and a["t0"] >= back and a.get("status") == 200]
        if first_ready:
            notes.append("PostgreSQL back at +%.1fs: /readyz ready again after %.2fs" % (
                back - attempts[0]["t0"] if attempts else 0, first_ready[0]["t1"] - back))

    for note in notes:
        print("  note: " + note)
    for failure in failures:
        print("  violation: " + failure)
    print("outage: %d violations" % len(failures))
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    intake = commands.add_parser("intake")
    intake.add_argument("--base", required=True)
    intake.add_argument("--out", required=True)
    intake.add_argument("--stop-file", required=True)
    intake.add_argument("--attempts")
    intake.add_argument("--clients", type=int, default=8)
    intake.add_argument("--max-seconds", type=float, default=120, help="stop issuing new filings after this, stop file or not")
    intake.add_argument("--finish-seconds", type=float, default=30, help="how long a started filing may take after the stop")
    intake.add_argument("--timeout", type=float, default=10, help="client timeout of one call")
    intake.add_argument("--first-index", type=int, default=0, help="NIK index of the first filing")
    intake.add_argument("--run-id", type=int, default=os.getpid())

    replay = commands.add_parser("replay")
    replay.add_argument("--base", required=True)
    replay.add_argument("--acks", required=True)
    replay.add_argument("--sample", type=int, default=50)
    replay.add_argument("--timeout", type=float, default=10)

    readers = commands.add_parser("readers")
    readers.add_argument("--base", required=True)
    readers.add_argument("--attempts", required=True)
    readers.add_argument("--stop-file", required=True)
    readers.add_argument("--fixtures", required=True, help='lines "TRACKING-CODE ACCESS-TOKEN"')
    readers.add_argument("--clients", type=int, default=4)
    readers.add_argument("--max-seconds", type=float, default=300)
    readers.add_argument("--timeout", type=float, default=8)

    outage = commands.add_parser("outage")
    outage.add_argument("--attempts", nargs="+", required=True)
    outage.add_argument("--events", required=True)
    outage.add_argument("--recovery", type=float, default=5)

    args = parser.parse_args()
    return {"intake": run_intake, "replay": run_replay, "readers": run_readers, "outage": run_outage}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
