"""Unit tests for plugins/module_utils/plan.py: the cluster plan over plain dicts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.django_deploy.stack.plugins.module_utils import plan, tuning

ALL_GROUPS = ["loadbalancers", "webservers", "db_primary", "memcached", "rabbitmq", "celery_workers",
              "celery_beat"]


def host(groups, memory_mb=2048, cpus=2, **overrides):
    return {"memory_mb": memory_mb, "cpus": cpus, "groups": groups, "overrides": overrides}


def reference(**web1_overrides):
    """inventories/local: the reference topology, every host 2 GB / 2 vCPUs."""
    return {
        "lb1": host(["loadbalancers"]), "web1": host(["webservers"], **web1_overrides),
        "web2": host(["webservers"]), "db1": host(["db_primary"]), "db2": host(["db_replicas"]),
        "cache1": host(["memcached"]), "mq1": host(["rabbitmq"]),
        "worker1": host(["celery_workers", "celery_beat"]),
    }


def test_all_in_one_plan_has_every_service_and_consistent_totals():
    result = plan.cluster_plan({"vps1": host(ALL_GROUPS)})
    vps1 = result["hosts"]["vps1"]
    assert vps1["services"] == ["celery_beat", "celery_worker", "gunicorn", "haproxy", "memcached", "nginx",
                                "postgresql", "rabbitmq"]
    assert {"gunicorn", "nginx", "haproxy", "memcached", "rabbitmq", "celery", "postgresql"} <= set(vps1)
    assert "mod_wsgi" not in vps1
    assert sum(v for k, v in vps1["budget_mb"].items() if k != "os_reserve") <= 2048 - vps1["budget_mb"]["os_reserve"]
    totals = result["totals"]
    assert totals["web_concurrency"] == vps1["gunicorn"]["concurrency"]
    assert totals["celery_concurrency"] == vps1["celery"]["concurrency"]
    assert totals["celery_beat"] == 1
    assert totals["db_connections_needed"] == totals["web_concurrency"] + totals["celery_concurrency"] + 1
    assert totals["max_connections"] == int(vps1["postgresql"]["max_connections"])
    assert totals["db_connections_ok"]
    # Shared host: PGTune is fed PostgreSQL's share, not the whole RAM.
    expected = tuning.pg_tune(vps1["budget_mb"]["postgresql"], 2, totals["max_connections"])
    assert vps1["postgresql"]["shared_buffers"] == expected["shared_buffers"]
    # Shared host: RabbitMQ gets an absolute watermark of its share.
    assert vps1["rabbitmq"]["vm_memory_high_watermark.absolute"] == f"{vps1['budget_mb']['rabbitmq']}MiB"


@pytest.mark.parametrize("memory_mb", [900, 1024])
def test_one_gigabyte_all_in_one_plans(memory_mb):
    vps1 = plan.cluster_plan({"vps1": host(ALL_GROUPS, memory_mb=memory_mb, cpus=1)})["hosts"]["vps1"]
    assert vps1["gunicorn"]["workers"] == 1
    assert vps1["celery"]["concurrency"] == 1
    assert vps1["memcached"]["memory_mb"] >= 16


def test_reference_topology():
    result = plan.cluster_plan(reference())
    hosts, totals = result["hosts"], result["totals"]
    assert hosts["lb1"]["services"] == ["haproxy"]
    assert hosts["lb1"]["haproxy"]["server_maxconn"] == {"web1": 20, "web2": 20}
    assert hosts["web1"]["gunicorn"]["workers"] == 5  # 2 x 2 + 1, memory allows it
    # Dedicated database hosts are PGTune exactly, on the whole RAM, with cluster values merged.
    for name in ("db1", "db2"):
        pg = hosts[name]["postgresql"]
        assert pg["shared_buffers"] == "512MB" and pg["effective_cache_size"] == "1536MB"
        assert pg["max_connections"] == str(totals["max_connections"])
        assert pg["wal_level"] == "replica" and pg["hot_standby"] == "on"
    assert hosts["db1"]["postgresql"] == hosts["db2"]["postgresql"]
    assert hosts["mq1"]["rabbitmq"]["vm_memory_high_watermark.relative"] == "0.6"
    assert hosts["cache1"]["memcached"]["threads"] == 2
    assert totals == {"web_concurrency": 40, "celery_concurrency": 2, "celery_beat": 1,
                      "db_connections_needed": 43, "max_connections": 56, "db_superuser_reserved": 3,
                      "db_connections_ok": True, "memcached_client_connections": 43}


def test_overrides_reach_the_host_entry_and_the_totals():
    base = plan.cluster_plan(reference())
    result = plan.cluster_plan(reference(gunicorn_workers=12))
    assert result["hosts"]["web1"]["gunicorn"]["workers"] == 12
    assert result["hosts"]["lb1"]["haproxy"]["server_maxconn"]["web1"] == 48
    assert result["totals"]["web_concurrency"] == base["totals"]["web_concurrency"] + 28
    assert result["totals"]["db_connections_needed"] == base["totals"]["db_connections_needed"] + 28
    assert result["totals"]["max_connections"] == base["totals"]["max_connections"] + 28
    assert result["hosts"]["db2"]["postgresql"]["max_connections"] == str(result["totals"]["max_connections"])


@pytest.mark.parametrize("overrides, path, expected", [
    ({"gunicorn_threads": "8"}, ("web1", "gunicorn", "concurrency"), 40),
    ({"gunicorn_worker_memory_mb": 512}, ("web1", "gunicorn", "workers"), 3),
    ({"nginx_worker_connections": 768}, ("web1", "nginx", "worker_rlimit_nofile"), 1536),
    ({"nginx_worker_processes": 1}, ("web1", "nginx", "worker_processes"), 1),
])
def test_web_overrides(overrides, path, expected):
    result = plan.cluster_plan(reference(**overrides))["hosts"]
    assert result[path[0]][path[1]][path[2]] == expected


def test_every_override_variable_is_honoured():
    hosts = {
        "vps1": host(ALL_GROUPS, memory_mb=4096, cpus=4, django_app_server="mod_wsgi", mod_wsgi_processes=3,
                     mod_wsgi_threads=10, mod_wsgi_mpm="worker", memcached_memory_mb=100,
                     memcached_max_connections=2048, memcached_threads=1,
                     rabbitmq_vm_memory_high_watermark="300MiB", rabbitmq_disk_free_limit="2GiB",
                     celery_concurrency=3, haproxy_maxconn=5000, postgresql_max_connections=300,
                     postgresql_storage="hdd", postgresql_version=16,
                     postgresql_settings={"work_mem": "16MB", "log_min_duration_statement": "500ms"}),
    }
    result = plan.cluster_plan(hosts)
    vps1 = result["hosts"]["vps1"]
    assert "gunicorn" not in vps1 and vps1["services"].count("mod_wsgi") == 1
    assert (vps1["mod_wsgi"]["processes"], vps1["mod_wsgi"]["threads"]) == (3, 10)
    assert vps1["apache_mpm"]["mpm"] == "worker"
    assert vps1["memcached"] == {"memory_mb": 100, "max_connections": 2048, "threads": 1}
    assert vps1["rabbitmq"] == {"vm_memory_high_watermark.absolute": "300MiB", "disk_free_limit.absolute": "2GiB"}
    assert vps1["celery"]["concurrency"] == 3
    assert vps1["haproxy"]["global_maxconn"] == 5000
    pg = vps1["postgresql"]
    assert (pg["max_connections"], pg["random_page_cost"], pg["work_mem"]) == ("300", "4", "16MB")
    assert pg["log_min_duration_statement"] == "500ms"
    totals = result["totals"]
    assert totals["web_concurrency"] == 30 and totals["celery_concurrency"] == 3
    assert totals["max_connections"] == 300


@pytest.mark.parametrize("overrides, message", [
    ({"gunicorn_workers": "abc"}, r"host web1: gunicorn_workers must be an integer"),
    ({"gunicorn_workers": 0}, r"host web1: gunicorn_workers must be >= 1"),
    ({"gunicorn_threads": True}, r"host web1: gunicorn_threads must be an integer"),
    ({"django_app_server": "uwsgi"}, r"host web1: django_app_server must be one of gunicorn, mod_wsgi"),
    ({"mod_wsgi_mpm": "winnt"}, r"host web1: mod_wsgi_mpm must be one of"),
    ({"nginx_worker_connections": "many"}, r"host web1: nginx_worker_connections"),
])
def test_bad_overrides_name_host_and_variable(overrides, message):
    with pytest.raises((TypeError, ValueError), match=message):
        plan.cluster_plan(reference(**overrides))


def test_bad_database_overrides_name_host_and_variable():
    hosts = reference()
    hosts["db1"]["overrides"] = {"postgresql_storage": "tape"}
    with pytest.raises(ValueError, match="host db1: postgresql_storage must be one of ssd, hdd, san, nvme"):
        plan.cluster_plan(hosts)
    hosts["db1"]["overrides"] = {"postgresql_settings": "work_mem=1GB"}
    with pytest.raises(TypeError, match="host db1: postgresql_settings must be a mapping"):
        plan.cluster_plan(hosts)
    hosts["db1"]["overrides"] = {"postgresql_version": 16}
    with pytest.raises(ValueError, match="postgresql_version differs"):
        plan.cluster_plan(hosts)


def test_cluster_rules():
    hosts = reference()
    hosts["web2"]["groups"] = ["webservers", "celery_beat"]
    with pytest.raises(ValueError, match=r"celery_beat has 2 hosts \(web2, worker1\)"):
        plan.cluster_plan(hosts)
    hosts = reference()
    hosts["db2"]["groups"] = ["db_primary"]
    with pytest.raises(ValueError, match="db_primary has 2 hosts"):
        plan.cluster_plan(hosts)


def test_too_small_host_is_named():
    with pytest.raises(ValueError, match="host vps1: memory_mb=512 is too small"):
        plan.cluster_plan({"vps1": host(ALL_GROUPS, memory_mb=512)})


def test_postgresql_max_connections_override_is_cluster_wide_and_can_be_too_low():
    hosts = reference()
    hosts["db2"]["overrides"] = {"postgresql_max_connections": 30}
    result = plan.cluster_plan(hosts)
    assert result["hosts"]["db1"]["postgresql"]["max_connections"] == "30"
    assert result["totals"]["max_connections"] == 30
    assert result["totals"]["db_connections_ok"] is False


def test_plan_without_database_or_web():
    result = plan.cluster_plan({"cache1": host(["memcached"])})
    assert result["totals"]["max_connections"] is None
    assert result["totals"]["db_connections_ok"] is True
    assert plan.cluster_plan({})["hosts"] == {}


# --- pg_cluster_settings -----------------------------------------------------------------------------

@pytest.mark.parametrize("db_cpus, web, celery, beat, expected", [
    ([2], 4, 1, 1, {"max_connections": "25", "max_worker_processes": "8", "max_wal_senders": "10"}),
    ([4, 2], 40, 2, 1, {"max_connections": "56", "max_worker_processes": "8", "max_wal_senders": "10"}),
    ([16, 4, 4, 4, 4, 4], 400, 32, 1, {"max_connections": "446", "max_worker_processes": "16",
                                       "max_wal_senders": "12", "max_replication_slots": "12"}),
])
def test_pg_cluster_settings(db_cpus, web, celery, beat, expected):
    result = plan.pg_cluster_settings(db_cpus, web, celery, beat)
    assert {key: result[key] for key in expected} == expected
    assert result["max_prepared_transactions"] == "0" and result["max_locks_per_transaction"] == "64"


@pytest.mark.parametrize("args, message", [
    (([], 10), "db_cpus"), (("4", 10), "db_cpus"), (([0], 10), "db_cpus"), (([2], -1), "web_concurrency"),
    (([2], 10, -1), "celery_concurrency"), (([2], 10, 0, 0, 2), "max_connections")])
def test_pg_cluster_settings_rejects_bad_input(args, message):
    with pytest.raises((TypeError, ValueError), match=message):
        plan.pg_cluster_settings(*args)


@settings(max_examples=500, deadline=None)
@given(primary=st.integers(1, 128), standbys=st.lists(st.integers(1, 128), max_size=6),
       web=st.integers(0, 5000), celery=st.integers(0, 500), beat=st.integers(0, 1))
def test_standbys_never_below_the_primary(primary, standbys, web, celery, beat):
    cluster = plan.pg_cluster_settings([primary, *standbys], web, celery, beat)
    assert int(cluster["max_worker_processes"]) >= max([primary, *standbys])
    assert int(cluster["max_connections"]) >= web + celery + beat + 3
    assert int(cluster["max_wal_senders"]) >= len(standbys) + 2
    # Every database host merges the same values, whatever its own size.
    for cpus in (primary, *standbys):
        merged = {**tuning.pg_tune(2048, cpus, int(cluster["max_connections"])), **cluster}
        assert int(merged.get("max_parallel_workers", 0)) <= int(merged["max_worker_processes"])


@settings(max_examples=300, deadline=None)
@given(memory=st.integers(1024, 256 * 1024), cpus=st.integers(1, 64), webs=st.integers(1, 6),
       workers=st.integers(1, 4))
def test_plan_properties(memory, cpus, webs, workers):
    hosts = {f"web{i}": host(["webservers"], memory, cpus) for i in range(webs)}
    hosts.update({"db1": host(["db_primary"], memory, cpus), "db2": host(["db_replicas"], memory, 1),
                  "lb1": host(["loadbalancers"], memory, cpus)})
    hosts.update({f"worker{i}": host(["celery_workers"], memory, cpus) for i in range(workers)})
    result = plan.cluster_plan(hosts)
    totals = result["totals"]
    assert totals["db_connections_ok"]
    assert totals["web_concurrency"] == sum(result["hosts"][f"web{i}"]["gunicorn"]["concurrency"] for i in range(webs))
    assert result["hosts"]["db1"]["postgresql"]["max_connections"] == result["hosts"]["db2"]["postgresql"][
        "max_connections"] == str(totals["max_connections"])
    assert result["hosts"]["db1"]["postgresql"]["max_worker_processes"] == result["hosts"]["db2"]["postgresql"][
        "max_worker_processes"]
    assert sum(result["hosts"]["lb1"]["haproxy"]["server_maxconn"].values()) == totals["web_concurrency"]
    assert result == plan.cluster_plan(dict(reversed(list(hosts.items()))))  # deterministic


# --- from Ansible's hostvars and groups -------------------------------------------------------------

GROUPS = {"all": ["web1", "db1", "bastion"], "ungrouped": ["bastion"], "webservers": ["web1"],
          "db_primary": ["db1"], "monitoring": ["db1"]}


def test_hosts_from_inventory_prefers_variables_then_facts():
    hostvars = {
        "web1": {"django_deploy_host_memory_mb": "2048", "django_deploy_host_cpus": 2,
                 "ansible_facts": {"memtotal_mb": 64000, "processor_vcpus": 32}, "gunicorn_workers": 3,
                 "unrelated": "x"},
        "db1": {"ansible_facts": {"memtotal_mb": 7963, "processor_vcpus": 4}},
        "bastion": {},  # in none of our groups: not planned, so it needs no size
    }
    hosts = plan.hosts_from_inventory(hostvars, GROUPS)
    assert hosts == {
        "db1": {"memory_mb": 7963, "cpus": 4, "groups": ["db_primary"], "overrides": {}},
        "web1": {"memory_mb": 2048, "cpus": 2, "groups": ["webservers"], "overrides": {"gunicorn_workers": 3}},
    }


@pytest.mark.parametrize("web1, message", [
    ({}, "host web1: its RAM and CPU count are unknown; gather its facts .* django_deploy_host_memory_mb and "
         "django_deploy_host_cpus"),
    ({"django_deploy_host_memory_mb": 2048}, "host web1: its RAM and CPU count are unknown"),
    ({"django_deploy_host_memory_mb": "2 GB", "django_deploy_host_cpus": 2},
     "host web1: django_deploy_host_memory_mb must be an integer"),
])
def test_hosts_from_inventory_errors_name_host_and_fix(web1, message):
    hostvars = {"web1": web1, "db1": {"ansible_facts": {"memtotal_mb": 2048, "processor_vcpus": 2}}}
    with pytest.raises((TypeError, ValueError), match=message):
        plan.hosts_from_inventory(hostvars, GROUPS)


def test_the_data_filesystem_bounds_the_wal_and_is_found_by_longest_mount():
    mounts = [{"mount": "/", "size_available": 50 * 1024 ** 3},
              {"mount": "/var/lib", "size_available": 3 * 1024 ** 3},
              {"mount": "/var/lib/postgresqlx", "size_available": 1}]
    assert plan.data_disk_mb(mounts, plan.POSTGRESQL_DATA_ROOT) == 3072
    assert plan.data_disk_mb([], plan.POSTGRESQL_DATA_ROOT) is None
    hostvars = {"db1": {"ansible_facts": {"memtotal_mb": 8192, "processor_vcpus": 4, "mounts": mounts}},
                "web1": {"ansible_facts": {"memtotal_mb": 2048, "processor_vcpus": 2}}}
    hosts = plan.hosts_from_inventory(hostvars, {"webservers": ["web1"], "db_primary": ["db1"]})
    assert hosts["db1"]["disk_mb"] == 3072 and "disk_mb" not in hosts["web1"]
    settings = plan.cluster_plan(hosts)["hosts"]["db1"]["postgresql"]
    # 10% of a 3 GB filesystem, in whole 16 MB segments: not PGTune's 4GB.
    assert settings["max_wal_size"] == "304MB"
    assert settings["max_slot_wal_keep_size"] == settings["max_wal_size"]


def test_redis_overrides_and_persistence():
    result = plan.cluster_plan({"kv1": host(["redis"], redis_maxmemory_mb=100, redis_maxmemory_policy="noeviction",
                                            redis_persistence=True)})
    assert result["hosts"]["kv1"]["redis"] == {"maxmemory_mb": 100, "maxmemory_policy": "noeviction", "appendonly": True}
    with pytest.raises(TypeError, match="host kv1: redis_persistence must be true or false"):
        plan.cluster_plan({"kv1": host(["redis"], redis_persistence="yes")})


# --- the connection pooler (postgresql_pooler: pgbouncer) ------------------------------------------

@pytest.mark.parametrize("clients, max_connections, cpus, expected", [
    # The cluster scenario: 18 app connections, max_connections 31, 1 vCPU: the floor of 10.
    (18, 31, 1, {"max_client_conn": 46, "default_pool_size": 10, "reserve_pool_size": 2, "max_db_connections": 13}),
    # Fewer app connections than the floor: never more server connections than clients, no reserve.
    (4, 25, 2, {"max_client_conn": 18, "default_pool_size": 4, "reserve_pool_size": 0, "max_db_connections": 5}),
    # A large host: (2 x 16) + 1 = 33 server connections for 200 clients.
    (200, 213, 16, {"max_client_conn": 410, "default_pool_size": 33, "reserve_pool_size": 8, "max_db_connections": 42}),
    # PostgreSQL leaves room for 2 only (16 - 3 superuser - 10 admin - 1 auth): the pool takes them, no reserve.
    (50, 16, 4, {"max_client_conn": 110, "default_pool_size": 2, "reserve_pool_size": 0, "max_db_connections": 3}),
])
def test_pooler_settings_table(clients, max_connections, cpus, expected):
    assert plan.pooler_settings(clients, max_connections, cpus) == expected


@pytest.mark.parametrize("args, message", [
    ((18, 14, 1), "leaves no server connection"),
    ((0, 31, 1), "clients_needed"),
    ((18, 31, 0), "cpus"),
    ((18, "31", 1), "max_connections"),
])
def test_pooler_settings_refuses_what_cannot_be_planned(args, message):
    with pytest.raises((TypeError, ValueError), match=message):
        plan.pooler_settings(*args)


@settings(max_examples=300, deadline=None)
@given(clients=st.integers(1, 5000), max_connections=st.integers(15, 5000), cpus=st.integers(1, 128))
def test_pooler_never_opens_more_than_postgresql_leaves_or_the_app_needs(clients, max_connections, cpus):
    sizes = plan.pooler_settings(clients, max_connections, cpus)
    room = max_connections - plan.PG_SUPERUSER_RESERVED - plan.PG_ADMIN_CONNECTIONS
    assert 1 <= sizes["default_pool_size"] <= clients
    assert sizes["default_pool_size"] + sizes["reserve_pool_size"] <= clients
    assert sizes["max_db_connections"] == sizes["default_pool_size"] + sizes["reserve_pool_size"] + 1
    assert sizes["max_db_connections"] <= room
    # Every app connection, twice over (a rolling deploy), is accepted as a client.
    assert sizes["max_client_conn"] >= 2 * clients


def test_cluster_plan_sizes_the_pooler_on_every_database_host_from_the_app_tier():
    hosts = reference()
    for spec in hosts.values():
        spec["overrides"]["postgresql_pooler"] = "pgbouncer"
    result = plan.cluster_plan(hosts)
    totals = result["totals"]
    for name in ("db1", "db2"):
        entry = result["hosts"][name]
        assert entry["pgbouncer"] == plan.pooler_settings(totals["db_connections_needed"],
                                                          int(entry["postgresql"]["max_connections"]), entry["cpus"])
    assert totals["pooler_client_connections"] == 2 * totals["db_connections_needed"] + plan.POOLER_ADMIN_CLIENTS
    assert totals["pooler_server_connections"] <= totals["max_connections"] - plan.PG_SUPERUSER_RESERVED
    assert all("pgbouncer" not in entry for name, entry in result["hosts"].items() if name not in ("db1", "db2"))


def test_cluster_plan_without_the_pooler_has_no_pooler_sizes():
    result = plan.cluster_plan(reference())
    assert not any("pgbouncer" in entry for entry in result["hosts"].values())
    assert "pooler_client_connections" not in result["totals"]


def test_cluster_plan_refuses_an_unknown_pooler_naming_it():
    hosts = reference()
    hosts["db1"]["overrides"]["postgresql_pooler"] = "pgpool"
    with pytest.raises(ValueError, match="host db1: postgresql_pooler"):
        plan.cluster_plan(hosts)
