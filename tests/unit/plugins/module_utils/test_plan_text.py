"""Unit tests for plugins/module_utils/plan_text.py and the plan_text filter (plugins/filter/plan_text.py)."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ansible_collections.django_deploy.stack.plugins.module_utils import plan, plan_text, tuning

ALL_GROUPS = ["loadbalancers", "webservers", "db_primary", "memcached", "rabbitmq", "celery_workers",
              "celery_beat"]
APP_GROUPS = ["loadbalancers", "webservers", "memcached", "rabbitmq", "celery_workers", "celery_beat"]
LABELS = {"db1": "primary", "db2": "replica"}


def host(groups, memory_mb=2048, cpus=2, **overrides):
    return {"memory_mb": memory_mb, "cpus": cpus, "groups": groups, "overrides": overrides}


def all_in_one(**overrides):
    return plan.cluster_plan({"vps1": host(ALL_GROUPS, **overrides)})


def three_hosts(**db1_overrides):
    return plan.cluster_plan({"app1": host(APP_GROUPS, 4096, 4), "db1": host(["db_primary"], 4096, 2, **db1_overrides),
                              "db2": host(["db_replicas"], 1024, 1)})


def reference(**web1_overrides):
    """inventories/local: every host 2 GB / 2 vCPUs."""
    return plan.cluster_plan({
        "lb1": host(["loadbalancers"]), "web1": host(["webservers"], **web1_overrides),
        "web2": host(["webservers"]), "db1": host(["db_primary"]), "db2": host(["db_replicas"]),
        "cache1": host(["memcached"]), "mq1": host(["rabbitmq"]), "worker1": host(["celery_workers", "celery_beat"]),
    })


# --- reading the text back ---------------------------------------------------------------------------

ROW = re.compile(r"^(?P<indent> *)(?P<key>\S+(?: \S+)?) {2,}(?P<value>\S+(?: \S+)*?)(?: {2,}(?P<why>\S.*))?$")


def blocks(text):
    """{host or 'cluster totals': lines of its table}."""
    found, name = {}, None
    for line in text.splitlines():
        match = re.match(r"^== (\S+)(?: \(.*\))?:? .*=+$", line)
        if line.startswith("== cluster totals "):
            name = "cluster totals"
            found[name] = []
        elif match:
            name = match.group(1).rstrip(":")
            found[name] = [line]
        elif name is not None:
            found[name].append(line)
    return found


def rows(lines):
    """{(section, setting): (value, why)} of one table; continuation lines join the reason."""
    table, section, last = {}, None, None
    for line in lines[1:]:
        if line.startswith("WARNING"):
            break
        if not line or line.startswith(("setting ", "----", "services:", "          ")):
            if line.startswith("  " * 5) and last is not None:
                value, why = table[last]
                table[last] = (value, f"{why} {line.strip()}".strip())
            continue
        if not line.startswith(" ") and "  " not in line:
            section = line
            continue
        match = ROW.match(line)
        assert match, line
        key = (section, match.group("key")) if match.group("indent") else (None, match.group("key"))
        table[key] = (match.group("value"), match.group("why") or "")
        last = key
    return table


def mb_of(text):
    """MB of a size as plan_text shows it, or None."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?) (kB|MB|GB)", text)
    if not match:
        return None
    return float(match.group(1)) * {"kB": 1 / 1024, "MB": 1, "GB": 1024}[match.group(2)]


def plan_mb(section, key, value):
    """MB of a plan value that is a size, or None."""
    if section == "budget_mb" or key in ("worker_memory_mb", "process_memory_mb") or (section, key) in (
            ("memcached", "memory_mb"), ("redis", "maxmemory_mb")):
        return float(value)
    if section == "postgresql" and isinstance(value, str):
        match = re.fullmatch(r"(\d+)(kB|MB|GB)", value)
        if match:
            return int(match.group(1)) * {"kB": 1 / 1024, "MB": 1, "GB": 1024}[match.group(2)]
    if section == "rabbitmq" and key.endswith(".absolute"):
        return tuning.rabbitmq_size_mb(value)
    return None


def assert_shown(section, key, value, shown):
    size = plan_mb(section, key, value)
    if size is None:
        expected = {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value
        assert shown == str(expected), (section, key, value, shown)
        return
    got = mb_of(shown)
    assert got is not None, (section, key, value, shown)
    # human_size rounds: to 1 kB, 0.1 MB, 0.01 GB.
    unit = shown.split()[1]
    assert abs(got - size) <= {"kB": 0.5 / 1024, "MB": 0.05, "GB": 0.005 * 1024}[unit] + 1e-9, (key, value, shown)


def assert_complete(result, text, labels=None):
    """Every number of the plan is in the text, on its setting's row, with a reason."""
    found = blocks(text)
    assert list(found) == [*result["hosts"], "cluster totals"]
    for name, entry in result["hosts"].items():
        table = rows(found[name])
        header = found[name][0]
        label = (labels or {}).get(name)
        ram = tuning.human_size(entry["memory_mb"])
        assert header.startswith(f"== {name}" + (f" ({label})" if label else "") + f": {ram} RAM, {entry['cpus']} vCPU")
        services = found[name][1:found[name].index(next(l for l in found[name] if l.startswith("setting ")))]
        assert " ".join(" ".join(services).split()) == "services: " + (", ".join(entry["services"]) or "none")
        for key, value in entry["budget_mb"].items():
            shown, why = table[("memory budget", key)]
            assert_shown("budget_mb", key, value, shown)
            assert why
        for section, settings in entry.items():
            if section in plan_text.HOST_KEYS:
                continue
            title = f"{section} ({label})" if section == "postgresql" and label else section
            for key, value in settings.items():
                items = value.items() if isinstance(value, dict) else [(None, value)]
                for sub, item in items:
                    shown, why = table[(title, key if sub is None else f"{key} {sub}")]
                    assert_shown(section, key, item, shown)
                    assert why, (name, section, key)
    totals = rows([""] + found["cluster totals"])
    for key, value in result["totals"].items():
        shown, why = totals[(None, key)]
        if key == "db_connections_ok":
            assert shown == ("yes" if value else "NO")
        else:
            assert shown == ("-" if value is None else str(value))
        assert why


def assert_plain(text):
    assert text.isascii()
    assert text.endswith("\n")
    assert max(len(line) for line in text.splitlines()) <= plan_text.WIDTH
    for python in ("{", "}", "'", '"', "[", "]", "None", "True", "False", "\t"):
        assert python not in text, python


# --- golden-ish: the 2 GB all-in-one host and a 3-host cluster -----------------------------------------

def test_all_in_one_2_gb_host():
    result = all_in_one()
    text = plan_text.plan_text(result, {"vps1": "primary"})
    assert_plain(text)
    assert_complete(result, text, {"vps1": "primary"})
    lines = text.splitlines()
    assert lines[0] == "== vps1 (primary): 2 GB RAM, 2 vCPUs " + "=" * 63
    assert lines[1] == "services: celery_beat, celery_worker, gunicorn, haproxy, memcached, nginx, postgresql, rabbitmq"
    table = rows(blocks(text)["vps1"])
    assert table[("memory budget", "os_reserve")] == ("320 MB", "192 MB for Debian + RAM / 16")
    assert table[("memory budget", "postgresql")] == ("629 MB", "64 MB floor + 128/257 of the 1.11 GB above the floors")
    assert table[("gunicorn", "workers")] == ("1", "340 MB share / 256 MB each (2 x 2 vCPUs + 1 = 5)")
    assert table[("gunicorn", "concurrency")] == ("4", "1 worker x 4 threads: requests at once")
    assert table[("celery", "concurrency")] == ("1", "the 170 MB share / 128 MB each (2 vCPUs)")
    assert table[("memcached", "memory_mb")] == ("192 MB", "the 205 MB share - 13 MB (hash table, 1024 connections)")
    assert table[("rabbitmq", "vm_memory_high_watermark.absolute")][0] == "262 MB"
    pg = {key: value for (section, key), value in table.items() if section == "postgresql (primary)"}
    assert pg["shared_buffers"] == ("157.2 MB", "25% of the 629 MB share")
    assert pg["max_connections"] == ("25", "Patroni minimum 25; 6 app + 10 admin + 3 superuser is less")
    assert pg["work_mem"] == ("4.8 MB", "(629 MB - 157.2 MB shared_buffers) / (3 x (25 connections + 8 workers))")
    assert pg["max_wal_size"] == ("1.22 GB", "2 x the 629 MB share, in 16 MB WAL segments")
    assert pg["min_wal_size"] == ("304 MB", "max_wal_size / 4, as PGTune 1 GB : 4 GB")
    totals = rows([""] + blocks(text)["cluster totals"])
    assert totals[(None, "db_connections_needed")] == ("6", "4 web + 1 Celery + 1 beat: one connection each")
    assert totals[(None, "db_connections_ok")] == ("yes", "6 needed <= 25 - 3 superuser = 22")
    assert "WARNING" not in text


def test_three_host_cluster():
    result = three_hosts()
    text = plan_text.plan_text(result, LABELS)
    assert_plain(text)
    assert_complete(result, text, LABELS)
    found = blocks(text)
    assert found["app1"][0].startswith("== app1: 4 GB RAM, 4 vCPUs ==")
    assert found["db1"][0].startswith("== db1 (primary): 4 GB RAM, 2 vCPUs ==")
    assert found["db2"][0].startswith("== db2 (replica): 1 GB RAM, 1 vCPU ==")
    app1, db1, db2 = (rows(found[name]) for name in ("app1", "db1", "db2"))
    assert app1[("gunicorn", "workers")] == ("5", "1.26 GB share / 256 MB each (2 x 4 vCPUs + 1 = 9)")
    assert app1[("haproxy", "server_maxconn app1")] == ("20", "what app1 serves at once; more wait in HAProxy")
    assert app1[("celery", "concurrency")] == ("4", "one per vCPU (Celery default), fits the 644 MB share at 128 MB each")
    assert db1[("memory budget", "postgresql")] == ("3.56 GB", "RAM less the OS reserve: the only service on the host")
    assert db1[("postgresql (primary)", "shared_buffers")] == ("1 GB", "25% of the 4 GB of RAM")
    assert db1[("postgresql (primary)", "max_wal_size")] == ("4 GB", "PGTune web profile: fits from 2 GB of RAM")
    assert db1[("postgresql (primary)", "max_connections")] == ("38", "25 app + 10 admin + 3 superuser connections")
    assert db1[("postgresql (primary)", "max_wal_senders")] == ("10", "2 per standby (1) + 2, at least 10")
    assert db2[("postgresql (replica)", "max_wal_size")] == ("2 GB", "2 x the 1 GB of RAM, in 16 MB WAL segments")
    assert db2[("postgresql (replica)", "wal_buffers")] == ("7.7 MB", "3% of shared_buffers")
    totals = rows([""] + found["cluster totals"])
    assert totals[(None, "web_concurrency")] == ("20", "requests at once, workers x threads: app1 20")
    assert totals[(None, "max_connections")] == (
        "38", "25 needed + 10 admin + 3 superuser; the smallest of the DB hosts")
    assert totals[(None, "memcached_client_connections")] == (
        "25", "20 from web workers (a pool of up to 4 each) + 4 Celery + 1 beat")


def test_reference_topology_dedicated_hosts():
    result = reference()
    text = plan_text.plan_text(result, LABELS)
    assert_plain(text)
    assert_complete(result, text, LABELS)
    found = blocks(text)
    web1, mq1, cache1 = rows(found["web1"]), rows(found["mq1"]), rows(found["cache1"])
    assert web1[("gunicorn", "workers")] == ("5", "2 x 2 vCPUs + 1, fits the 1.55 GB share at 256 MB each")
    assert mq1[("rabbitmq", "vm_memory_high_watermark.relative")][0] == "0.6"
    assert mq1[("rabbitmq", "vm_memory_high_watermark.relative")][1].startswith("a fraction of the 2 GB of RAM")
    assert cache1[("memcached", "threads")] == ("2", "all 2 vCPUs of a dedicated host, at most 64")
    web_line = rows([""] + found["cluster totals"])[(None, "web_concurrency")]
    assert web_line == ("40", "requests at once, workers x threads: web1 20 + web2 20")


def test_wal_keep_sizes_from_the_helper_are_explained():
    """Once plan.py takes wal_keep_size / max_slot_wal_keep_size from tuning.pg_wal_keep_sizes."""
    result = three_hosts()
    keep = tuning.pg_wal_keep_sizes([4096, 1024])
    for name in ("db1", "db2"):
        result["hosts"][name]["postgresql"].update(keep)
    text = plan_text.plan_text(result, LABELS)
    db1 = rows(blocks(text)["db1"])
    assert db1[("postgresql (primary)", "max_slot_wal_keep_size")] == (
        "2 GB", "max_wal_size of the smallest DB host: the most WAL a dead slot keeps")
    assert db1[("postgresql (primary)", "wal_keep_size")] == (
        "512 MB", "min_wal_size of the smallest DB host: kept for a standby without a slot")
    fixed = rows(blocks(plan_text.plan_text(three_hosts(), LABELS))["db2"])
    assert fixed[("postgresql (replica)", "max_slot_wal_keep_size")][0] in ("4 GB", "2 GB")


# --- overrides, warnings, other shapes -----------------------------------------------------------------

def test_overrides_say_so_with_the_computed_value():
    result = reference(gunicorn_workers=12, gunicorn_threads=2)
    text = plan_text.plan_text(result)
    assert_complete(result, text)
    web1 = rows(blocks(text)["web1"])
    assert web1[("gunicorn", "workers")] == ("12", "set in the inventory; computed: 5")
    assert web1[("gunicorn", "threads")] == ("2", "set in the inventory; computed: 4")
    assert web1[("gunicorn", "concurrency")] == ("24", "12 workers x 2 threads: requests at once")
    result = plan.cluster_plan({"mq1": host(["rabbitmq"], rabbitmq_vm_memory_high_watermark="5GB",
                                            rabbitmq_disk_free_limit=1.5)})
    mq1 = rows(blocks(plan_text.plan_text(result))["mq1"])
    assert mq1[("rabbitmq", "vm_memory_high_watermark.absolute")] == ("4.66 GB", "set in the inventory as 5GB")
    assert mq1[("rabbitmq", "disk_free_limit.relative")] == ("1.5", "set in the inventory")
    result = three_hosts(postgresql_settings={"work_mem": "16MB", "log_min_duration_statement": "500ms"})
    db1 = rows(blocks(plan_text.plan_text(result, LABELS))["db1"])
    assert db1[("postgresql (primary)", "work_mem")] == ("16 MB", "set in the inventory as 16MB; computed: 22.3 MB")
    assert db1[("postgresql (primary)", "log_min_duration_statement")] == (
        "500ms", "set in the inventory (postgresql_settings)")


def test_too_few_connections_is_a_clear_warning():
    result = reference()
    result = plan.cluster_plan({name: host(groups, **({"postgresql_max_connections": 30} if name == "db1" else {}))
                                for name, groups in (("web1", ["webservers"]), ("web2", ["webservers"]),
                                                     ("db1", ["db_primary"]), ("worker1", ["celery_workers"]))})
    assert not result["totals"]["db_connections_ok"]
    text = plan_text.plan_text(result)
    assert_plain(text)
    assert_complete(result, text)
    totals = rows([""] + blocks(text)["cluster totals"])
    assert totals[(None, "db_connections_ok")] == ("NO", "TOO LOW: 42 needed > 30 - 3 superuser = 27")
    assert totals[(None, "max_connections")] == ("30", "set in the inventory; computed: 55")
    warning = text[text.index("WARNING"):]
    assert " ".join(warning.split()) == (
        "WARNING: PostgreSQL max_connections 30 leaves 27 connections for the apps, which can open 42: set "
        "postgresql_max_connections to 55 or more, or lower the web or Celery concurrency.")


def test_mod_wsgi_prefork_and_no_database():
    result = plan.cluster_plan({"web1": host(["webservers"], 1024, 4, django_app_server="mod_wsgi",
                                             mod_wsgi_mpm="prefork", mod_wsgi_threads=15)})
    text = plan_text.plan_text(result)
    assert_plain(text)
    assert_complete(result, text)
    web1 = rows(blocks(text)["web1"])
    assert web1[("apache_mpm", "MaxRequestWorkers")][1].startswith("capped: 16 MB per child")
    assert web1[("mod_wsgi", "threads")] == ("15", "set in the inventory; computed: 5")
    totals = rows([""] + blocks(text)["cluster totals"])
    assert totals[(None, "max_connections")] == ("-", "no database host in this plan")


@pytest.mark.parametrize("mpm", ["event", "worker"])
def test_threaded_mpms_are_explained(mpm):
    result = plan.cluster_plan({"web1": host(["webservers"], 4096, 4, django_app_server="mod_wsgi", mod_wsgi_mpm=mpm)})
    text = plan_text.plan_text(result)
    assert_plain(text)
    assert_complete(result, text)
    web1 = rows(blocks(text)["web1"])
    assert web1[("apache_mpm", "MaxRequestWorkers")][1] == (
        "ServerLimit x ThreadsPerChild, for 10 + max(10, 1.5 x 4 processes x 5 threads) = 40 clients")


def test_labels_may_be_lists_and_are_optional():
    text = plan_text.plan_text(three_hosts(), {"db1": ["primary", "backup source"]})
    assert "== db1 (primary, backup source): 4 GB RAM" in text
    assert "postgresql (primary, backup source)" in text
    assert "== db2: 1 GB RAM, 1 vCPU " in plan_text.plan_text(three_hosts())


@pytest.mark.parametrize("args, error, message", [
    (([],), TypeError, "plan must be cluster_plan"),
    (({"hosts": {}},), ValueError, "plan must be cluster_plan"),
    (({"hosts": {"web1": {"services": []}}, "totals": {}},), ValueError, "host web1: plan entry needs"),
    (({"hosts": {}, "totals": {}}, ["db1"]), TypeError, "labels must map host names"),
    (({"hosts": {}, "totals": {}}, {"db1": 1}), TypeError, r"labels\[db1\] must be a label"),
])
def test_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        plan_text.plan_text(*args)


def test_a_plan_that_does_not_add_up_names_the_host():
    result = all_in_one()
    result["hosts"]["vps1"]["gunicorn"]["worker_memory_mb"] = "lots"
    with pytest.raises(ValueError, match="host vps1: gunicorn: the plan does not add up"):
        plan_text.plan_text(result)


GROUP_SETS = st.lists(st.sampled_from(ALL_GROUPS + ["db_replicas", "redis"]), min_size=1, unique=True)


@settings(max_examples=150, deadline=None)
@given(sizes=st.lists(st.tuples(GROUP_SETS, st.integers(1024, 128 * 1024), st.integers(1, 64), st.booleans()),
                      min_size=1, max_size=4))
def test_any_plan_reads_back_completely(sizes):
    hosts = {f"host{i}": host(groups, memory_mb, cpus, redis_persistence=persistent)
             for i, (groups, memory_mb, cpus, persistent) in enumerate(sizes)}
    try:
        result = plan.cluster_plan(hosts)
    except ValueError:
        assume(False)
    labels = {name: "primary" if "db_primary" in spec["groups"] else "replica"
              for name, spec in hosts.items() if "postgresql" in result["hosts"][name]["services"]}
    text = plan_text.plan_text(result, labels)
    assert_plain(text)
    assert_complete(result, text, labels)


def test_redis_as_a_broker_is_explained():
    result = plan.cluster_plan({"kv1": host(["redis"], redis_persistence=True)})
    table = rows(blocks(plan_text.plan_text(result))["kv1"])
    assert table[("redis", "maxmemory_mb")][1] == "(the 1.69 GB share - 16 MB) / 2: a save forks and may double the memory"
    assert table[("redis", "maxmemory_policy")] == ("volatile-lru", "evict only keys with a TTL: never a Celery queue")
    assert table[("redis", "appendonly")][0] == "on"
