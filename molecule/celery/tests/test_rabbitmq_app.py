"""From the app side (web1): the app's account works on its vhost only, and survives losing mq1.

The last file to run (alphabetical order: after test_celery and test_rabbitmq), because
test_queue_survives_losing_mq1 stops mq1, the seed and the first broker URL of the Celery workers,
beat and web1. It starts mq1 again and checks that it rejoined; the test after it checks that
Celery (connected to mq1 when it stopped) runs tasks again."""
import json
import re
import time

import pytest

from conftest import APP_CLIENT, BEAT, BEAT_UNIT, BROKERS, WORKER_UNIT, WORKERS
from scenario_testing import eventually

testinfra_hosts = [APP_CLIENT]
# Beat's periodic task (converge.yml): beat1 sends it, a worker runs it and returns 1.
SENT = re.compile(r"Scheduler: Sending due task probe \(notes\.tasks\.count_words\)$", re.MULTILINE)
PROBE_RAN = re.compile(r"Task notes\.tasks\.count_words\[[0-9a-f-]+\] succeeded in [0-9.e-]+s: 1$", re.MULTILINE)

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
    assert len(status["running_nodes"]) == len(BROKERS), "mq1 rejoined"


def test_celery_runs_tasks_again_after_mq1_came_back(shell, hosts):
    """The workers and beat were connected to mq1 when it stopped: they fail over along their broker
    URLs without a restart, so a task sent from web1 runs on a worker again and beat's periodic
    task keeps being sent and run."""
    # The probe counts note 1's words: make sure it exists (test_celery made it, if it ran).
    shell(APP_CLIENT, "from notes.models import Note; Note.objects.get_or_create(pk=1, defaults={'text': 'beat probe'})")
    start = time.time()
    pk = shell(APP_CLIENT, "from notes.models import Note; from notes.tasks import count_words; "
                           "note = Note.objects.create(text='after the failover'); "
                           "count_words.delay(note.pk); print(note.pk)")

    def worker_journals() -> str:
        return "\n".join(f"{name}: " + hosts[name].run(f"journalctl -q -o cat -u {WORKER_UNIT} --since @{start:.0f}").stdout
                         for name in WORKERS)

    counted = eventually(lambda: shell(APP_CLIENT, f"from notes.models import Note; print(Note.objects.get(pk={pk}).words)") == "3",
                         timeout=120, interval=2)
    assert counted, f"a worker stored the word count; the workers' journals since it was sent:\n{worker_journals()[-3000:]}"
    # Beat's probe (count_words(1), every 5 s): sent by beat1 and run by a worker after the failover.
    sent = eventually(lambda: SENT.search(hosts[BEAT].run(f"journalctl -q -o cat -u {BEAT_UNIT} --since @{start:.0f}").stdout),
                      timeout=60, interval=2)
    assert sent, hosts[BEAT].run(f"journalctl -q -o cat -n 25 -u {BEAT_UNIT}").stdout
    assert eventually(lambda: PROBE_RAN.search(worker_journals()), timeout=60, interval=2), worker_journals()[-3000:]
