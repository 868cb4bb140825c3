"""Issue 7's acceptance: the reference topology, deployed by site.yml, works end to end through lb1.

Requests come from db1 (outside the web tier) to http://lb1/ as a visitor's would: HAProxy, nginx
and gunicorn on both web hosts, notes read from the replica db2, a fragment cached in memcached on
cache1, a note's words counted by the Celery worker on worker1, static files from nginx.
"""
import re
import uuid

import pytest

from conftest import PORTS, WEB, eventually, note_is_counted, page, sql, text
from scenario_testing import private_address

MEMCACHED_STATS = r"""
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"stats\r\n")
data = b""
while not data.endswith(b"END\r\n"):
    data += s.recv(65535)
print(data.decode())
"""


def memcached_stats(host) -> dict:
    out = host.check_output("python3 -c %s %s", MEMCACHED_STATS, str(PORTS["memcached"][0]))
    return dict(re.findall(r"^STAT (\S+) (\S+)\r?$", out, re.M))


def test_lb1_answers_and_spreads_the_page_over_both_web_hosts(http):
    served = [page(http) for _ in range(12)]
    assert {answer.get("status") for answer in served} == {200}, served[0]
    by = [answer["headers"]["x-served-by"] for answer in served]
    assert set(by) == set(WEB), by
    assert {text(answer, "hostname") for answer in served} == set(WEB), "gunicorn ran on both"


def test_notes_are_read_from_the_replica_on_db2(http, hosts):
    for answer in [page(http) for _ in range(4)]:
        assert text(answer, "read-from") == "replica1", "the router sent the read to the replica"
        assert text(answer, "write-to") == "default"
        assert "Hello from the first migration" in answer["body"], "a row migrate wrote on db1, read on db2"
    db2 = hosts["db2"]
    address = private_address(db2)
    for name in WEB:
        settings = hosts[name].file("/etc/demo/python/django_deploy_settings.py").content_string
        assert re.search(rf'"replica1": \{{[^}}]*"HOST": "{re.escape(address)}"', settings), f"{name}: replica1 is db2"
    assert sql(db2, "SELECT pg_is_in_recovery()") == "t"
    assert sql(db2, "SELECT status FROM pg_stat_wal_receiver") == "streaming"


def test_summary_fragment_is_cached_in_memcached_on_cache1(http, hosts):
    cache1 = hosts["cache1"]
    hits_before = int(memcached_stats(cache1)["get_hits"])

    def one_fragment_for_both_hosts():
        # Rendered once, then served from memcached by both web hosts: one timestamp, whichever
        # host rendered it. Another round if the minute of caching ended in the middle of this one.
        answers = [page(http) for _ in range(6)]
        return (len({text(answer, "fragment-rendered") for answer in answers}) == 1
                and {answer["headers"]["x-served-by"] for answer in answers} == set(WEB)
                and {text(answer, "cache-backend") for answer in answers} == {"PyMemcacheCache"})

    assert eventually(one_fragment_for_both_hosts, timeout=90, interval=1)
    assert int(memcached_stats(cache1)["get_hits"]) > hits_before, "the fragment came from cache1"


def test_note_posted_through_lb1_is_counted_by_the_celery_worker(http, hosts):
    missing = note_is_counted(http, hosts, f"cluster note {uuid.uuid4().hex}")
    assert not missing, missing


def test_hashed_static_file_is_served_by_nginx_with_immutable_caching(http, hosts):
    css = re.search(r'href="(/static/notes/site\.[0-9a-f]{12}\.css)"', page(http)["body"]).group(1)
    static, dynamic = {name: [] for name in WEB}, {name: [] for name in WEB}
    # Runs of consecutive requests, so HAProxy's rotation sends each kind to both web hosts.
    for _ in range(4):
        marker = uuid.uuid4().hex
        answer = page(http, f"{css}?{marker}")
        assert answer["status"] == 200 and "text/css" in answer["headers"]["content-type"], answer
        assert answer["headers"]["cache-control"] == "public, max-age=31536000, immutable"
        assert "etag" in answer["headers"] and "last-modified" in answer["headers"], "nginx's file headers"
        static[answer["headers"]["x-served-by"]].append(marker)
    for _ in range(4):
        # The control: a page request with a marker of its own does reach gunicorn's access log.
        marker = uuid.uuid4().hex
        answer = page(http, f"?{marker}")
        assert answer["status"] == 200
        dynamic[answer["headers"]["x-served-by"]].append(marker)
    for name in WEB:
        log = hosts[name].check_output("journalctl -q -o cat -u gunicorn-demo.service --since -10min")
        assert all(marker in log for marker in dynamic[name]), f"{name}: gunicorn logs the pages it serves"
        assert not [marker for marker in static[name] if marker in log], f"{name}: gunicorn saw a static request"
    assert all(static.values()), f"both web hosts served the static file: {static}"


@pytest.mark.parametrize("name", WEB)
def test_gunicorn_workers_and_threads_follow_the_plan(hosts, cluster_plan, name):
    host = hosts[name]
    master = host.check_output("systemctl show -P MainPID gunicorn-demo.service")
    assert int(host.check_output(f"pgrep -c -P {master}")) == cluster_plan["hosts"][name]["gunicorn"]["workers"]
    conf = host.file("/etc/demo/gunicorn.conf.py")
    assert conf.contains(f"^threads = {cluster_plan['hosts'][name]['gunicorn']['threads']}$")
