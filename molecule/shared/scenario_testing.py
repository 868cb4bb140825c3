"""What the scenarios' testinfra tests share: hosts by name, HTTP from inside a host, the cluster
plan of the scenario's inventory, nested ansible-playbook runs, and small polling helpers.

molecule/shared is not a package: a scenario's tests/conftest.py puts it on sys.path and imports
the fixtures it wants, so pytest registers them there (pytest_plugins is not allowed in a
conftest below the rootdir, where pytest.ini is)::

    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
    from scenario_testing import cluster_plan, hosts, http_fixture, inventory, playbook  # noqa: E402,F401

    http = http_fixture(client="db1")  # HTTP requests made from inside db1

Fixtures (session scope):
    inventory     path of molecule's inventory (testinfra's --ansible-inventory).
    hosts         hosts["web1"]: the testinfra host of that inventory name (docker exec as root into its
                  container, made on first use).
    cluster_plan  the collection's cluster_plan over the scenario's inventory: the numbers the
                  roles applied (cluster_plan["hosts"]["web1"]["gunicorn"]["workers"]).
    playbook      playbook("converge.yml", "--limit", "db1", extra_inventories=[path]): run
                  ansible-playbook against the scenario's inventory from the scenario's directory;
                  returns the CompletedProcess with stderr folded into stdout (ansible-core 2.19
                  prints task errors on stderr and the recap on stdout).
    http_fixture(client) makes an ``http`` fixture: http(url, headers=None, data="", client=client)
                  returns {"status", "headers" (lower-case names), "body", "length"}, or {"error"}
                  when no HTTP answer came; redirects are not followed; data is sent as a POST body.

Plain helpers: request_from(host, url, ...), plan_from_inventory(inventory), run_playbook(...),
recap(output), changed_tasks(output), tasks_reporting(output, status), eventually(check, timeout,
interval), private_address(host), container_name(host_name), sql(host, query, db),
haproxy_servers(lb), post_note(http, url, host_header, text).

Drills report what they measured with report(line); import pytest_terminal_summary into the
conftest too, and the lines are printed at the end of the session as "drill: <line>", which
molecule's log keeps and tools/run-scenarios.sh prints with the scenario's wall time.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

ROOT = Path(__file__).resolve().parents[2]

# An HTTP request made from inside a host, printed as JSON: the hosts have python3, not curl.
_CLIENT = r"""
import json, sys, urllib.error, urllib.request
url, headers, data, timeout = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], float(sys.argv[4])
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
opener = urllib.request.build_opener(NoRedirect)
req = urllib.request.Request(url, headers=headers, data=data.encode() if data else None)
try:
    resp = opener.open(req, timeout=timeout)
except urllib.error.HTTPError as err:
    resp = err
except Exception as err:
    print(json.dumps({"error": type(err).__name__ + ": " + str(err)}))
    sys.exit(0)
body = resp.read()
print(json.dumps({"status": resp.status, "headers": {k.lower(): v for k, v in resp.headers.items()},
                  "body": body.decode("utf-8", "replace"), "length": len(body)}))
"""


# What the drills measured in this session (report()), printed by pytest_terminal_summary.
DRILL_LINES: list[str] = []


def report(line: str) -> None:
    """A number a drill measured: printed now (pytest -s) and at the end of the session."""
    print(line)
    DRILL_LINES.append(line)


def pytest_terminal_summary(terminalreporter) -> None:
    """The drills' numbers, shown even without -s (molecule runs pytest without it)."""
    if DRILL_LINES:
        terminalreporter.section("drills")
        for line in DRILL_LINES:
            terminalreporter.write_line(f"drill: {line}")


def scenario_directory() -> Path:
    """The scenario under test: molecule sets the variable (and runs the verifier from there)."""
    return Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", os.getcwd()))


def request_from(host, url: str, headers: Mapping[str, str] | None = None, data: str = "",
                 timeout: float = 10, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One HTTP request made by python3 inside a testinfra host; see http_fixture for the answer.
    env: its environment, such as SSL_CERT_FILE (the CA HTTPS answers are verified with)."""
    assign = " ".join(shlex.quote(f"{name}={value}") for name, value in (env or {}).items())
    cmd = host.run(f"env {assign} python3 -c %s %s %s %s %s", _CLIENT, url, json.dumps(dict(headers or {})), data,
                   str(timeout))
    assert cmd.rc == 0, cmd.stderr
    return json.loads(cmd.stdout)


def plan_from_inventory(inventory: str) -> dict[str, Any]:
    """The cluster plan the roles read, by the collection's own code over the same inventory.

    Every variable the plan reads (sizes, overrides such as gunicorn_workers) comes from the
    inventory as Ansible resolves it, so the tests expect exactly what the roles applied.
    """
    # Import the collection as Ansible does: collections/ansible_collections links to ROOT.
    if str(ROOT / "collections") not in sys.path:
        sys.path.insert(0, str(ROOT / "collections"))
    from ansible_collections.django_deploy.stack.plugins.module_utils import plan

    runner = AnsibleRunner(inventory)
    names = runner.get_hosts("all")
    hostvars = {name: runner.get_variables(name) for name in names}
    groups = hostvars[names[0]]["groups"]
    return plan.cluster_plan(plan.hosts_from_inventory(hostvars, groups))


def host_platform(host) -> dict[str, Any]:
    """The platform facts of `host` as the stack model derives them from its Debian release
    (plugins/module_utils/stack.py): release, Python, PostgreSQL's version, paths and unit. The
    tests expect what the roles used."""
    if str(ROOT / "collections") not in sys.path:
        sys.path.insert(0, str(ROOT / "collections"))
    from ansible_collections.django_deploy.stack.plugins.module_utils import stack

    release = host.check_output(". /etc/os-release && echo $VERSION_ID")
    return stack._platform({}, {"distribution_major_version": release})


def run_playbook(inventory: str, path: str | Path, *args: str, extra_inventories: Iterable[str | Path] = (),
                 timeout: float = 3600) -> subprocess.CompletedProcess:
    """ansible-playbook PATH ARGS on the scenario's inventory (plus extra inventory sources), run
    from the scenario's directory with molecule's environment, without colours; stderr is folded
    into stdout. Under molecule, ANSIBLE_CONFIG is molecule's own (facts kept in memory); the
    checkout's ansible.cfg would read facts cached by host name for another scenario or the demo."""
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory]
    for extra in extra_inventories:
        cmd += ["-i", str(extra)]
    cmd += [str(path), *args]
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                          cwd=scenario_directory(), timeout=timeout, check=False)


def recap(output: str) -> dict[str, dict[str, int]]:
    """{host: {"ok": n, "changed": n, "failed": n, ...}} from the last PLAY RECAP of a run."""
    rows = re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output.split("PLAY RECAP")[-1], re.M)
    return {name: {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counts)} for name, counts in rows}


def tasks_reporting(output: str, status: str = "changed") -> list[str]:
    """"host: TASK" for every task result line `status: [host]` of a run ("changed", "fatal",
    "ok", "skipping"), to say what a recap's numbers are made of."""
    found, task = [], ""
    for line in output.splitlines():
        if line.startswith("TASK [") or line.startswith("RUNNING HANDLER ["):
            task = line[line.index("[") + 1:line.rindex("]")]
        elif (match := re.match(rf"^{re.escape(status)}: \[([^\]]+)\]", line)):
            found.append(f"{match.group(1)}: {task}")
    return found


def changed_tasks(output: str) -> list[str]:
    """"host: TASK" for every task a run reports as changed."""
    return tasks_reporting(output, "changed")


def eventually(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.5) -> Any:
    """Call check() until it returns something truthy or timeout seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def private_address(host) -> str:
    """The source address of the host's default route: what Ansible calls default_ipv4."""
    words = host.check_output("ip -4 -o route get 1.1.1.1").split()
    return words[words.index("src") + 1]


def container_name(host_name: str) -> str:
    """The Docker container of an inventory host: <scenario>-<host> (molecule/shared/create.yml)."""
    scenario = os.environ.get("MOLECULE_SCENARIO_NAME", scenario_directory().name)
    return f"{scenario}-{host_name}"


def sql(host, query: str, db: str = "postgres") -> str:
    """One query as the postgres superuser over the host's local socket; unaligned, tuples only."""
    return host.check_output("runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d %s -c %s", db, query)


_HAPROXY_STAT = (
    "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock');"
    " s.sendall(b'show stat\\n'); print(s.makefile().read())")


def haproxy_servers(lb, backend: str = "webservers") -> dict[str, str]:
    """{server: status} of one backend, as the load balancer's admin socket reports it ("UP", "DOWN", ...)."""
    rows = [line.split(",") for line in lb.check_output("python3 -c %s", _HAPROXY_STAT).splitlines()]
    return {row[1]: row[17] for row in rows if row[0] == backend and row[1] not in ("FRONTEND", "BACKEND")}


def post_note(http, url: str, host_header: str, text: str) -> dict[str, Any]:
    """Add a note with the demo page's form at url, as a browser does: a GET for the CSRF cookie
    and token, then the POST (302 when the note was accepted)."""
    form = http(url, {"Host": host_header})
    assert form.get("status") == 200, form
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form["body"]).group(1)
    cookie = form["headers"]["set-cookie"].split(";")[0]
    return http(url, {"Host": host_header, "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
                data=f"csrfmiddlewaretoken={token}&text={text.replace(' ', '+')}")


class Hosts(Mapping):
    """Testinfra hosts of one inventory by name, each made on first use."""

    def __init__(self, inventory: str):
        self._inventory = inventory
        self._names = AnsibleRunner(inventory).get_hosts("all")
        self._made: dict[str, Any] = {}

    def __getitem__(self, name: str):
        if name not in self._names:
            raise KeyError(f"{name} is not in {self._inventory}")
        if name not in self._made:
            # docker exec as root, whatever connection the scenario converges with (SSH as deploy
            # for some): what the tests read is the host's state, not the connection.
            self._made[name] = testinfra.get_host(f"docker://{container_name(name)}")
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


@pytest.fixture(scope="session")
def inventory(pytestconfig) -> str:
    return pytestconfig.getoption("ansible_inventory") or os.environ["MOLECULE_INVENTORY_FILE"]


@pytest.fixture(scope="session")
def hosts(inventory) -> Hosts:
    return Hosts(inventory)


@pytest.fixture(scope="session")
def cluster_plan(inventory) -> dict[str, Any]:
    return plan_from_inventory(inventory)


@pytest.fixture(scope="session")
def playbook(inventory) -> Callable[..., subprocess.CompletedProcess]:
    def run(path: str | Path, *args: str, extra_inventories: Iterable[str | Path] = (),
            timeout: float = 3600) -> subprocess.CompletedProcess:
        return run_playbook(inventory, path, *args, extra_inventories=extra_inventories, timeout=timeout)
    return run


def http_fixture(client: str, env: Mapping[str, str] | None = None):
    """An ``http`` fixture whose requests are made from inside host `client` by default (with
    the environment env: SSL_CERT_FILE for HTTPS)."""
    default_client = client

    @pytest.fixture(scope="session")
    def http(hosts) -> Callable[..., dict[str, Any]]:
        def get(url: str, headers: Mapping[str, str] | None = None, data: str = "",
                client: str = default_client) -> dict[str, Any]:
            return request_from(hosts[client], url, headers, data, env=env)
        return get

    return http


def load_summary(name, result):
    """One line of what the load generator saw (failed = non-2xx/3xx + transport errors + slower than 5 s)."""
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(result["failed_by_kind"].items()))
    latency = result["latency_ms"]
    return (f"load during {name}: {result['total']} requests in {result['duration_s']} s, {result['failed']} failed"
            f" ({kinds}), p50 {latency['p50']} ms, p99 {latency['p99']} ms, max {latency['max']} ms;"
            f" served by {json.dumps(result['served_by'], sort_keys=True)}; page versions"
            f" {json.dumps(result['versions'])}; errors {result['errors'][:3]}")


LOADGEN = "/usr/local/bin/django-deploy-loadgen"
# The demo page's stylesheet (collectstatic's hashed name), the static file the load asks for.
DEMO_STYLESHEET = r'href="(/static/notes/site\.[0-9a-f]{12}\.css)"'


def loadgen_fixture(client: str, url: str, site: str, static: str = DEMO_STYLESHEET,
                    env: Mapping[str, str] | None = None):
    """A ``loadgen`` fixture: loadgen(name, min_requests=...) is a context manager running
    tools/loadgen.py on host `client` against `url` (the page, served under the name `site`, and
    the static file the page links to, the first group of the regex `static`) for as long as its
    block runs and at least min_requests; it yields a dict filled, when the block ends, with the
    counts, which are also reported (report(): the drill lines of the CI output)."""

    @pytest.fixture(scope="session")
    def loadgen(hosts):
        host = hosts[client]
        script = base64.b64encode((ROOT / "tools" / "loadgen.py").read_bytes()).decode()
        host.check_output(f"echo {script} | base64 -d > {LOADGEN} && chmod 0755 {LOADGEN}")
        asset = re.search(static, request_from(host, url, {"Host": site}, env=env)["body"]).group(1)
        setenv = " ".join(f"--setenv={name}={value}" for name, value in (env or {}).items())

        @contextlib.contextmanager
        def run(name, min_requests=2000, rate=40, threads=6):
            out, stop = f"/tmp/loadgen-{name}.json", f"/tmp/loadgen-{name}.stop"
            host.check_output(f"rm -f {out} {stop}")
            # A transient unit: it outlives this command, and systemd bounds it even if we do not stop it.
            host.check_output(
                f"systemd-run --unit=loadgen-{name} --collect -p RuntimeMaxSec=1800 {setenv} {LOADGEN}"
                f" --url {url.rstrip('/')} --host {site} --path / --path {asset} --threads {threads} --rate {rate}"
                f" --timeout 5 --min-requests {min_requests} --max-seconds 1500 --stop-file {stop} --out {out}")
            result = {}
            try:
                yield result
            finally:
                host.check_output(f"touch {stop}")
                deadline = time.monotonic() + 1560
                while not host.file(out).exists and time.monotonic() < deadline:
                    time.sleep(2)
                result.update(json.loads(host.file(out).content_string))
                report(load_summary(name, result))

        return run

    return loadgen
