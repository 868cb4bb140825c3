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


def test_an_upload_lands_in_media_root_and_nginx_serves_it_inert(hosts, http):
    """An HTML file uploaded through the demo's view: saved by gunicorn in MEDIA_ROOT (outside the
    releases), served by nginx (Django serves no media), as bytes a browser will not run."""
    form = http("http://127.0.0.1/upload/", SITE)
    assert form.get("status") == 200, form
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form["body"]).group(1)
    cookie = form["headers"]["set-cookie"].split(";")[0]
    name, content, boundary = f"page-{uuid.uuid4().hex[:8]}.html", "<script>alert(1)</script>", uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: text/html\r\n\r\n{content}\r\n--{boundary}--\r\n")
    posted = http("http://127.0.0.1/upload/",
                  {**SITE, "Cookie": cookie, "Content-Type": f"multipart/form-data; boundary={boundary}"}, data=body)
    assert posted.get("status") == 201, posted
    assert posted["body"] == f"/media/uploads/{name}"
    saved = hosts["vps1"].file(f"/srv/demo/media/uploads/{name}")
    assert saved.content_string == content and saved.user == "demo"
    served = http(f"http://127.0.0.1/media/uploads/{name}", SITE)
    assert served["status"] == 200 and served["body"] == content
    assert served["headers"]["x-content-type-options"] == "nosniff"
    assert "sandbox" in served["headers"]["content-security-policy"]
    assert served["headers"]["x-served-by"] == "vps1"
