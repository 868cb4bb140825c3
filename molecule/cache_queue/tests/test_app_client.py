"""From the app side (client1): the app's account works on its vhost only, and survives losing mq1."""
import json

import pytest

testinfra_hosts = ["client1"]

# A tiny AMQP client over Debian's python3-amqp (what kombu, hence Celery, speaks through).
AMQP = r"""
import json, sys, time, amqp
host, vhost, user, password, action, queue = sys.argv[1:7]
deadline = time.time() + 60
while True:
    try:
        conn = amqp.Connection(host, userid=user, password=password, virtual_host=vhost, connect_timeout=5)
        conn.connect()
        ch = conn.channel()
        if action == "publish":
            ch.confirm_select()  # the broker acknowledges only what its quorum stored
            ch.queue_declare(queue, durable=True, auto_delete=False)
            ch.basic_publish(amqp.Message(sys.argv[7], delivery_mode=2), exchange="", routing_key=queue)
            print(json.dumps({"published": sys.argv[7]}))
        else:
            bodies = []
            while (msg := ch.basic_get(queue)) is not None:
                bodies.append(msg.body.decode() if isinstance(msg.body, bytes) else msg.body)
                ch.basic_ack(msg.delivery_tag)
            print(json.dumps({"got": bodies}))
        conn.close()
        break
    except (amqp.exceptions.AccessRefused, amqp.exceptions.NotAllowed) as exc:
        print(json.dumps({"refused": type(exc).__name__}))
        break
    except Exception as exc:  # a queue electing a new leader after a node stopped: retry
        if time.time() > deadline:
            print(json.dumps({"error": repr(exc)}))
            break
        time.sleep(2)
"""


def amqp(host, broker, vhost, user, password, action, queue, body=""):
    return json.loads(host.check_output("python3 -c %s %s %s %s %s %s %s %s",
                                        AMQP, broker, vhost, user, password, action, queue, body))


def test_app_publishes_and_consumes_on_its_vhost(host, app_password, hosts):
    assert amqp(host, "mq2", "demo", "demo", app_password, "publish", "probe", "hello") == {"published": "hello"}
    assert amqp(host, "mq3", "demo", "demo", app_password, "get", "probe") == {"got": ["hello"]}
    queues = hosts["mq1"].check_output("rabbitmqctl -q list_queues -p demo name type --formatter json")
    assert {"name": "probe", "type": "quorum"} in json.loads(queues)


@pytest.mark.parametrize("action", ["publish", "get"])
def test_app_is_refused_on_the_default_vhost(host, app_password, action):
    assert "refused" in amqp(host, "mq1", "/", "demo", app_password, action, "probe", "x")


def test_guest_cannot_log_in(host):
    assert "refused" in amqp(host, "mq1", "/", "guest", "guest", "get", "probe")


def test_queue_survives_losing_mq1(host, app_password, hosts):
    mq1 = hosts["mq1"]
    assert amqp(host, "mq1", "demo", "demo", app_password, "publish", "failover", "before") == {"published": "before"}
    mq1.check_output("systemctl stop rabbitmq-server")
    try:
        assert amqp(host, "mq2", "demo", "demo", app_password, "publish", "failover", "after") == {"published": "after"}
        assert amqp(host, "mq2", "demo", "demo", app_password, "get", "failover") == {"got": ["before", "after"]}
    finally:
        mq1.check_output("systemctl start rabbitmq-server")
        mq1.check_output("rabbitmqctl -q await_startup")
    status = json.loads(mq1.check_output("rabbitmqctl -q cluster_status --formatter json"))
    assert len(status["running_nodes"]) == 3, "mq1 rejoined"
