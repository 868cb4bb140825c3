"""Backups with point-in-time restore, on real hosts: the repository site.yml made, restore.yml
refusing bad targets with nothing stopped, a restore to a noted time after a dropped table, and a
backup from a promoted replica (backup.yml)."""
from __future__ import annotations

import json
import threading
import time

import pytest
from conftest import LB, ROOT, SITE, eventually, post_note, private_address, report, sql
from scenario_testing import changed_tasks, recap, tasks_reporting

PGBACKREST = "runuser -u pgbackrest -- pgbackrest --stanza=demo"
DATA_DIR = "/var/lib/postgresql/17/main"
RESTORE = ROOT / "restore.yml"


def info(hosts) -> dict:
    return json.loads(hosts["backup1"].check_output(f"{PGBACKREST} --output=json info"))[0]


def notes(host) -> list[str]:
    """The drill's notes in the database of host, in the order they were written."""
    return sql(host, "SELECT coalesce(string_agg(text, ',' ORDER BY id), '') FROM notes_note"
                     " WHERE text LIKE 'before-%' OR text LIKE 'after-%'", db="demo").split(",")


def page(http) -> dict:
    return http(LB, {"Host": SITE})


def app_running(hosts) -> bool:
    return hosts["app1"].service("gunicorn-demo").is_running and hosts["app1"].service("celery-demo-beat").is_running


def test_site_made_the_repository_archived_and_backed_up(hosts):
    stanza = info(hosts)
    assert stanza["status"]["code"] == 0, stanza["status"]
    assert [b["type"] for b in stanza["backup"]] == ["full"]
    assert stanza["cipher"] == "aes-256-cbc"
    assert sql(hosts["db1"], "SHOW archive_mode") == "on"
    # Archiving works (a push before the stanza existed may have failed once, and was retried).
    assert sql(hosts["db1"], "SELECT last_archived_wal IS NOT NULL AND last_archived_time > coalesce(last_failed_time, "
                             "'-infinity') FROM pg_stat_archiver") == "t"
    for timer in ("pgbackrest-backup@full.timer", "pgbackrest-backup@diff.timer"):
        assert hosts["backup1"].service(timer).is_enabled and hosts["backup1"].service(timer).is_running
    # The repository is its account's alone, and the passphrase is in no file a database host has.
    assert hosts["backup1"].file("/var/lib/pgbackrest").mode == 0o750
    for db in ("db1", "db2"):
        assert "cipher" not in hosts[db].check_output("cat /etc/pgbackrest/pgbackrest.conf")


def test_each_ssh_key_runs_pgbackrest_only_and_from_its_own_host(hosts):
    keys = hosts["backup1"].file("/var/lib/pgbackrest/.ssh/authorized_keys").content_string
    assert keys.count('restrict,from="') == 2 and keys.count('command="/usr/bin/pgbackrest ${SSH_ORIGINAL_COMMAND#* }"') == 2
    # A shell command sent over the key runs pgBackRest with it as arguments, never the command.
    out = hosts["db1"].run("runuser -u postgres -- ssh -o BatchMode=yes pgbackrest@%s 'x id'",
                           private_address(hosts["backup1"]))
    assert "uid=" not in out.stdout and "invalid command 'id'" in out.stdout + out.stderr, out


def test_check_mode_predicts_no_change_and_prints_no_passphrase(playbook):
    run = playbook(ROOT / "site.yml", "--check", "--diff", "-v")
    counts = recap(run.stdout)
    assert {name: (row["changed"], row["failed"]) for name, row in counts.items()} == {
        name: (0, 0) for name in ("lb1", "app1", "db1", "db2", "backup1")}, (
        f"changed: {changed_tasks(run.stdout)}\nfailed: {tasks_reporting(run.stdout, 'fatal')}\n{run.stdout[-3000:]}")
    assert "molecule-backup-cipher-passphrase" not in run.stdout
    report(f"check mode with backups: site.yml --check --diff -v, {sum(r['ok'] for r in counts.values())} tasks ok, 0 changed")


@pytest.mark.parametrize("args, message", [
    ((), "restore.yml needs exactly one target"),
    (("-e", "restore_target_time='yesterday at noon'"), "is not a time with its zone"),
    (("-e", "restore_target_time='2099-01-01 00:00:00+00'"), "is in the future"),
    (("-e", "restore_target_time='2001-01-01 00:00:00+00'"), "is before the end of the oldest backup"),
])
def test_a_bad_target_is_refused_before_anything_stops(playbook, hosts, args, message):
    run = playbook(RESTORE, *args)
    assert run.returncode != 0 and message in run.stdout, run.stdout[-3000:]
    assert "Put every web server in maintenance" not in run.stdout
    assert app_running(hosts) and hosts["db1"].service("postgresql@17-main").is_running


def test_restore_to_a_noted_time_brings_back_the_rows_before_it_only(playbook, hosts, http):
    for word in ("before-1", "before-2"):
        assert post_note(http, LB, SITE, word)["status"] == 302
    noted = sql(hosts["db1"], "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
    time.sleep(1.5)
    for word in ("after-1", "after-2"):
        assert post_note(http, LB, SITE, word)["status"] == 302
    sql(hosts["db1"], "DROP TABLE notes_note CASCADE", db="demo")
    labels = [b["label"] for b in info(hosts)["backup"]]

    # What visitors get meanwhile: the site or the maintenance page, nothing else.
    answers: list[int | str] = []
    done = threading.Event()

    def visit():
        while not done.is_set():
            answer = page(http)
            answers.append("maintenance" if answer.get("status") == 503 and "Back soon" in answer.get("body", "")
                           else answer.get("status", answer.get("error")))
            time.sleep(0.5)

    visitor = threading.Thread(target=visit)
    visitor.start()
    started = time.monotonic()
    try:
        run = playbook(RESTORE, "-e", f"restore_target_time='{noted}'")
    finally:
        done.set()
        visitor.join()
    took = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-5000:]
    report(f"restore.yml to {noted}: {took:.0f} s; visitors meanwhile: "
           f"{ {kind: answers.count(kind) for kind in dict.fromkeys(answers)} }")

    assert notes(hosts["db1"]) == ["before-1", "before-2"]
    # Before the restore the site fails (its table is gone); from the maintenance page on, visitors
    # get that page or the restored site, nothing else.
    assert "maintenance" in answers, answers
    assert set(answers[answers.index("maintenance"):]) <= {200, "maintenance"} and answers[-1] == 200, answers
    # The replica streams from the restored primary and has the same rows.
    assert eventually(lambda: sql(hosts["db1"], "SELECT state FROM pg_stat_replication WHERE application_name = 'db2'")
                      == "streaming", timeout=60)
    assert eventually(lambda: notes(hosts["db2"]) == notes(hosts["db1"]), timeout=30)
    # The site serves the restored notes, the old data directories are kept, the repository lost nothing.
    assert "before-2" in page(http)["body"]
    for db in ("db1", "db2"):
        assert hosts[db].run(f"ls -d {DATA_DIR}.pre-restore-*").rc == 0
    after = info(hosts)
    assert [b["label"] for b in after["backup"]][:len(labels)] == labels and after["status"]["code"] == 0
    assert "pgbackrest-backup" not in hosts["db1"].check_output(f"cat {DATA_DIR}/postgresql.auto.conf")
    assert "recovery_target" not in hosts["db1"].check_output(f"cat {DATA_DIR}/postgresql.auto.conf")


def test_a_backup_after_promote_comes_from_the_new_primary(playbook, hosts, http):
    before = info(hosts)["backup"]
    run = playbook(ROOT / "promote.yml", "-e", "promote_replica=db2")
    assert run.returncode == 0, run.stdout[-5000:]
    # Writes on the new primary reach the repository: pgBackRest's check switches its WAL and waits for it.
    backup = playbook(ROOT / "backup.yml", "-e", "backup_type=full")
    assert backup.returncode == 0, backup.stdout[-5000:]
    after = info(hosts)["backup"]
    assert len(after) == len(before) + 1 and after[-1]["type"] == "full"
    timeline = int(sql(hosts["db2"], "SELECT timeline_id FROM pg_control_checkpoint()"))
    assert int(after[-1]["archive"]["start"][:8], 16) == timeline, after[-1]["archive"]
    report(f"backup.yml after promote.yml: a full backup from db2 on timeline {timeline}, {after[-1]['label']}")
