#!/usr/bin/env python3
"""Figures of tools/bench-throughput.sh: read wrk's output, print and write the report.

  bench_throughput.py parse WRK_OUTPUT [KEY LABEL URL]
                                                  -> one measurement as JSON on stdout
  bench_throughput.py report CONTEXT_JSON TXT JSON MEASUREMENT_JSON...
                                                  -> the table and the ratios, printed and written

wrk's output is read from the JSON line that tools/bench-throughput/report.lua prints
(WRK_JSON ..., times in microseconds); when that line is missing, from wrk's own text
(`--latency` prints the 50/75/90/99% distribution). Standard library only.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

# wrk's units (src/units.c): time in us, ms, s, m, h; sizes in B, KB, MB, GB, TB (powers of 1024).
_TIME_US = {"us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}
_SIZE_B = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_NUM = r"(\d+(?:\.\d+)?)"
_TIME = _NUM + r"(us|ms|s|m|h)"


def _time_us(value: str, unit: str) -> float:
    return float(value) * _TIME_US[unit]


def parse_wrk(text: str) -> dict[str, Any]:
    """One wrk run: requests, duration, req/s, latency p50/p90/p99 (ms) and every error count.

    errors.status is what wrk calls "Non-2xx or 3xx responses" (it counts status >= 400);
    errors.connect/read/write/timeout are its "Socket errors". Raises ValueError when the text
    holds no complete wrk summary (wrk failed to start, was killed, or printed an error).
    """
    found = re.search(r"^WRK_JSON (\{.*\})\s*$", text, re.MULTILINE)
    if found:
        raw = json.loads(found.group(1))
        requests, duration_s = int(raw["requests"]), raw["duration_us"] / 1e6
        lat = raw["latency_us"]
        result = {
            "source": "wrk done() hook",
            "requests": requests,
            "duration_s": round(duration_s, 3),
            "bytes": int(raw["bytes"]),
            "errors": {k: int(v) for k, v in raw["errors"].items()},
            "latency_ms": {k: round(lat[k] / 1000, 3) for k in ("mean", "p50", "p90", "p99", "max")},
        }
        # wrk's own summary, when it printed one, must count the same requests.
        if re.search(r" requests in ", text):
            shown = _parse_wrk_text(text)["requests"]
            if shown != requests:
                raise ValueError(f"wrk's summary shows {shown} requests, its done() hook {requests}")
    else:
        result = _parse_wrk_text(text)
    duration_s = result["duration_s"]
    if duration_s <= 0:
        raise ValueError("wrk ran for no time")
    result["rps"] = round(result["requests"] / duration_s, 2)
    errors = result["errors"]
    result["socket_errors"] = sum(errors[k] for k in ("connect", "read", "write", "timeout"))
    return result


def _parse_wrk_text(text: str) -> dict[str, Any]:
    total = re.search(r"^\s*(\d+) requests in " + _TIME + r", " + _NUM + r"(B|KB|MB|GB|TB) read", text, re.MULTILINE)
    if not total:
        raise ValueError("no wrk summary ('N requests in T, S read') in the output:\n" + text[-2000:])
    percentiles = {}
    for pct, value, unit in re.findall(r"^\s*(50|90|99)(?:\.0+)?%\s+" + _TIME + r"\s*$", text, re.MULTILINE):
        percentiles[f"p{pct}"] = _time_us(value, unit)
    missing = {"p50", "p99"} - set(percentiles)
    if missing:
        raise ValueError(f"wrk's latency distribution lacks {sorted(missing)}: was it run with --latency?")
    latency = re.search(r"^\s*Latency\s+" + _TIME + r"\s+" + _TIME + r"\s+" + _TIME, text, re.MULTILINE)
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if socket:
        errors.update(zip(("connect", "read", "write", "timeout"), map(int, socket.groups())))
    status = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if status:
        errors["status"] = int(status.group(1))
    lat_ms = {k: round(v / 1000, 3) for k, v in percentiles.items()}
    if latency:
        lat_ms["mean"] = round(_time_us(latency.group(1), latency.group(2)) / 1000, 3)
        lat_ms["max"] = round(_time_us(latency.group(5), latency.group(6)) / 1000, 3)
    return {
        "source": "wrk text",
        "requests": int(total.group(1)),
        "duration_s": round(_time_us(total.group(2), total.group(3)) / 1e6, 3),
        "bytes": int(float(total.group(4)) * _SIZE_B[total.group(5)]),
        "errors": errors,
        "latency_ms": lat_ms,
    }


def ratio(num: float | None, den: float | None) -> float | None:
    """num / den rounded, or None when either is missing or the denominator is 0."""
    if num is None or den is None or den == 0:
        return None
    return round(num / den, 2)


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def report(context: dict[str, Any], measurements: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The printed report and its JSON twin. Each measurement: {"key", "label", "url", "wrk": parse_wrk()}."""
    by_key = {m["key"]: m["wrk"] for m in measurements}

    def pair(num_key: str, den_key: str) -> dict[str, float | None]:
        num, den = by_key.get(num_key), by_key.get(den_key)
        if not num or not den:
            return {"rps": None, "p50": None, "p99": None}
        # Throughput: how many times more requests per second; latency: how many times shorter.
        return {"rps": ratio(num["rps"], den["rps"]),
                "p50": ratio(den["latency_ms"]["p50"], num["latency_ms"]["p50"]),
                "p99": ratio(den["latency_ms"]["p99"], num["latency_ms"]["p99"])}

    ratios = {"page_tuned_over_stock": pair("page_tuned", "page_stock"),
              "static_nginx_over_appserver": pair("static_nginx", "static_appserver")}
    if "page_pooled" in by_key:
        ratios["page_pooled_over_direct"] = pair("page_pooled", "page_tuned")
    load = context["load"]
    lines = [
        f"django_deploy.stack throughput benchmark ({context['stamp']}, {context['inventory']}, "
        f"{context['cores']} cores on the machine, shared by every container)",
        f"  whole run (hosts, two deploys, four measurements, clean-up): {context['wall_s']}s",
        f"  load: {load['tool']}, {load['threads']} threads, {load['connections']} connections, {load['duration_s']}s per "
        f"measurement after a {load['warmup_s']}s warm-up, timeout {load['timeout_s']}s, from container bench-tp-client",
    ]
    for name, profile in context.get("profiles", {}).items():
        lines.append(f"  {name}: {profile}")
    lines += ["", f"  {'measurement':<44} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'requests':>9} "
                  f"{'sock.err':>8} {'>=400':>6}"]
    for m in measurements:
        w = m["wrk"]
        lines.append(f"  {m['label']:<44} {w['rps']:>9.1f} {w['latency_ms']['p50']:>9.2f} {w['latency_ms']['p99']:>9.2f} "
                     f"{w['requests']:>9} {w['socket_errors']:>8} {w['errors']['status']:>6}")
    lines.append("")
    for key, what, first, second in (("page_tuned_over_stock", "page", "tuned", "stock"),
                                     ("static_nginx_over_appserver", "static file", "nginx", "app server"),
                                     ("page_pooled_over_direct", "pooler", "PgBouncer", "direct")):
        if key not in ratios:
            continue
        r = ratios[key]
        lines.append(f"  {what + ':':<13} req/s {first}/{second} x{_fmt(r['rps'])}; "
                     f"latency {second}/{first}: p50 x{_fmt(r['p50'])}, p99 x{_fmt(r['p99'])}")
    peaks = {m["key"]: m["db_peak_server_connections"] for m in measurements if "db_peak_server_connections" in m}
    if peaks:
        lines.append("  the primary's peak server connections of the app (pg_stat_activity, sampled twice a second): "
                     + ", ".join(f"{key} {value}" for key, value in peaks.items()))
        ratios["db_peak_server_connections"] = peaks
    for m in measurements:
        w = m["wrk"]
        if w["socket_errors"] or w["errors"]["status"]:
            e = w["errors"]
            lines.append(f"  ! {m['label']}: connect {e['connect']}, read {e['read']}, write {e['write']}, "
                         f"timeout {e['timeout']}, HTTP >= 400: {e['status']}")
    lines += ["", *[f"  {m['key']}: {m['url']}" for m in measurements]]
    data = {**context, "measurements": measurements, "ratios": ratios}
    return "\n".join(lines) + "\n", data


def main(argv: list[str]) -> int:
    if len(argv) in (2, 5) and argv[0] == "parse":
        text = Path(argv[1]).read_text(encoding="utf-8")
        wrk = parse_wrk(text)
        # With a key, the measurement keeps wrk's own output too, to check the figures against.
        print(json.dumps(dict(zip(("key", "label", "url"), argv[2:]), wrk=wrk, wrk_output=text.splitlines())
                         if len(argv) == 5 else wrk))
        return 0
    if len(argv) >= 4 and argv[0] == "report":
        context = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
        measurements = [json.loads(Path(p).read_text(encoding="utf-8")) for p in argv[4:]]
        text, data = report(context, measurements)
        Path(argv[2]).write_text(text, encoding="utf-8")
        Path(argv[3]).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        sys.stdout.write(text)
        return 0
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
