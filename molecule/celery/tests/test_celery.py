"""Celery from outside: tasks sent from web1 run on a worker; the one beat, on beat1 (a host of its
own), reads its periodic task from the database and fires it once per interval."""
import json
import re
import time

import pytest
from conftest import APP_CLIENT, BEAT, BEAT_UNIT, WORKER_UNIT, WORKERS

testinfra_hosts = ["web1"]

SEND = ("from notes.models import Note; from notes.tasks import count_words; "
        "note = Note.objects.create(text={text!r}); result = count_words.delay(note.pk); "
        "print(note.pk, result.id)")
WORDS = "from notes.models import Note; print(Note.objects.get(pk={pk}).words)"
SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# What converge.yml stores; the tests below change the task with the same command, then put it back.
PROBE = "/usr/local/sbin/demo-manage schedule_task probe notes.tasks.count_words --args '[1]' --every {every}"
SENT = re.compile(r"Scheduler: Sending due task probe \(notes\.tasks\.count_words\)$", re.MULTILINE)


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


def beat_journal(hosts) -> str:
    """The end of beat's journal, for a failure message: why it does not run or send."""
    return f"the end of {BEAT_UNIT}'s journal on {BEAT}:\n" + hosts[BEAT].run(f"journalctl -q -o cat -n 25 -u {BEAT_UNIT}").stdout


def test_a_tasks_result_is_read_back_through_the_deployments_backend(shell):
    """The demo's settings point CELERY_RESULT_BACKEND at a Redis the stack does not run: the
    generated settings replace it with RabbitMQ's rpc://, and the result comes back to web1."""
    code = ("from django.conf import settings; from notes.tasks import echo; "
            "print(settings.CELERY_RESULT_BACKEND, echo.delay('round trip').get(timeout=60))")
    assert shell(APP_CLIENT, code) == "rpc:// round trip"


def test_exactly_one_beat_across_all_hosts(hosts):
    beats = {name: int(hosts[name].run("pgrep -c -f '[c]elery -A demo beat'").stdout.strip() or 0)
             for name in hosts}
    assert beats == {name: int(name == BEAT) for name in hosts}, f"{beats}; {beat_journal(hosts)}"
    assert hosts[BEAT].service(BEAT_UNIT).is_running and hosts[BEAT].service(BEAT_UNIT).is_enabled
    # Running since it was started, not caught between the restarts of a beat that keeps failing.
    restarts = hosts[BEAT].check_output(f"systemctl show -P NRestarts {BEAT_UNIT}")
    assert restarts == "0", f"{BEAT_UNIT} restarted {restarts} times; {beat_journal(hosts)}"
    for name in WORKERS:
        assert not hosts[name].file(f"/etc/systemd/system/{BEAT_UNIT}").exists, name


def test_beat_host_runs_no_worker(hosts):
    beat = hosts[BEAT]
    assert beat.run("ls /etc/systemd/system/celery-demo-worker-*.service").rc != 0
    assert beat.run("pgrep -f '[c]elery -A demo worker'").rc == 1


def test_beat_uses_the_database_scheduler_and_no_schedule_file(hosts, shell):
    beat = hosts[BEAT]
    main_pid = beat.check_output(f"systemctl show -P MainPID {BEAT_UNIT}")
    args = beat.process.get(pid=int(main_pid)).args
    assert beat.process.get(pid=int(main_pid)).user == "demo"
    assert f"--scheduler {SCHEDULER}" in args and "--schedule " not in args, args
    # The settings hold no schedule: every periodic task comes from the database.
    assert shell("web1", "from django.conf import settings; print(getattr(settings, 'CELERY_BEAT_SCHEDULE', {}))") == "{}"
    assert shell("web1", "from django_celery_beat.models import PeriodicTask; "
                         "t = PeriodicTask.objects.get(name='probe'); "
                         "print(t.task, t.args, t.interval.every, t.interval.period, t.enabled)") \
        == "notes.tasks.count_words [1] 5 seconds True"


def test_no_worker_runs_with_beat_embedded(hosts):
    for name in hosts:
        host = hosts[name]
        for args in host.check_output("ps -eo args --no-headers").splitlines():
            if "celery" in args and " worker" in args:
                assert not re.search(r"\s(-B|--beat)(\s|$)", args), f"{name}: {args}"
        units = host.run("cat /etc/systemd/system/celery-*-worker-*.service").stdout
        assert not re.search(r"\s(-B|--beat)(\s|$)", units), name


def test_periodic_task_fires_once_per_interval(shell, hosts):
    # The periodic task in the database (converge.yml) counts the words of note 1 every 5 s: make
    # sure the note exists.
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
    sent = len(SENT.findall(journal(hosts[BEAT], BEAT_UNIT, start, end)))
    assert 5 <= sent <= 7, f"beat on {BEAT} sent the task {sent} times; {beat_journal(hosts)}"


def test_beat_follows_the_schedule_in_the_database(hosts):
    """Disable the task, then run it every 2 s: beat on beat1 follows each change of the
    database within its 5 s loop, without a restart."""
    web, beat = hosts["web1"], hosts[BEAT]
    beat_pid = beat.check_output(f"systemctl show -P MainPID {BEAT_UNIT}")

    def sent_in_next(seconds: float) -> int:
        time.sleep(6)  # beat rereads the schedule when it has changed, within 5 s
        start = time.time()
        time.sleep(seconds)
        return len(SENT.findall(journal(beat, BEAT_UNIT, start, time.time())))

    try:
        assert web.check_output(PROBE.format(every=5) + " --disable").startswith("updated: probe")
        assert sent_in_next(10) == 0, "a disabled task is not sent"
        assert web.check_output(PROBE.format(every=2)).startswith("updated: probe")
        assert 4 <= sent_in_next(10) <= 6, "every 2 s: about 5 sends in 10 s"
    finally:
        web.check_output(PROBE.format(every=5))
    assert beat.check_output(f"systemctl show -P MainPID {BEAT_UNIT}") == beat_pid, "beat was not restarted"


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


def test_a_worker_that_cannot_start_fails_the_play_naming_the_host(playbook, hosts):
    """A pool whose worker exits as it starts (here an unknown --pool) loads fine, so the load check
    passes, and would crash-loop under Restart=on-failure: the play fails, naming the host, the unit
    and the worker's own error from its log. The next good run mends it."""
    broken = json.dumps({"celery_worker_pools": [{"name": "default", "extra_args": ["--pool", "nosuchpool"]}]})
    result = playbook("converge.yml", "--limit", "worker2", "-e", broken, timeout=600)
    assert result.returncode != 0, result.stdout[-3000:]
    assert "Celery is not healthy on worker2:" in result.stdout, result.stdout[-3000:]
    assert f"- {WORKER_UNIT} " in result.stdout and "nosuchpool" in result.stdout.split("Celery is not healthy")[-1]
    mended = playbook("converge.yml", "--limit", "worker2", timeout=600)
    assert mended.returncode == 0, mended.stdout[-3000:]
    assert hosts["worker2"].service(WORKER_UNIT).is_running
