"""Unit tests for plugins/module_utils/tuning.py: parameter tables and hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ansible_collections.django_deploy.stack.plugins.module_utils import tuning

ALL_IN_ONE = ["celery_beat", "celery_worker", "gunicorn", "haproxy", "memcached", "nginx",
              "postgresql", "rabbitmq"]
RAM_MB = st.integers(min_value=256, max_value=4 * 1024 * 1024)  # 256 MB .. 4 TB
CPUS = st.integers(min_value=1, max_value=256)
SERVICE_SETS = st.lists(st.sampled_from(tuning.SERVICES), unique=True, max_size=len(tuning.SERVICES))

# --- PGTune, "web" profile, Linux, SSD, 200 connections: sizing-sources 1.1, HEAD column -------------

COMMON = {
    "max_connections": "200", "checkpoint_completion_target": "0.9", "wal_buffers": "16MB",
    "default_statistics_target": "100", "random_page_cost": "1.1", "effective_io_concurrency": "200",
    "jit": "off", "wal_compression": "lz4", "min_wal_size": "1GB", "max_wal_size": "4GB",
}


def parallel(cpus, gather):
    return {"max_worker_processes": str(cpus), "max_parallel_workers_per_gather": str(gather),
            "max_parallel_workers": str(cpus), "max_parallel_maintenance_workers": str(gather)}


PGTUNE_VECTORS = [
    # memory_mb, cpus, expected (besides COMMON)
    (2 * 1024, 1, {"shared_buffers": "512MB", "effective_cache_size": "1536MB",
                   "maintenance_work_mem": "128MB", "work_mem": "4MB", "huge_pages": "off"}),
    (4 * 1024, 2, {"shared_buffers": "1GB", "effective_cache_size": "3GB",
                   "maintenance_work_mem": "256MB", "work_mem": "5041kB", "huge_pages": "off"}),
    (8 * 1024, 4, {"shared_buffers": "2GB", "effective_cache_size": "6GB",
                   "maintenance_work_mem": "512MB", "work_mem": "10280kB", "huge_pages": "try",
                   **parallel(4, 2)}),
    (16 * 1024, 8, {"shared_buffers": "4GB", "effective_cache_size": "12GB",
                    "maintenance_work_mem": "1GB", "work_mem": "20164kB", "huge_pages": "try",
                    **parallel(8, 4)}),
    (64 * 1024, 16, {"shared_buffers": "16GB", "effective_cache_size": "48GB",
                     "maintenance_work_mem": "4GB", "work_mem": "77672kB", "huge_pages": "try",
                     "autovacuum_max_workers": "4", "autovacuum_work_mem": "2GB", **parallel(16, 4)}),
]


@pytest.mark.parametrize("pg_version", [16, 15])
@pytest.mark.parametrize("memory_mb, cpus, expected", PGTUNE_VECTORS)
def test_pg_tune_reproduces_pgtune_head(memory_mb, cpus, expected, pg_version):
    result = tuning.pg_tune(memory_mb, cpus=cpus, max_connections=200, pg_version=pg_version, storage="ssd")
    assert result == {**COMMON, **expected}


def test_pg_tune_keys_in_pgtune_output_order():
    keys = list(tuning.pg_tune(64 * 1024, cpus=16, pg_version=16))
    assert keys == [
        "max_connections", "shared_buffers", "effective_cache_size", "maintenance_work_mem",
        "checkpoint_completion_target", "wal_buffers", "default_statistics_target", "random_page_cost",
        "effective_io_concurrency", "work_mem", "huge_pages", "jit", "wal_compression",
        "autovacuum_max_workers", "autovacuum_work_mem", "min_wal_size", "max_wal_size",
        "max_worker_processes", "max_parallel_workers_per_gather", "max_parallel_workers",
        "max_parallel_maintenance_workers"]


@pytest.mark.parametrize("memory_mb, cpus, connections, key, expected", [
    (4096, 1, 200, "work_mem", "5041kB"),  # le0pard/pgtune#113 example: 1 CPU, default W = 8
    (4096, 2, 9999, "work_mem", "4MB"),  # upstream jest: 4 GB / 9999 connections hits the floor
    (4096, 4, 100, "work_mem", "10082kB"),  # (4194304 - 1048576) / ((100 + 4) * 3) = 10082.4
    (256, 1, 200, "wal_buffers", "1966kB"),  # 3 % of 64 MB
    (1, 1, 200, "wal_buffers", "32kB"),  # floor
    (1, 1, 200, "shared_buffers", "256kB"),
    (3 * 1024, 1, 200, "shared_buffers", "768MB"),
    (1000, 1, 200, "shared_buffers", "250MB"),
    (1001, 1, 200, "shared_buffers", "256256kB"),
    (8191, 4, 200, "huge_pages", "off"),  # shared_buffers just under 2 GB
    (160 * 1024, 32, 200, "maintenance_work_mem", "8GB"),  # RAM/16 = 10 GB, capped at 8 GB
    (160 * 1024, 32, 200, "autovacuum_max_workers", "5"),
    (16 * 1024, 3, 200, "max_worker_processes", None),  # no parallel block below 4 CPUs
])
def test_pg_tune_single_values(memory_mb, cpus, connections, key, expected):
    assert tuning.pg_tune(memory_mb, cpus=cpus, max_connections=connections).get(key) == expected


@pytest.mark.parametrize("pg_version, jit, compression, maintenance_workers, io_method", [
    (10, None, "on", None, None),
    (11, None, "on", "4", None),
    (12, "off", "on", "4", None),
    (14, "off", "on", "4", None),
    (15, "off", "lz4", "4", None),
    (17, "off", "lz4", "4", None),
    (18, "off", "lz4", "4", "io_uring"),
])
def test_pg_tune_version_dependent(pg_version, jit, compression, maintenance_workers, io_method):
    result = tuning.pg_tune(32 * 1024, cpus=16, pg_version=pg_version)
    assert result.get("jit") == jit
    assert result["wal_compression"] == compression
    assert result.get("max_parallel_maintenance_workers") == maintenance_workers
    assert result.get("io_method") == io_method
    assert "io_workers" not in result  # only for io_method=worker, never chosen on Linux
    assert ("max_parallel_workers" in result) == (pg_version >= 10)


@pytest.mark.parametrize("storage, random_page_cost, io_concurrency", [
    ("ssd", "1.1", "200"), ("hdd", "4", "2"), ("san", "1.1", "300"), ("nvme", "1.1", "1000")])
def test_pg_tune_storage(storage, random_page_cost, io_concurrency):
    result = tuning.pg_tune(4096, cpus=2, storage=storage)
    assert (result["random_page_cost"], result["effective_io_concurrency"]) == (random_page_cost, io_concurrency)


@pytest.mark.parametrize("kb, text", [(1048576, "1GB"), (3 * 1048576, "3GB"), (1536 * 1024, "1536MB"),
                                      (1024, "1MB"), (5041, "5041kB"), (1048575, "1048575kB")])
def test_pg_size_uses_the_largest_exact_unit(kb, text):
    assert tuning.pg_size(kb) == text


@pytest.mark.parametrize("kwargs, message", [
    ({"memory_mb": 0, "cpus": 1}, "memory_mb"),
    ({"memory_mb": 1024, "cpus": 0}, "cpus"),
    ({"memory_mb": 1024, "cpus": 1, "storage": "floppy"}, "storage"),
    ({"memory_mb": 1024, "cpus": 1, "pg_version": 9}, "pg_version"),
    ({"memory_mb": 1024, "cpus": 1, "pg_version": 19}, "pg_version"),
    ({"memory_mb": 1024, "cpus": 1, "max_connections": 0}, "max_connections"),
    ({"memory_mb": "1024", "cpus": 1}, "memory_mb"),
])
def test_pg_tune_rejects_bad_input(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        tuning.pg_tune(**kwargs)


# --- services and the host budget ----------------------------------------------------------------

@pytest.mark.parametrize("groups, app_server, expected", [
    (["webservers"], "gunicorn", ["gunicorn", "nginx"]),
    (["webservers"], "mod_wsgi", ["mod_wsgi", "nginx"]),
    (["loadbalancers"], "gunicorn", ["haproxy"]),
    (["db_primary"], "gunicorn", ["postgresql"]),
    (["db_replicas", "db_primary"], "gunicorn", ["postgresql"]),
    (["celery_workers", "celery_beat"], "gunicorn", ["celery_beat", "celery_worker"]),
    (["memcached", "rabbitmq", "monitoring", "ungrouped"], "gunicorn", ["memcached", "rabbitmq"]),
    (["loadbalancers", "webservers", "db_primary", "memcached", "rabbitmq", "celery_workers",
      "celery_beat"], "gunicorn", ALL_IN_ONE),
    ([], "gunicorn", []),
])
def test_host_services(groups, app_server, expected):
    assert tuning.host_services(groups, app_server=app_server) == expected


def test_host_services_rejects_unknown_app_server_and_strings():
    with pytest.raises(ValueError, match="app_server"):
        tuning.host_services(["webservers"], app_server="uwsgi")
    with pytest.raises(TypeError, match="groups"):
        tuning.host_services("webservers")


@pytest.mark.parametrize("memory_mb, reserve", [(256, 208), (1024, 256), (2048, 320), (4096, 448),
                                                (16384, 1216), (29696, 2048), (262144, 2048)])
def test_os_reserve(memory_mb, reserve):
    assert tuning.os_reserve_mb(memory_mb) == reserve


@pytest.mark.parametrize("service", tuning.SERVICES)
def test_dedicated_host_gives_its_service_the_whole_budget(service):
    budget = tuning.host_budget(4096, [service])
    assert budget == {service: 4096 - 448, "os_reserve": 448}


@pytest.mark.parametrize("memory_mb", [900, 960, 1024])
def test_one_gigabyte_all_in_one_gets_every_floor(memory_mb):
    budget = tuning.host_budget(memory_mb, ALL_IN_ONE)
    for service in ALL_IN_ONE:
        assert budget[service] >= tuning.BUDGET_SHARES[service][1]
    assert sum(budget[s] for s in ALL_IN_ONE) <= memory_mb - budget["os_reserve"]


def test_all_in_one_postgresql_gets_about_half_and_memcached_an_eighth():
    budget = tuning.host_budget(32 * 1024, ALL_IN_ONE)
    shareable = 32 * 1024 - budget["os_reserve"]
    assert 0.45 < budget["postgresql"] / shareable < 0.5
    assert 0.11 < budget["memcached"] / shareable < 0.13


def test_host_budget_too_small_names_memory_and_minimum():
    with pytest.raises(ValueError, match=r"memory_mb=800 is too small .* \(at least 836 MB of RAM\)"):
        tuning.host_budget(800, ALL_IN_ONE)
    assert tuning.host_budget(836, ALL_IN_ONE)


@pytest.mark.parametrize("services, message", [
    (["postgres"], "services"), ("postgresql", "services"), ([1], "services")])
def test_host_budget_rejects_unknown_services(services, message):
    with pytest.raises((TypeError, ValueError), match=message):
        tuning.host_budget(4096, services)


@settings(max_examples=3000, deadline=None)
@given(memory_mb=RAM_MB, services=SERVICE_SETS)
def test_host_budget_never_over_budget(memory_mb, services):
    try:
        budget = tuning.host_budget(memory_mb, services)
    except ValueError:
        floors = sum(tuning.BUDGET_SHARES[s][1] for s in services)
        assert floors > memory_mb - tuning.os_reserve_mb(memory_mb)
        return
    reserve = budget.pop("os_reserve")
    assert sorted(budget) == sorted(services)
    assert sum(budget.values()) <= memory_mb - reserve
    assert all(budget[s] >= tuning.BUDGET_SHARES[s][1] for s in services)
    if len(services) == 1:
        assert budget[services[0]] == memory_mb - reserve
    if services:  # floor division loses less than 1 MB per service
        assert sum(budget.values()) > memory_mb - reserve - len(services)


@settings(max_examples=2000, deadline=None)
@given(memory_mb=RAM_MB, more_mb=st.integers(min_value=0, max_value=256 * 1024), services=SERVICE_SETS)
def test_host_budget_is_monotone_in_ram_and_deterministic(memory_mb, more_mb, services):
    try:
        small = tuning.host_budget(memory_mb, services)
    except ValueError:
        assume(False)
    large = tuning.host_budget(memory_mb + more_mb, services)
    assert all(large[s] >= small[s] for s in services)
    assert tuning.host_budget(memory_mb, list(reversed(services))) == small


# --- sizing filters: tables -------------------------------------------------------------------------

@pytest.mark.parametrize("memory_mb, cpus, kwargs, workers, threads, worker_class", [
    (4096, 2, {}, 5, 4, "gthread"),  # 2 x 2 + 1
    (337, 2, {}, 1, 4, "gthread"),  # memory-bound: 337 MB / 256 MB
    (100, 8, {}, 1, 4, "gthread"),  # at least one worker
    (64 * 1024, 32, {}, 12, 4, "gthread"),  # capped at 12
    (64 * 1024, 32, {"max_workers": 65}, 65, 4, "gthread"),
    (1024, 4, {"worker_memory_mb": 128}, 8, 4, "gthread"),
    (1024, 4, {"workers": 12, "threads": 1}, 12, 1, "sync"),  # overrides win
])
def test_gunicorn_workers(memory_mb, cpus, kwargs, workers, threads, worker_class):
    result = tuning.gunicorn_workers(memory_mb, cpus, **kwargs)
    assert (result["workers"], result["threads"], result["worker_class"]) == (workers, threads, worker_class)
    assert result["concurrency"] == workers * threads


@pytest.mark.parametrize("memory_mb, cpus, kwargs, processes, threads", [
    (1024, 2, {}, 2, 5), (300, 8, {}, 1, 5), (8192, 4, {}, 4, 5), (8192, 4, {"processes": 6, "threads": 15}, 6, 15)])
def test_mod_wsgi_daemon(memory_mb, cpus, kwargs, processes, threads):
    result = tuning.mod_wsgi_daemon(memory_mb, cpus, **kwargs)
    assert (result["processes"], result["threads"], result["concurrency"]) == (processes, threads, processes * threads)


@pytest.mark.parametrize("mpm, processes, threads, expected", [
    # sizing-sources 3: mod_wsgi-express examples
    ("event", 2, 15, {"ThreadsPerChild": 18, "ServerLimit": 4, "MaxRequestWorkers": 72, "StartServers": 1,
                      "MinSpareThreads": 18, "MaxSpareThreads": 36, "MaxKeepAliveRequests": 0}),
    ("worker", 4, 5, {"ThreadsPerChild": 13, "ServerLimit": 4, "MaxRequestWorkers": 52,
                      "MaxKeepAliveRequests": 500}),
    ("event", 1, 5, {"ThreadsPerChild": 10, "ServerLimit": 2, "MaxRequestWorkers": 20,
                     "MinSpareThreads": 10, "MaxSpareThreads": 20}),
    ("prefork", 2, 15, {"ServerLimit": 55, "MaxRequestWorkers": 55, "StartServers": 2, "MinSpareServers": 2,
                        "MaxSpareServers": 5, "MaxKeepAliveRequests": 500}),
])
def test_apache_mpm_follows_mod_wsgi_express(mpm, processes, threads, expected):
    result = tuning.apache_mpm(mpm, processes, threads)
    assert {key: result[key] for key in expected} == expected
    assert result["mpm"] == mpm


def test_apache_prefork_never_swaps():
    result = tuning.apache_mpm("prefork", 4, 15, memory_mb=400, child_memory_mb=16)
    assert result["MaxRequestWorkers"] == 25 == result["ServerLimit"]


@pytest.mark.parametrize("memory_mb, cpus, kwargs, expected", [
    (64, 2, {}, {"memory_mb": 51, "max_connections": 1024, "threads": 2}),
    (1024, 8, {}, {"memory_mb": 1011, "max_connections": 1024, "threads": 4}),
    (1024, 8, {"dedicated": True}, {"memory_mb": 1011, "max_connections": 1024, "threads": 8}),
    (4096, 128, {"dedicated": True, "client_connections": 2000},
     {"memory_mb": 4073, "max_connections": 3000, "threads": 64}),
    (16, 1, {}, {"memory_mb": 16, "max_connections": 1024, "threads": 1}),
])
def test_memcached_settings(memory_mb, cpus, kwargs, expected):
    assert tuning.memcached_settings(memory_mb, cpus, **kwargs) == expected


@pytest.mark.parametrize("args, kwargs, expected", [
    ((512,), {}, {"vm_memory_high_watermark.absolute": "512MiB", "disk_free_limit.absolute": "512MiB"}),
    ((3648,), {"total_memory_mb": 4096, "dedicated": True},
     {"vm_memory_high_watermark.relative": "0.6", "disk_free_limit.absolute": "2458MiB"}),
    ((512,), {"watermark": "0.4", "total_memory_mb": 2048},
     {"vm_memory_high_watermark.relative": "0.4", "disk_free_limit.absolute": "820MiB"}),
    ((512,), {"watermark": "1GiB", "disk_free_limit": "5GB"},
     {"vm_memory_high_watermark.absolute": "1GiB", "disk_free_limit.absolute": "5GB"}),
    ((512,), {"disk_free_limit": 1.5},
     {"vm_memory_high_watermark.absolute": "512MiB", "disk_free_limit.relative": "1.5"}),
])
def test_rabbitmq_memory(args, kwargs, expected):
    assert tuning.rabbitmq_memory(*args, **kwargs) == expected


@pytest.mark.parametrize("kwargs, message", [
    ({"watermark": "lots"}, "watermark"), ({"watermark": 0}, "watermark"),
    ({"disk_free_limit": "big"}, "disk_free_limit")])
def test_rabbitmq_memory_rejects_bad_overrides(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tuning.rabbitmq_memory(512, **kwargs)


@pytest.mark.parametrize("memory_mb, cpus, expected", [(2048, 4, 4), (168, 2, 1), (10, 2, 1), (512, 8, 4)])
def test_celery_concurrency(memory_mb, cpus, expected):
    assert tuning.celery_concurrency(memory_mb, cpus) == expected


def test_haproxy_maxconn():
    assert tuning.haproxy_maxconn(1024, {"web2": 20, "web1": 8}) == {
        "global_maxconn": 20480, "frontend_maxconn": 18432, "server_maxconn": {"web1": 8, "web2": 20}}
    assert tuning.haproxy_maxconn(1024 * 1024)["global_maxconn"] == 100000
    assert tuning.haproxy_maxconn(1024, maxconn=5000)["frontend_maxconn"] == 4500


@pytest.mark.parametrize("memory_mb, cpus, kwargs, expected", [
    (128, 2, {}, (2, 4096)), (16, 4, {}, (4, 512)), (4096, 1, {}, (1, 16384)),
    (128, 2, {"worker_processes": 1, "worker_connections": 768}, (1, 768))])
def test_nginx_workers(memory_mb, cpus, kwargs, expected):
    result = tuning.nginx_workers(memory_mb, cpus, **kwargs)
    assert (result["worker_processes"], result["worker_connections"]) == expected
    assert result["worker_rlimit_nofile"] == 2 * result["worker_connections"]


@pytest.mark.parametrize("value, expected", [(12, 12), ("12", 12), (" 7 ", 7), (8.0, 8), ("-3", -3)])
def test_coerce_int_accepts_integers_in_disguise(value, expected):
    assert tuning.coerce_int("x", value) == expected


@pytest.mark.parametrize("value", ["abc", "2GB", 1.5, True, None, [1]])
def test_coerce_int_rejects_the_rest(value):
    with pytest.raises(TypeError, match="gunicorn_workers"):
        tuning.coerce_int("gunicorn_workers", value)


# --- sizing filters: properties -------------------------------------------------------------------

MEMORY_SHARE = st.integers(min_value=1, max_value=1024 * 1024)


@settings(max_examples=1500, deadline=None)
@given(memory_mb=MEMORY_SHARE, more_mb=MEMORY_SHARE, cpus=CPUS)
def test_sizing_is_positive_bounded_and_monotone_in_ram(memory_mb, more_mb, cpus):
    for mem in (memory_mb, memory_mb + more_mb):
        gunicorn = tuning.gunicorn_workers(mem, cpus)
        assert 1 <= gunicorn["workers"] <= min(12, 2 * cpus + 1)
        assert gunicorn["workers"] == 1 or gunicorn["workers"] * 256 <= mem
        daemon = tuning.mod_wsgi_daemon(mem, cpus)
        assert 1 <= daemon["processes"] <= cpus
        cache = tuning.memcached_settings(mem, cpus)
        assert 1 <= cache["memory_mb"] <= max(16, mem) and 1 <= cache["threads"] <= 4
        assert 1 <= tuning.celery_concurrency(mem, cpus) <= cpus
        haproxy = tuning.haproxy_maxconn(mem)
        assert 1 <= haproxy["frontend_maxconn"] <= haproxy["global_maxconn"] <= 100000
        nginx = tuning.nginx_workers(mem, cpus)
        assert 512 <= nginx["worker_connections"] <= 16384
        assert nginx["worker_rlimit_nofile"] >= 2 * nginx["worker_connections"]
    small, large = memory_mb, memory_mb + more_mb
    assert tuning.gunicorn_workers(small, cpus)["workers"] <= tuning.gunicorn_workers(large, cpus)["workers"]
    assert tuning.mod_wsgi_daemon(small, cpus)["processes"] <= tuning.mod_wsgi_daemon(large, cpus)["processes"]
    assert tuning.memcached_settings(small, cpus)["memory_mb"] <= tuning.memcached_settings(large, cpus)["memory_mb"]
    assert tuning.celery_concurrency(small, cpus) <= tuning.celery_concurrency(large, cpus)
    assert tuning.haproxy_maxconn(small)["global_maxconn"] <= tuning.haproxy_maxconn(large)["global_maxconn"]
    assert (tuning.nginx_workers(small, cpus)["worker_connections"]
            <= tuning.nginx_workers(large, cpus)["worker_connections"])


@settings(max_examples=1000, deadline=None)
@given(processes=st.integers(1, 64), threads=st.integers(1, 64), mpm=st.sampled_from(tuning.APACHE_MPMS))
def test_apache_mpm_serves_the_daemon_pool(processes, threads, mpm):
    result = tuning.apache_mpm(mpm, processes, threads)
    assert result["MaxRequestWorkers"] >= processes * threads
    if mpm != "prefork":
        assert result["MaxRequestWorkers"] == result["ServerLimit"] * result["ThreadsPerChild"]
        assert result["MaxSpareThreads"] >= result["MinSpareThreads"] + result["ThreadsPerChild"]
        assert result["ThreadLimit"] == result["ThreadsPerChild"] <= 64  # httpd's default ThreadLimit


@settings(max_examples=1500, deadline=None)
@given(memory_mb=st.integers(256, 1024 * 1024), more_mb=MEMORY_SHARE, cpus=CPUS,
       connections=st.integers(1, 5000), pg_version=st.integers(10, 18))
def test_pg_tune_is_bounded_and_monotone_in_ram(memory_mb, more_mb, cpus, connections, pg_version):
    def kb(text):
        units = {"kB": 1, "MB": 1024, "GB": 1024 * 1024}
        return int(text[:-2]) * units[text[-2:]]

    small = tuning.pg_tune(memory_mb, cpus, connections, pg_version)
    large = tuning.pg_tune(memory_mb + more_mb, cpus, connections, pg_version)
    for result, mem in ((small, memory_mb), (large, memory_mb + more_mb)):
        assert kb(result["shared_buffers"]) + kb(result["wal_buffers"]) <= mem * 1024 // 4 + 16 * 1024
        assert kb(result["effective_cache_size"]) <= mem * 1024
        assert 4096 <= kb(result["work_mem"])
        assert kb(result["maintenance_work_mem"]) <= 8 * 1024 * 1024
    for key in ("shared_buffers", "effective_cache_size", "maintenance_work_mem", "work_mem", "wal_buffers"):
        assert kb(small[key]) <= kb(large[key])


# --- WAL sizes that fit the host (sizing-sources 1.1, 1.4) ----------------------------------------------

def wal_mb(text):
    units = {"kB": 1 / 1024, "MB": 1, "GB": 1024}
    return int(text[:-2]) * units[text[-2:]]


@pytest.mark.parametrize("memory_mb, disk_mb, min_wal, max_wal", [
    (2048, None, "1GB", "4GB"),  # PGTune's values from 2 GB up ...
    (64 * 1024, None, "1GB", "4GB"),
    (2048, 40960, "1GB", "4GB"),  # ... and 40 GB of free disk
    (2047, None, "1008MB", "4080MB"),  # 2 x 2047 = 4094, in whole 16 MB segments
    (1024, None, "512MB", "2GB"),
    (629, None, "304MB", "1248MB"),  # a 2 GB all-in-one host's PostgreSQL share
    (256, None, "128MB", "512MB"),
    (16, None, "32MB", "32MB"),  # the floor: two 16 MB WAL segments
    (1, None, "32MB", "32MB"),
    (64 * 1024, 20 * 1024, "512MB", "2GB"),  # 10 % of 20 GB free
    (64 * 1024, 100, "32MB", "32MB"),  # a nearly full disk still gets what PostgreSQL needs
])
def test_wal_sizes_fit_the_host(memory_mb, disk_mb, min_wal, max_wal):
    assert tuning.pg_wal_sizes(memory_mb, disk_mb) == {"min_wal_size": min_wal, "max_wal_size": max_wal}
    result = tuning.pg_tune(memory_mb, 2, disk_mb=disk_mb)
    assert (result["min_wal_size"], result["max_wal_size"]) == (min_wal, max_wal)


def test_pg_tune_on_a_2_gb_all_in_one_host_no_longer_writes_4gb():
    share = tuning.host_budget(2048, ALL_IN_ONE)["postgresql"]
    assert tuning.pg_tune(share, 2)["max_wal_size"] == "1248MB"


@pytest.mark.parametrize("kwargs, error, message", [
    ({"disk_mb": 0}, ValueError, "disk_mb must be >= 1"),
    ({"disk_mb": "40GB"}, TypeError, "disk_mb must be an integer"),
    ({"disk_mb": True}, TypeError, "disk_mb"),
])
def test_pg_tune_rejects_bad_disk(kwargs, error, message):
    with pytest.raises(error, match=message):
        tuning.pg_tune(4096, 2, **kwargs)
    with pytest.raises(error, match=message):
        tuning.pg_wal_sizes(4096, **kwargs)


DISK_MB = st.none() | st.integers(min_value=1, max_value=100 * 1024 * 1024)


@settings(max_examples=3000, deadline=None)
@given(memory_mb=st.integers(1, 4 * 1024 * 1024), more_mb=MEMORY_SHARE, disk_mb=DISK_MB,
       more_disk=st.integers(0, 1024 * 1024))
def test_wal_sizes_are_bounded_ordered_and_monotone(memory_mb, more_mb, disk_mb, more_disk):
    sizes = tuning.pg_wal_sizes(memory_mb, disk_mb)
    low, high = wal_mb(sizes["min_wal_size"]), wal_mb(sizes["max_wal_size"])
    # The bound: PGTune's 4 GB, 2 x RAM, 10 % of the free disk; PostgreSQL's floor wins over it.
    bound = min(4096, 2 * memory_mb, disk_mb // 10 if disk_mb is not None else 4096)
    assert high <= max(32, bound)
    assert high > bound - 16 or high == 32  # whole segments: at most one segment under the bound
    assert 32 <= low <= high  # PostgreSQL: both at least twice wal_segment_size
    assert low % 16 == 0 and high % 16 == 0
    assert tuning.pg_wal_limit_mb(memory_mb, disk_mb) == high
    larger = tuning.pg_wal_sizes(memory_mb + more_mb, disk_mb)
    assert wal_mb(larger["max_wal_size"]) >= high and wal_mb(larger["min_wal_size"]) >= low
    if disk_mb is not None:
        roomier = tuning.pg_wal_sizes(memory_mb, disk_mb + more_disk)
        assert wal_mb(roomier["max_wal_size"]) >= high and wal_mb(roomier["min_wal_size"]) >= low
    else:
        assert sizes == tuning.pg_wal_sizes(memory_mb, 40960 + more_disk)  # 4 GB fits 10 % of 40 GB


@settings(max_examples=1000, deadline=None)
@given(memory=st.lists(st.integers(1, 1024 * 1024), min_size=1, max_size=6), data=st.data())
def test_wal_keep_sizes_take_the_smallest_db_host(memory, data):
    disks = data.draw(st.none() | st.lists(DISK_MB, min_size=len(memory), max_size=len(memory)))
    keep = tuning.pg_wal_keep_sizes(memory, disks)
    tuned = [tuning.pg_tune(mem, 2, disk_mb=disk)
             for mem, disk in zip(memory, disks or [None] * len(memory))]
    smallest = min(tuned, key=lambda settings: wal_mb(settings["max_wal_size"]))
    assert keep == {"wal_keep_size": smallest["min_wal_size"], "max_slot_wal_keep_size": smallest["max_wal_size"]}
    assert all(wal_mb(keep["max_slot_wal_keep_size"]) <= wal_mb(t["max_wal_size"]) for t in tuned)
    assert keep == tuning.pg_wal_keep_sizes(list(reversed(memory)), list(reversed(disks)) if disks else None)


def test_wal_keep_sizes_stay_pgtune_on_large_hosts():
    assert tuning.pg_wal_keep_sizes([2048, 65536]) == {"wal_keep_size": "1GB", "max_slot_wal_keep_size": "4GB"}
    assert tuning.pg_wal_keep_sizes([4096, 1024]) == {"wal_keep_size": "512MB", "max_slot_wal_keep_size": "2GB"}
    assert tuning.pg_wal_keep_sizes([4096, 4096], [None, 10240]) == {
        "wal_keep_size": "256MB", "max_slot_wal_keep_size": "1GB"}


@pytest.mark.parametrize("args, error, message", [
    (([],), ValueError, "at least one"),
    (("2048",), TypeError, "memory_mbs must be a list"),
    (([2048, 0],), ValueError, "memory_mbs must be >= 1"),
    (([2048, 1024], [None]), ValueError, r"disk_mbs must have one value per database host \(2\)"),
    (([2048], [0]), ValueError, "disk_mb must be >= 1"),
])
def test_wal_keep_sizes_reject_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        tuning.pg_wal_keep_sizes(*args)


@pytest.mark.parametrize("memory_mb, services, expected", [
    (2048, ["postgresql"], 2048),  # alone: PGTune models the whole machine
    (2048, ALL_IN_ONE, 629),  # shared: its budget share (Zulip)
    (4096, ["postgresql", "memcached"], None),
])
def test_pg_memory_mb(memory_mb, services, expected):
    budget = tuning.host_budget(memory_mb, services)
    assert tuning.pg_memory_mb(memory_mb, budget) == (expected or budget["postgresql"])


def test_pg_memory_mb_needs_a_postgresql_budget():
    with pytest.raises(ValueError, match="budget_mb"):
        tuning.pg_memory_mb(2048, {"nginx": 100, "os_reserve": 320})


# --- sizes for a person, and the reasons plan_text prints -------------------------------------------

@pytest.mark.parametrize("mb, text", [
    (0, "0 kB"), (32 / 1024, "32 kB"), (1, "1 MB"), (5041 / 1024, "4.9 MB"), (157.25, "157.2 MB"),
    (629, "629 MB"), (1023.96, "1 GB"), (1024, "1 GB"), (1536, "1.5 GB"), (1248, "1.22 GB"),
    (4096, "4 GB"), (3 * 1024 * 1024, "3072 GB"),
])
def test_human_size(mb, text):
    assert tuning.human_size(mb) == text


@pytest.mark.parametrize("value", [-1, "1GB", None, True])
def test_human_size_rejects_non_sizes(value):
    with pytest.raises(TypeError, match="size"):
        tuning.human_size(value)


def formula_matches(reasons, result):
    """Every output key has a reason, and the formula value the reason gives is the output."""
    for key, value in result.items():
        assert key in reasons, key
        expected, why = reasons[key]
        assert why and "'" not in why and "{" not in why
        if isinstance(expected, frozenset):
            assert str(value) in expected, key
        elif expected is not None:
            assert expected == value, (key, expected, value)


@settings(max_examples=500, deadline=None)
@given(memory_mb=st.integers(256, 256 * 1024), cpus=CPUS, connections=st.integers(1, 3000),
       disk_mb=DISK_MB, pg_version=st.integers(10, 18), storage=st.sampled_from(tuning.STORAGE_TYPES),
       dedicated=st.booleans())
def test_explain_pg_tune_gives_pg_tunes_values(memory_mb, cpus, connections, disk_mb, pg_version, storage,
                                               dedicated):
    result = tuning.pg_tune(memory_mb, cpus, connections, pg_version, storage, disk_mb=disk_mb)
    formula_matches(tuning.explain_pg_tune(memory_mb, cpus, connections, disk_mb, dedicated=dedicated), result)


@settings(max_examples=500, deadline=None)
@given(memory_mb=MEMORY_SHARE, cpus=CPUS, clients=st.integers(0, 5000), dedicated=st.booleans(),
       total_more=st.integers(0, 4096))
def test_explain_functions_give_the_sizing_functions_values(memory_mb, cpus, clients, dedicated, total_more):
    gunicorn = tuning.gunicorn_workers(memory_mb, cpus)
    formula_matches(tuning.explain_gunicorn_workers(gunicorn, memory_mb, cpus), gunicorn)
    daemon = tuning.mod_wsgi_daemon(memory_mb, cpus)
    formula_matches(tuning.explain_mod_wsgi_daemon(daemon, memory_mb, cpus), daemon)
    for mpm in tuning.APACHE_MPMS:
        mpm_settings = tuning.apache_mpm(mpm, daemon["processes"], daemon["threads"], memory_mb=memory_mb)
        formula_matches(tuning.explain_apache_mpm(mpm_settings, daemon["processes"], daemon["threads"]),
                        mpm_settings)
    nginx = tuning.nginx_workers(memory_mb, cpus)
    formula_matches(tuning.explain_nginx_workers(nginx, memory_mb, cpus), nginx)
    haproxy = tuning.haproxy_maxconn(memory_mb, {"web1": 20})
    reasons = tuning.explain_haproxy_maxconn(haproxy, memory_mb)
    formula_matches(reasons, {k: v for k, v in haproxy.items() if k != "server_maxconn"})
    assert reasons["server_maxconn web1"][0] == 20
    cache = tuning.memcached_settings(memory_mb, cpus, clients, dedicated)
    formula_matches(tuning.explain_memcached_settings(memory_mb, cpus, clients, dedicated), cache)
    for persistent in (False, True):
        redis = tuning.redis_settings(memory_mb, persistent)
        formula_matches(tuning.explain_redis_settings(memory_mb, persistent), redis)
    rabbit = tuning.rabbitmq_memory(memory_mb, memory_mb + total_more, dedicated)
    formula_matches(tuning.explain_rabbitmq_memory(rabbit, memory_mb, memory_mb + total_more, dedicated), rabbit)
    formula_matches(tuning.explain_celery_concurrency(memory_mb, cpus),
                    {"concurrency": tuning.celery_concurrency(memory_mb, cpus)})


@settings(max_examples=500, deadline=None)
@given(memory_mb=RAM_MB, services=SERVICE_SETS)
def test_explain_host_budget_gives_host_budgets_values(memory_mb, services):
    try:
        budget = tuning.host_budget(memory_mb, services)
    except ValueError:
        assume(False)
    formula_matches(tuning.explain_host_budget(memory_mb, services), budget)


@pytest.mark.parametrize("memory_mb, cpus, workers, why", [
    (340, 2, 1, "340 MB share / 256 MB each (2 x 2 vCPUs + 1 = 5)"),
    (1526, 2, 5, "2 x 2 vCPUs + 1, fits the 1.49 GB share at 256 MB each"),
    (64 * 1024, 32, 12, "capped at 12 (2 x 32 vCPUs + 1 = 65)"),
    (100, 1, 1, "at least 1, though the 100 MB share is under 256 MB"),
])
def test_explain_gunicorn_workers_names_the_binding_term(memory_mb, cpus, workers, why):
    result = tuning.gunicorn_workers(memory_mb, cpus)
    assert tuning.explain_gunicorn_workers(result, memory_mb, cpus)["workers"] == (workers, why)


@pytest.mark.parametrize("memory_mb, disk_mb, why", [
    (629, None, "2 x the 629 MB share, in 16 MB WAL segments"),
    (4096, None, "PGTune web profile: fits from 2 GB of RAM"),
    (4096, 20480, "10% of the 20 GB free disk, in 16 MB WAL segments"),
    (8, None, "2 WAL segments of 16 MB, the least PostgreSQL takes"),
])
def test_explain_max_wal_size(memory_mb, disk_mb, why):
    assert tuning.explain_pg_tune(memory_mb, 2, 100, disk_mb)["max_wal_size"][1] == why


# --- Redis -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("memory_mb", "persistent", "expected"), [
    # A cache: the share less 16 MB, any key evicted, nothing on disk.
    (256, False, {"maxmemory_mb": 240, "maxmemory_policy": "allkeys-lru", "appendonly": False}),
    # The broker: half of that (a rewrite forks and may double the memory), queues never evicted.
    (256, True, {"maxmemory_mb": 120, "maxmemory_policy": "volatile-lru", "appendonly": True}),
    # Tiny shares: at least 16 MB, never more than the share.
    (40, True, {"maxmemory_mb": 16, "maxmemory_policy": "volatile-lru", "appendonly": True}),
    (10, False, {"maxmemory_mb": 10, "maxmemory_policy": "allkeys-lru", "appendonly": False}),
])
def test_redis_settings(memory_mb, persistent, expected):
    assert tuning.redis_settings(memory_mb, persistent) == expected


@settings(max_examples=300, deadline=None)
@given(small=st.integers(1, 256 * 1024), more=st.integers(0, 256 * 1024), persistent=st.booleans())
def test_redis_maxmemory_fits_the_share_grows_with_it_and_halves_for_persistence(small, more, persistent):
    low = tuning.redis_settings(small, persistent)["maxmemory_mb"]
    high = tuning.redis_settings(small + more, persistent)["maxmemory_mb"]
    assert 1 <= low <= small and low <= high
    assert tuning.redis_settings(small, True)["maxmemory_mb"] <= tuning.redis_settings(small, False)["maxmemory_mb"]
    if small >= 2 * tuning.REDIS_MIN_MAXMEMORY_MB + tuning.REDIS_OVERHEAD_MB:
        # With a fork's copy of every page, the server still fits in its share.
        assert 2 * tuning.redis_settings(small, True)["maxmemory_mb"] + tuning.REDIS_OVERHEAD_MB <= small


@pytest.mark.parametrize(("args", "error"), [((0,), ValueError), (("256",), TypeError), ((256, "yes"), TypeError)])
def test_redis_settings_bad_input(args, error):
    with pytest.raises(error):
        tuning.redis_settings(*args)
