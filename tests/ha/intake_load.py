#!/usr/bin/env python3
"""Intake load for tests/ha/failover-during-intake.sh: citizens who keep their promise to retry.

Each of --clients threads files valid requests one after another against loopback only. Every
filing has its own Idempotency-Key and its own valid NIK (region 367301, a birth date DDMMYY and a
serial 0001-9999, all distinct in a run) and its own X-Forwarded-For address (the server runs with
--trust-forwarded-for, so its per-address rate limit sees one citizen per filing). A filing is sent
again, same key and same bytes, after any error (503 or 429 after their Retry-After, any other
status or a broken connection after a short pause) until the server acknowledges it with 201.

Threads start new filings until --stop-file exists, then finish the one in hand. Nothing runs past
--deadline seconds: a filing still unacknowledged then is recorded as such. Writes --out (JSON):
every filing (key, NIK, tracking code, attempts, when acknowledged, whether the answer was a
replay) and every attempt (start, end, outcome), and keeps --progress up to date with the number
of acknowledged filings.
"""
import argparse
import http.client
import json
import os
import threading
import time
from urllib.parse import urlsplit

TEMPLATE = (
    '{{"service_code":"kk-baru","citizen":{{"name":"Siti Aminah","nik":"{nik}",'
    '"phone":"0812-3456-7890","email":"siti@example.id"}},"area_code":"36.73.01.1001",'
    '"address":"Jl. Ki Mas Jong No. 5","description":"Permohonan KK baru setelah menikah",'
    '"attributes":{{"alasan":"keluarga_baru"}}}}'
)


def nik_for(k):
    """The k-th NIK of a run: 367301 + DDMMYY + serial (never 0000), distinct for k < 9999*28*12*50."""
    serial = k % 9999 + 1
    q = k // 9999
    day = q % 28 + 1
    q //= 28
    month = q % 12 + 1
    q //= 12
    year = 50 + q % 50
    return "367301%02d%02d%02d%04d" % (day, month, year, serial)


class Run:
    def __init__(self, args):
        self.args = args
        url = urlsplit(args.base)
        self.host, self.port = url.hostname, url.port
        assert self.host in ("127.0.0.1", "localhost", "::1"), "loopback only"
        self.started = time.time()
        self.deadline = self.started + args.deadline
        self.lock = threading.Lock()
        self.counter = 0
        self.filings = []
        self.attempts = []
        self.acked = 0

    def next_index(self):
        with self.lock:
            k = self.counter
            self.counter += 1
            return k

    def stopping(self):
        return os.path.exists(self.args.stop_file) or time.time() >= self.deadline

    def progress(self):
        with self.lock:
            self.acked += 1
            acked = self.acked
        if acked % 10 == 0:
            tmp = self.args.progress + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d\n" % acked)
            os.replace(tmp, self.args.progress)

    def client(self, number):
        connection = None
        while not self.stopping():
            k = self.next_index()
            key = "ha-%s-%d-%d" % (self.args.run_id, number, k)
            nik = nik_for(k)
            body = TEMPLATE.format(nik=nik).encode()
            a = k % 16777216
            headers = {
                "Content-Type": "application/json",
                "Idempotency-Key": key,
                "X-Forwarded-For": "10.%d.%d.%d" % (a // 65536, (a // 256) % 256, a % 256),
            }
            filing = {"key": key, "nik": nik, "code": None, "attempts": 0, "acked_at": None, "replayed": False}
            while True:
                if time.time() >= self.deadline:
                    break
                filing["attempts"] += 1
                start = time.time()
                outcome, pause, retry_after = None, 0.5, None
                try:
                    if connection is None:
                        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.args.timeout)
                    connection.request("POST", "/api/v1/requests", body=body, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                    outcome = response.status
                    retry_after = response.getheader("Retry-After")
                    if response.getheader("Connection", "").lower() == "close":
                        connection.close()
                        connection = None
                    if outcome == 201:
                        filing["code"] = json.loads(data)["tracking_code"]
                        filing["replayed"] = response.getheader("Idempotent-Replayed") == "true"
                    elif outcome in (429, 503):
                        pause = min(float(retry_after or 1), 5.0)
                    else:
                        filing.setdefault("errors", []).append("%d %s" % (outcome, data[:300].decode("utf-8", "replace")))
                except Exception as error:  # a broken connection or a timeout: retry on a new one
                    outcome = "timeout" if isinstance(error, TimeoutError) else type(error).__name__
                    if connection is not None:
                        connection.close()
                        connection = None
                end = time.time()
                with self.lock:
                    self.attempts.append([round(start - self.started, 3), round(end - self.started, 3), outcome,
                                          retry_after is not None, number])
                if outcome == 201:
                    filing["acked_at"] = round(end - self.started, 3)
                    self.progress()
                    break
                time.sleep(max(0.0, min(pause, self.deadline - time.time())))
            with self.lock:
                self.filings.append(filing)
        if connection is not None:
            connection.close()

    def run(self):
        threads = [threading.Thread(target=self.client, args=(n,), daemon=True) for n in range(self.args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, self.deadline - time.time()) + self.args.timeout + 5)
        with self.lock:
            result = {"started": self.started, "filings": list(self.filings), "attempts": list(self.attempts)}
        tmp = self.args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f)
        os.replace(tmp, self.args.out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--progress", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--run-id", default=str(os.getpid()))
    parser.add_argument("--deadline", type=float, default=180, help="seconds after which nothing more is sent")
    parser.add_argument("--timeout", type=float, default=15, help="seconds one attempt may take")
    Run(parser.parse_args()).run()


if __name__ == "__main__":
    main()
