#!/usr/bin/env python3
"""A bounded HTTP load generator for deploy drills (standard library only: runs on any test host).

    python3 loadgen.py --url http://lb1 --host demo.example.test --path / --path /static/app.css \
        --threads 4 --rate 60 --min-requests 2000 --max-seconds 300 --stop-file /tmp/stop --out /tmp/load.json

Threads send GETs round-robin over the paths at a fixed total rate, each with a per-request
timeout, never following redirects. It stops when the stop file exists and at least
--min-requests were sent, or after --max-requests, or after --max-seconds, or on SIGTERM/SIGINT,
whichever comes first, then prints (and writes to --out) one JSON object:
  total, ok, failed (total) and failed_by_kind: status (not 2xx/3xx), transport (no HTTP answer),
  slow (no complete answer within --timeout); statuses, served_by (X-Served-By), versions (the
  version each page showed, by --version-regex, in order of first sight, with counts), per path
  counts, latency (max, p50, p99 in ms), duration, and up to 10 sample errors.
A drill passes when failed is 0: there is no error budget here.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a 3xx is an answer, not something to follow
        return None


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="base URL, e.g. http://lb1")
    parser.add_argument("--host", default="", help="Host header (default: the URL's)")
    parser.add_argument("--path", action="append", default=[], help="path to GET (repeatable; round-robin)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second, all threads together")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds a request may take")
    parser.add_argument("--min-requests", type=int, default=0, help="keep going after the stop file until this many")
    parser.add_argument("--max-requests", type=int, default=100000)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--stop-file", default="", help="stop once this file exists (and --min-requests are done)")
    parser.add_argument("--out", default="", help="also write the JSON result to this file (atomically)")
    parser.add_argument("--version-regex", default=r'id="version">([^<]+)<',
                        help="regex whose group 1 is the version a page shows")
    args = parser.parse_args(argv)
    if not args.path:
        args.path = ["/"]
    if args.threads < 1 or args.rate <= 0 or args.timeout <= 0 or args.max_seconds <= 0:
        parser.error("--threads, --rate, --timeout and --max-seconds must be positive")
    return args


class Load:
    """Shared counters and the stop decision."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sent = 0
        self.results = {"total": 0, "ok": 0, "failed": 0, "failed_by_kind": {"status": 0, "transport": 0, "slow": 0},
                        "statuses": {}, "served_by": {}, "versions": {}, "paths": {}, "errors": []}
        self.latencies = []
        self.version_re = re.compile(args.version_regex)
        self.start = time.monotonic()

    def next_request(self):
        """The index of the next request to send, or None when it is time to stop."""
        with self.lock:
            elapsed = time.monotonic() - self.start
            stop_requested = self.args.stop_file and os.path.exists(self.args.stop_file)
            if (self.stop.is_set() or self.sent >= self.args.max_requests or elapsed >= self.args.max_seconds
                    or (stop_requested and self.sent >= self.args.min_requests)):
                self.stop.set()
                return None
            self.sent += 1
            return self.sent - 1

    def record(self, path, kind, status, served_by, version, latency, error=""):
        with self.lock:
            r = self.results
            r["total"] += 1
            r["paths"][path] = r["paths"].get(path, 0) + 1
            if status is not None:
                r["statuses"][str(status)] = r["statuses"].get(str(status), 0) + 1
            if served_by:
                r["served_by"][served_by] = r["served_by"].get(served_by, 0) + 1
            if version:
                r["versions"][version] = r["versions"].get(version, 0) + 1
            if kind == "ok":
                r["ok"] += 1
            else:
                r["failed"] += 1
                r["failed_by_kind"][kind] += 1
                if len(r["errors"]) < 10:
                    detail = " ".join(str(part) for part in (kind, status, error) if part)
                    r["errors"].append(f"{time.monotonic() - self.start:.1f}s {path}: {detail}")
            self.latencies.append(latency)

    def summary(self):
        with self.lock:
            lat = sorted(self.latencies)
            result = dict(self.results)
        pick = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 1)) if lat else (lambda q: None)
        result["latency_ms"] = {"max": round(lat[-1] * 1000, 1) if lat else None, "p50": pick(0.5), "p99": pick(0.99)}
        result["duration_s"] = round(time.monotonic() - self.start, 1)
        result["rate_per_s"] = round(result["total"] / result["duration_s"], 1) if result["duration_s"] else 0.0
        return result


def one_request(load, opener, path):
    args = load.args
    headers = {"Host": args.host} if args.host else {}
    request = urllib.request.Request(args.url.rstrip("/") + path, headers=headers)
    begin = time.monotonic()
    status = served_by = version = None
    try:
        try:
            response = opener.open(request, timeout=args.timeout)
        except urllib.error.HTTPError as err:  # an HTTP answer all the same (4xx, 5xx, 3xx not followed)
            response = err
        with response:
            body = response.read()
            status = response.status
            served_by = response.headers.get("X-Served-By")
        latency = time.monotonic() - begin
        if "html" in (response.headers.get("Content-Type") or ""):
            match = load.version_re.search(body.decode("utf-8", "replace"))
            version = match.group(1) if match else None
        if not 200 <= status < 400:
            load.record(path, "status", status, served_by, version, latency)
        elif latency > args.timeout:
            load.record(path, "slow", status, served_by, version, latency, f"{latency:.1f}s")
        else:
            load.record(path, "ok", status, served_by, version, latency)
    except (socket.timeout, TimeoutError) as err:
        load.record(path, "slow", status, served_by, None, time.monotonic() - begin, repr(err))
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        # refused, reset, a bad status line, a body cut short: no complete HTTP answer
        reason = getattr(err, "reason", None)
        kind = "slow" if isinstance(reason, (socket.timeout, TimeoutError)) else "transport"
        load.record(path, kind, status, served_by, None, time.monotonic() - begin, repr(reason or err))


def worker(load, index):
    opener = urllib.request.build_opener(_NoRedirect)
    interval = load.args.threads / load.args.rate
    due = load.start + index * interval / load.args.threads
    while True:
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        number = load.next_request()
        if number is None:
            return
        one_request(load, opener, load.args.path[number % len(load.args.path)])
        due = max(due + interval, time.monotonic() - interval)  # no burst to catch up after a stall


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    load = Load(args)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: load.stop.set())
    threads = [threading.Thread(target=worker, args=(load, i), daemon=True) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    # Bounded however the requests behave: each one ends within about two timeouts.
    deadline = time.monotonic() + args.max_seconds + 3 * args.timeout
    for thread in threads:
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(0.5)
    text = json.dumps(load.summary(), sort_keys=True)
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.replace(tmp, args.out)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
