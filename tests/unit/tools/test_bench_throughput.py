"""tools/bench_throughput.py: wrk's output read the same from its done() JSON and from its text."""
import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[3] / "tools" / "bench_throughput.py"
_SPEC = importlib.util.spec_from_file_location("bench_throughput", _PATH)
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)

TEXT = """\
Running 20s test @ http://lb1/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    85.32ms   20.11ms   1.20s    75.12%
    Req/Sec    94.12     20.33   150.00     70.00%
  Latency Distribution
     50%   82.10ms
     75%   95.00ms
     90%  110.21ms
     99%    1.02s
  3750 requests in 20.02s, 12.34MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 3
Requests/sec:    187.31
Transfer/sec:    631.20KB
"""
JSON_LINE = ('WRK_JSON {"requests": 3750, "duration_us": 20020000, "bytes": 12939428, '
             '"errors": {"connect": 0, "read": 1, "write": 0, "status": 3, "timeout": 2}, '
             '"latency_us": {"mean": 85320.0, "max": 1200000, "p50": 82100, "p90": 110210, "p99": 1020000}}\n')


@pytest.mark.parametrize("text", [TEXT, TEXT + JSON_LINE], ids=["text", "done-hook"])
def test_parse_reads_the_figures_and_every_error(text):
    result = bench.parse_wrk(text)
    assert result["requests"] == 3750
    assert result["rps"] == pytest.approx(187.31, abs=0.01)
    assert result["latency_ms"]["p50"] == pytest.approx(82.1)
    assert result["latency_ms"]["p99"] == pytest.approx(1020.0)
    assert result["errors"] == {"connect": 0, "read": 1, "write": 0, "timeout": 2, "status": 3}
    assert result["socket_errors"] == 3


def test_parse_units_and_clean_runs():
    text = TEXT.replace("82.10ms", "950.00us").replace("  Socket errors: connect 0, read 1, write 0, timeout 2\n", "")
    text = text.replace("  Non-2xx or 3xx responses: 3\n", "").replace("20.02s", "1.00m")
    result = bench.parse_wrk(text)
    assert result["latency_ms"]["p50"] == pytest.approx(0.95)
    assert result["duration_s"] == 60
    assert result["socket_errors"] == 0 and result["errors"]["status"] == 0


@pytest.mark.parametrize("text", ["", "unable to connect to lb1:80 Connection refused\n",
                                  TEXT.replace("     99%    1.02s\n", "")])
def test_parse_refuses_incomplete_output(text):
    with pytest.raises(ValueError):
        bench.parse_wrk(text)


def test_report_ratios():
    def m(key, rps, p50, p99):
        return {"key": key, "label": key, "url": "http://x/",
                "wrk": {"rps": rps, "requests": 10, "socket_errors": 0,
                        "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0},
                        "latency_ms": {"p50": p50, "p99": p99}}}
    context = {"stamp": "s", "inventory": "i", "cores": 2, "wall_s": 1,
               "load": {"tool": "wrk", "threads": 2, "connections": 16, "duration_s": 20, "warmup_s": 5, "timeout_s": 10}}
    text, data = bench.report(context, [m("page_tuned", 300, 10, 40), m("page_stock", 100, 50, 80),
                                        m("static_nginx", 4000, 2, 8), m("static_appserver", 1000, 8, 16)])
    assert data["ratios"]["page_tuned_over_stock"] == {"rps": 3.0, "p50": 5.0, "p99": 2.0}
    assert data["ratios"]["static_nginx_over_appserver"] == {"rps": 4.0, "p50": 4.0, "p99": 2.0}
    assert "req/s tuned/stock x3.00; latency stock/tuned: p50 x5.00, p99 x2.00" in text
    assert "req/s nginx/app server x4.00; latency app server/nginx: p50 x4.00, p99 x2.00" in text


# What wrk 4.1.0 (Debian 12) printed in a bench run, with report.lua's line.
REAL = """\
Running 20s test @ http://lb1:80/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   215.56ms  221.22ms   2.17s    89.97%
    Req/Sec    46.98     35.24   200.00     69.75%
  Latency Distribution
     50%  150.06ms
     75%  283.16ms
     90%  437.07ms
     99%    1.23s\x20
  1789 requests in 20.02s, 3.06MB read
Requests/sec:     89.34
Transfer/sec:    156.43KB
WRK_JSON {"requests": 1789, "duration_us": 20024645, "bytes": 3207677, "errors": {"connect": 0, "read": 0, \
"write": 0, "status": 0, "timeout": 0}, "latency_us": {"mean": 215556.6, "max": 2168742, "p50": 150062, \
"p90": 437066, "p99": 1227414}}
"""


def test_parse_real_output_both_ways():
    hook = bench.parse_wrk(REAL)
    text = bench.parse_wrk(REAL.partition("WRK_JSON")[0])
    assert hook["source"] != text["source"]
    assert hook["requests"] == text["requests"] == 1789
    assert hook["rps"] == pytest.approx(89.34, abs=0.01) and text["rps"] == pytest.approx(89.34, abs=0.1)
    assert hook["latency_ms"]["p99"] == pytest.approx(text["latency_ms"]["p99"], rel=0.01)


def test_parse_refuses_a_hook_that_disagrees_with_the_summary():
    with pytest.raises(ValueError, match="1789"):
        bench.parse_wrk(REAL.replace('"requests": 1789', '"requests": 1788'))


def test_report_the_pooler_against_direct_connections_at_the_same_concurrency():
    def m(key, rps, p50, p99, peak):
        return {"key": key, "label": key, "url": "http://x/", "db_peak_server_connections": peak,
                "wrk": {"rps": rps, "requests": 10, "socket_errors": 0,
                        "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0},
                        "latency_ms": {"p50": p50, "p99": p99}}}
    context = {"stamp": "s", "inventory": "i", "cores": 2, "wall_s": 1,
               "load": {"tool": "wrk", "threads": 2, "connections": 16, "duration_s": 20, "warmup_s": 5, "timeout_s": 10}}
    text, data = bench.report(context, [m("page_tuned", 300, 10, 40, 18), m("page_pooled", 330, 10, 20, 7)])
    assert data["ratios"]["page_pooled_over_direct"] == {"rps": 1.1, "p50": 1.0, "p99": 2.0}
    assert data["ratios"]["db_peak_server_connections"] == {"page_tuned": 18, "page_pooled": 7}
    assert "req/s PgBouncer/direct x1.10" in text
    assert "peak server connections of the app (pg_stat_activity, sampled twice a second): page_tuned 18, page_pooled 7" in text
