"""Issue 7: inventories/allinone converges a single 2 GB host that serves the whole stack."""
from __future__ import annotations

import re
import uuid

from scenario_testing import eventually, post_note, sql

SITE = {"Host": "demo.example.test"}


def test_the_plan_fits_the_host(cluster_plan):
    host = cluster_plan["hosts"]["vps1"]
    assert set(host["services"]) == {"postgresql", "gunicorn", "memcached", "rabbitmq", "celery_worker",
                                     "celery_beat", "haproxy", "nginx"}
    assert sum(host["budget_mb"].values()) <= 2048, host["budget_mb"]


def test_haproxy_in_front_of_nginx_on_the_same_host(hosts):
    vps1 = hosts["vps1"]
    assert vps1.socket("tcp://0.0.0.0:80").is_listening  # HAProxy, the entry point
    assert vps1.process.filter(comm="haproxy") and vps1.process.filter(comm="nginx")
    config = vps1.file("/etc/haproxy/haproxy.cfg").content_string
    assert re.search(r"server vps1 \S+:8080 ", config), "HAProxy forwards to nginx on 8080"


def test_page_and_a_celery_task(hosts, http):
    page = http("http://127.0.0.1/", SITE)
    assert page["status"] == 200 and page["headers"]["x-served-by"] == "vps1"
    text = f"three words {uuid.uuid4().hex}"
    posted = post_note(http, "http://127.0.0.1/", SITE["Host"], text)
    assert posted.get("status") == 302, posted
    query = f"SELECT words FROM notes_note WHERE text = '{text}'"
    assert eventually(lambda: sql(hosts["vps1"], query, db="demo") == "3", timeout=30), "the Celery worker counted the words"
