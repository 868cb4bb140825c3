"""tools/loadgen.py against a tiny local HTTP server: how answers are counted, and when it stops.

Covers ok answers (statuses, X-Served-By, page versions), a 5xx as failed status, a 3xx as an
answer that is not followed, a too-slow answer as slow, a closed port as transport, the stop file
with --min-requests, the --max-requests bound, --out, round-robin over --path values, and
parse_args refusing non-positive --threads/--rate. Everything runs on 127.0.0.1 and is bounded.
"""
import importlib.util
import json
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[3] / "tools" / "loadgen.py"
_SPEC = importlib.util.spec_from_file_location("loadgen", _PATH)
loadgen = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(loadgen)

SLOW_SECONDS = 1.0  # how long /slow sleeps: longer than the --timeout the slow test uses


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the name http.server calls)
        if self.path == "/slow":
            time.sleep(SLOW_SECONDS)
        if self.path == "/fail":
            self._answer(500, b"boom")
        elif self.path == "/redirect":
            self._answer(302, b"", {"Location": "/page"})
        elif self.path in ("/page", "/slow"):
            self._answer(200, b'<html><p id="version">1.2.3</p></html>', {"Content-Type": "text/html"})
        else:
            self._answer(200, b"plain", {"Content-Type": "text/plain"})

    def _answer(self, status, body, headers=None):
        self.send_response(status)
        self.send_header("X-Served-By", "web1")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # e.g. /slow writing to a client that gave up
        pass


@pytest.fixture(scope="module")
def server():
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _keep_signal_handlers():
    """main() installs SIGTERM/SIGINT handlers: put pytest's back."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def run(capsys, url, *extra):
    argv = ["--url", url, "--threads", "2", "--rate", "200", "--timeout", "1", "--max-seconds", "5", *extra]
    assert loadgen.main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_all_200_answers_are_ok_with_server_and_version_counted(server, capsys):
    result = run(capsys, server, "--path", "/page", "--max-requests", "4")
    assert (result["total"], result["ok"], result["failed"]) == (4, 4, 0)
    assert result["statuses"] == {"200": 4}
    assert result["served_by"] == {"web1": 4}
    assert result["versions"] == {"1.2.3": 4}
    assert result["errors"] == []


def test_a_500_counts_as_a_failed_status(server, capsys):
    result = run(capsys, server, "--path", "/fail", "--max-requests", "3")
    assert (result["ok"], result["failed"]) == (0, 3)
    assert result["failed_by_kind"] == {"status": 3, "transport": 0, "slow": 0}
    assert result["statuses"] == {"500": 3}
    assert len(result["errors"]) == 3 and "status 500" in result["errors"][0]


def test_a_302_is_an_ok_answer_and_is_not_followed(server, capsys):
    result = run(capsys, server, "--path", "/redirect", "--max-requests", "3")
    assert (result["ok"], result["failed"]) == (3, 0)
    assert result["statuses"] == {"302": 3}  # following it would have shown 200 and a version
    assert result["versions"] == {}


def test_an_answer_slower_than_the_timeout_counts_as_slow(server, capsys):
    result = run(capsys, server, "--path", "/slow", "--max-requests", "2", "--timeout", "0.3")
    assert (result["ok"], result["failed"]) == (0, 2)
    assert result["failed_by_kind"] == {"status": 0, "transport": 0, "slow": 2}
    assert result["latency_ms"]["max"] < SLOW_SECONDS * 1000


def test_a_closed_port_counts_as_transport(capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run(capsys, f"http://127.0.0.1:{port}", "--max-requests", "3")
    assert (result["total"], result["ok"]) == (3, 0)
    assert result["failed_by_kind"] == {"status": 0, "transport": 3, "slow": 0}
    assert result["statuses"] == {}


@pytest.mark.parametrize("stop_file_exists, min_requests, total", [
    (True, 5, 5),     # the file is there from the start: stops once the minimum is sent
    (True, 0, 0),     # no minimum: nothing is sent at all
    (False, 5, 12),   # no file: runs on to --max-requests
])
def test_stop_file_stops_only_after_min_requests(server, capsys, tmp_path, stop_file_exists, min_requests, total):
    stop = tmp_path / "stop"
    if stop_file_exists:
        stop.touch()
    result = run(capsys, server, "--stop-file", str(stop), "--min-requests", str(min_requests),
                 "--max-requests", "12")
    assert result["total"] == result["ok"] == total


def test_max_requests_bounds_the_total(server, capsys):
    result = run(capsys, server, "--threads", "3", "--max-requests", "7")
    assert result["total"] == result["ok"] == 7
    assert result["paths"] == {"/": 7}


def test_out_writes_the_same_json_as_printed(server, capsys, tmp_path):
    out = tmp_path / "load.json"
    assert loadgen.main(["--url", server, "--rate", "200", "--timeout", "1", "--max-seconds", "5",
                         "--max-requests", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.read_text(encoding="utf-8") == printed
    assert json.loads(printed)["total"] == 3
    assert not (tmp_path / "load.json.tmp").exists()


def test_paths_are_requested_round_robin(server, capsys):
    result = run(capsys, server, "--path", "/a", "--path", "/b", "--path", "/c", "--max-requests", "9")
    assert result["paths"] == {"/a": 3, "/b": 3, "/c": 3}


@pytest.mark.parametrize("option, value", [("--threads", "0"), ("--threads", "-1"),
                                           ("--rate", "0"), ("--rate", "-2.5")])
def test_parse_args_rejects_non_positive_threads_and_rate(option, value, capsys):
    with pytest.raises(SystemExit) as exc:
        loadgen.parse_args(["--url", "http://127.0.0.1", option, value])
    assert exc.value.code == 2
    assert "must be positive" in capsys.readouterr().err


def test_parse_args_defaults_to_the_root_path():
    assert loadgen.parse_args(["--url", "http://127.0.0.1"]).path == ["/"]


def test_a_bad_status_line_counts_as_transport(capsys):
    """http.client's own errors are transport failures, not a worker thread that dies uncounted."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)

        def answer_garbage():
            conn, _address = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"garbage\r\n\r\n")

        threading.Thread(target=answer_garbage, daemon=True).start()
        result = run(capsys, f"http://127.0.0.1:{listener.getsockname()[1]}", "--threads", "1",
                     "--max-requests", "1")
    assert result["failed_by_kind"]["transport"] == 1
