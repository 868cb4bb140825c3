"""Celery from outside: tasks sent from web1 run on a worker, one beat fires once per interval."""
import re
import time

import pytest
from conftest import BEAT_UNIT, WORKER_UNIT, WORKERS

testinfra_hosts = ["web1"]

SEND = ("from notes.models import Note; from notes.tasks import count_words; "
        "note = Note.objects.create(text={text!r}); result = count_words.delay(note.pk); "
        "print(note.pk, result.id)")
WORDS = "from notes.models import Note; print(Note.objects.get(pk={pk}).words)"


def journal(host, unit: str, since: float, until: float | None = None) -> str:
    window = f"--since @{since:.0f}" + (f" --until @{until:.0f}" if until else "")
    return host.check_output(f"journalctl -q -o cat -u {unit} {window}")


def test_task_sent_from_web1_is_executed_by_a_worker(shell, hosts):
    start = time.time()
    pk, task_id = shell("web1", SEND.format(text="one two three four")).split()
    for _ in range(60):
        if shell("web1", WORDS.format(pk=pk)) == "4":
            break
        time.sleep(1)
    assert shell("web1", WORDS.format(pk=pk)) == "4", "the worker stored the word count"
    ran_on = [name for name in WORKERS
              if re.search(rf"Task notes\.tasks\.count_words\[{task_id}\] succeeded",
                           journal(hosts[name], WORKER_UNIT, start - 5))]
    assert len(ran_on) == 1, f"executed exactly once, by a worker: {ran_on}"


def test_exactly_one_beat_across_all_hosts(hosts):
    beats = {name: int(hosts[name].run("pgrep -c -f '[c]elery -A demo beat'").stdout.strip() or 0)
             for name in hosts}
    assert beats == {name: int(name == "worker1") for name in hosts}
    assert hosts["worker1"].service(BEAT_UNIT).is_running
    assert not hosts["worker2"].file(f"/etc/systemd/system/{BEAT_UNIT}").exists


def test_no_worker_runs_with_beat_embedded(hosts):
    for name in hosts:
        host = hosts[name]
        for args in host.check_output("ps -eo args --no-headers").splitlines():
            if "celery" in args and " worker" in args:
                assert not re.search(r"\s(-B|--beat)(\s|$)", args), f"{name}: {args}"
        units = host.run("cat /etc/systemd/system/celery-*-worker-*.service").stdout
        assert not re.search(r"\s(-B|--beat)(\s|$)", units), name


def test_periodic_task_fires_once_per_interval(shell, hosts):
    # The schedule (molecule.yml) counts the words of note 1 every 5 s: make sure it exists.
    shell("web1", "from notes.models import Note; Note.objects.get_or_create(pk=1, defaults={'text': 'beat probe'})")
    time.sleep(6)
    start = time.time()
    time.sleep(30)
    end = time.time()
    runs = sum(len(re.findall(r"Task notes\.tasks\.count_words\[[0-9a-f-]+\] succeeded in [0-9.e-]+s: 1$",
                              journal(hosts[name], WORKER_UNIT, start, end), re.MULTILINE))
               for name in WORKERS)
    # 30 s / 5 s = 6 intervals; two beats (or one per worker host) would give about 12.
    assert 5 <= runs <= 7, runs


@pytest.mark.parametrize("name", WORKERS)
def test_worker_runs_as_the_app_user_with_the_planned_concurrency(hosts, cluster_plan, name):
    host = hosts[name]
    concurrency = cluster_plan["hosts"][name]["celery"]["concurrency"]
    assert host.service(WORKER_UNIT).is_running and host.service(WORKER_UNIT).is_enabled
    main_pid = host.check_output(f"systemctl show -P MainPID {WORKER_UNIT}")
    main = host.process.get(pid=int(main_pid))
    assert main.user == "demo"
    assert f"--concurrency {concurrency}" in main.args
    children = host.check_output(f"ps -o user= --ppid {main_pid}").split()
    assert children.count("demo") == len(children) >= concurrency


@pytest.mark.parametrize("name", WORKERS)
def test_worker_unit_is_sandboxed_and_stops_warm(hosts, name):
    show = hosts[name].check_output(
        f"systemctl show -p NoNewPrivileges,PrivateTmp,ProtectSystem,KillSignal,KillMode,Restart,TimeoutStopUSec {WORKER_UNIT}")
    props = dict(line.split("=", 1) for line in show.splitlines())
    assert props["NoNewPrivileges"] == "yes" and props["PrivateTmp"] == "yes"
    assert props["ProtectSystem"] == "strict" and props["Restart"] == "on-failure"
    assert props["KillSignal"] == "15" and props["KillMode"] == "mixed"
    assert props["TimeoutStopUSec"] == "5min 30s", "longer than celery_task_time_limit (300 s)"
