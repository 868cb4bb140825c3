"""Sizing maths for django_deploy.stack: every service sized from a host's RAM and CPUs.

Pure functions over plain values: no Ansible imports, no I/O. Bad input raises TypeError or
ValueError with a message that names the argument, so the filter wrappers in
plugins/filter/tuning.py can turn it into an AnsibleFilterError. Every formula names its source
as a section of the research notes ("tuning.md 1.1" and so on); docs/sizing-sources.md maps
each section to the upstream sources.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable

# Groups (docs/DESIGN.md) -> services. "app" stands for the chosen app server.
GROUP_SERVICES = {
    "loadbalancers": ("haproxy",),
    "webservers": ("nginx", "app"),
    "db_primary": ("postgresql",),
    "db_replicas": ("postgresql",),
    "memcached": ("memcached",),
    "rabbitmq": ("rabbitmq",),
    "celery_workers": ("celery_worker",),
    "celery_beat": ("celery_beat",),
}
APP_SERVERS = ("gunicorn", "mod_wsgi")
STORAGE_TYPES = ("ssd", "hdd", "san", "nvme")
APACHE_MPMS = ("event", "worker", "prefork")

# host_budget: service -> (weight, floor_mb). Why these numbers (tuning.md 8.1, 1.3, 6, 7.1):
# - weights sum to 257 on an all-in-one host; PostgreSQL's 128 gives it half of what is left
#   after the floors, as Zulip does ("Let Postgres use half the memory on the machine");
# - memcached's 32/257 is Zulip's RAM/8;
# - the app server (48) gets the next biggest share: it holds one Django process per worker;
#   Celery (24) holds the same code but is capped at one child per core; RabbitMQ (16) mostly
#   pages to disk (CQv2, quorum queues) and needs little beyond its floor as a Celery broker;
#   nginx and HAProxy (4) are event loops whose memory grows with connections only; beat is one
#   idle process (1), which still gets everything on a host of its own.
# - floors make a ~900 MB all-in-one start: RabbitMQ idles at ~150 MB, so 192 MB before its
#   memory alarm blocks publishers; one 128 MB Django worker; 64 MB of memcached items (the
#   usual default, geerlingguy.memcached); 64 MB lets PostgreSQL start with PGTune's ratios
#   (16 MB shared_buffers); one 64 MB Celery child.
BUDGET_SHARES = {
    "postgresql": (128, 64),
    "gunicorn": (48, 128),
    "mod_wsgi": (48, 128),
    "memcached": (32, 64),
    "celery_worker": (24, 64),
    "rabbitmq": (16, 192),
    "haproxy": (4, 32),
    "nginx": (4, 16),
    "celery_beat": (1, 32),
}
SERVICES = tuple(sorted(BUDGET_SHARES))
MIN_HOST_MEMORY_MB = 256  # PGTune warns below this ("this tool not being optimal")
OS_RESERVE_BASE_MB = 192  # Debian 12 base: kernel, systemd, journald, sshd, cron
OS_RESERVE_MAX_MB = 2048

_KB_PER_MB = 1024
_KB_PER_GB = 1024 * 1024


def coerce_int(name: str, value: Any) -> int:
    """Return value as an int; accept ints, integral floats and digit strings ('-e x=12')."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got boolean {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def host_services(groups: Iterable[str], app_server: str = "gunicorn") -> list[str]:
    """Sorted service names for a host in these inventory groups (DESIGN.md group table).

    Groups that are not ours are ignored: users keep their own groups in the same inventory.
    """
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Iterable):
        raise TypeError(f"groups must be a list of group names, got {type(groups).__name__}")
    check_choice("app_server", app_server, APP_SERVERS)
    found = set()
    for group in groups:
        for service in GROUP_SERVICES.get(group, ()):
            found.add(app_server if service == "app" else service)
    return sorted(found)


def os_reserve_mb(memory_mb: int) -> int:
    """RAM kept for the OS before any service gets a share (tuning.md 8.1, "budget = total - reserve").

    192 MB for a Debian base system plus 1/16 of RAM for kernel structures and page cache that
    grow with the machine, capped at 2 GB: above that the cache is PostgreSQL's and memcached's
    business (effective_cache_size already counts it). Grows by at most 1 MB per MB of RAM, so
    the budget left for services never shrinks when RAM grows.
    """
    check_int("memory_mb", memory_mb, MIN_HOST_MEMORY_MB)
    return min(OS_RESERVE_MAX_MB, OS_RESERVE_BASE_MB + memory_mb // 16)


def host_budget(memory_mb: int, services: Iterable[str]) -> dict[str, int]:
    """MB per service on one host, plus 'os_reserve' (tuning.md 8.1).

    Every service first gets its floor, then the rest of (RAM - reserve) is split by weight with
    floor division, so the shares never add up to more than RAM - reserve, a host with one
    service gives it all of it, and every share is non-decreasing in RAM.
    """
    reserve = os_reserve_mb(memory_mb)
    if isinstance(services, (str, bytes)) or not isinstance(services, Iterable):
        raise TypeError(f"services must be a list of service names, got {type(services).__name__}")
    names = sorted(set(services))
    for name in names:
        check_choice("services", name, SERVICES)
    budget = memory_mb - reserve
    floors = sum(BUDGET_SHARES[name][1] for name in names)
    if floors > budget:
        needed = floors + OS_RESERVE_BASE_MB
        while needed - os_reserve_mb(needed) < floors:
            needed += 1
        raise ValueError(
            f"memory_mb={memory_mb} is too small for {', '.join(names)}: their floors need "
            f"{floors} MB after an OS reserve of {reserve} MB (at least {needed} MB of RAM)"
        )
    weights = sum(BUDGET_SHARES[name][0] for name in names)
    spare = budget - floors
    shares = {name: BUDGET_SHARES[name][1] + spare * BUDGET_SHARES[name][0] // weights for name in names}
    shares["os_reserve"] = reserve
    return shares


def pg_size(kb: int) -> str:
    """PGTune's formatValue: GB if divisible by 1048576 kB, else MB if by 1024 kB, else kB."""
    if kb % _KB_PER_GB == 0:
        return f"{kb // _KB_PER_GB}GB"
    if kb % _KB_PER_MB == 0:
        return f"{kb // _KB_PER_MB}MB"
    return f"{kb}kB"


def pg_tune(memory_mb: int, cpus: int, max_connections: int = 200, pg_version: int = 15,
            storage: str = "ssd") -> dict[str, str]:
    """PGTune HEAD (le0pard/pgtune 7caef27, 2026-07) "web" profile on Linux (tuning.md 1.1).

    memory_mb is the RAM PGTune is told about: the whole host when PostgreSQL has it alone, its
    share of a shared host otherwise (Zulip ran pgtune with half the RAM, tuning.md 1.3). Keys
    and order follow PGTune's output; values are strings exactly as PGTune prints them.
    """
    check_int("memory_mb", memory_mb)
    check_int("cpus", cpus)
    check_int("max_connections", max_connections)
    check_int("pg_version", pg_version, 10)
    if pg_version > 18:
        raise ValueError(f"pg_version must be 10..18 (PGTune's range), got {pg_version}")
    check_choice("storage", storage, STORAGE_TYPES)
    total_kb = memory_mb * _KB_PER_MB
    shared_buffers = total_kb // 4
    # maintenance_work_mem: RAM/16, capped at 8 GB since the 2026-04 change (2 GB before).
    maintenance = min(total_kb // 16, 8 * _KB_PER_GB)
    # wal_buffers: 3 % of shared_buffers, max 16 MB, rounded up to 16 MB above 14 MB, min 32 kB.
    wal_buffers = min(3 * shared_buffers // 100, 16 * _KB_PER_MB)
    if 14 * _KB_PER_MB < wal_buffers < 16 * _KB_PER_MB:
        wal_buffers = 16 * _KB_PER_MB
    wal_buffers = max(wal_buffers, 32)
    parallel = cpus >= 4
    # work_mem: (RAM - shared_buffers) / ((max_connections + max_worker_processes) * 3), where
    # max_worker_processes is the parallel block's cpus or PostgreSQL's default 8 (pgtune#113);
    # floor 4 MB since 2026-04 ("prevent disk-spill for simple queries").
    workers = cpus if parallel else 8
    work_mem = max((total_kb - shared_buffers) // ((max_connections + workers) * 3), 4 * _KB_PER_MB)
    settings = {
        "max_connections": str(max_connections),
        "shared_buffers": pg_size(shared_buffers),
        "effective_cache_size": pg_size(total_kb * 3 // 4),
        "maintenance_work_mem": pg_size(maintenance),
        "checkpoint_completion_target": "0.9",
        "wal_buffers": pg_size(wal_buffers),
        "default_statistics_target": "100",
        "random_page_cost": "4" if storage == "hdd" else "1.1",
        "effective_io_concurrency": str({"hdd": 2, "ssd": 200, "san": 300, "nvme": 1000}[storage]),
        "work_mem": pg_size(work_mem),
        # huge_pages 'try' once shared_buffers >= 2 GB (HEAD; the classic rule was RAM >= 32 GB).
        "huge_pages": "try" if shared_buffers >= 2 * _KB_PER_GB else "off",
    }
    if pg_version >= 12:
        settings["jit"] = "off"
    settings["wal_compression"] = "lz4" if pg_version >= 15 else "on"
    if cpus >= 16:
        settings["autovacuum_max_workers"] = "5" if cpus >= 32 else "4"
    if maintenance >= 2 * _KB_PER_GB:
        settings["autovacuum_work_mem"] = "2GB"
    if pg_version >= 18:
        # Linux: io_uring; io_workers only matters for io_method=worker, so it is omitted
        # (tuning.md 1.1: "only when method != io_uring").
        settings["io_method"] = "io_uring"
    settings["min_wal_size"] = "1GB"
    settings["max_wal_size"] = "4GB"
    if parallel:
        half = math.ceil(cpus / 2)
        settings["max_worker_processes"] = str(cpus)
        settings["max_parallel_workers_per_gather"] = str(min(4, half))
        settings["max_parallel_workers"] = str(cpus)
        if pg_version >= 11:
            settings["max_parallel_maintenance_workers"] = str(min(4, half))
    return settings


# Per-process RSS defaults for the memory caps. A Django process is commonly 100-300 MB;
# Heroku's WEB_CONCURRENCY sizing assumes 256 MB per web process (tuning.md 2). Celery prefork
# children fork from a parent that has already imported Django, so they share more pages.
GUNICORN_WORKER_MEMORY_MB = 256
MOD_WSGI_PROCESS_MEMORY_MB = 256
CELERY_CHILD_MEMORY_MB = 128
APACHE_CHILD_MEMORY_MB = 16  # an Apache child in daemon mode holds no Python: a thin proxy
BACKEND_KEEPALIVE_S = 65  # above nginx's upstream keepalive_timeout (60s): tuning.md 8.5


def gunicorn_workers(memory_mb: int, cpus: int, worker_memory_mb: int = GUNICORN_WORKER_MEMORY_MB,
                     workers: int | None = None, threads: int | None = None,
                     max_workers: int = 12) -> dict[str, Any]:
    """gunicorn workers and threads for a memory share (tuning.md 2).

    workers = 2 x CPU + 1 (gunicorn's design doc), capped by memory_mb / worker_memory_mb so the
    workers fit their share (the Heroku and s2i rule), at most max_workers ("typically needs only
    4-12 workers") and at least 1. threads = 4: the docs' own gthread examples use 2-4, Django
    views mostly wait on PostgreSQL and memcached, and mod_wsgi's guidance is 3-5 threads per
    process when code may be CPU-bound; threads share the worker's memory, so a small host whose
    RAM allows one worker still serves four requests at once.
    """
    check_int("memory_mb", memory_mb)
    check_int("cpus", cpus)
    check_int("worker_memory_mb", worker_memory_mb)
    check_int("max_workers", max_workers)
    if workers is None:
        workers = max(1, min(2 * cpus + 1, max_workers, memory_mb // worker_memory_mb))
    check_int("workers", workers)
    threads = check_int("threads", 4 if threads is None else threads)
    return {
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "concurrency": workers * threads,
        "worker_memory_mb": worker_memory_mb,
        "keepalive": BACKEND_KEEPALIVE_S,
    }


def mod_wsgi_daemon(memory_mb: int, cpus: int, process_memory_mb: int = MOD_WSGI_PROCESS_MEMORY_MB,
                    processes: int | None = None, threads: int | None = None) -> dict[str, int]:
    """WSGIDaemonProcess processes and threads (Graham Dumpleton's guidance, tuning.md 3).

    Daemon mode; processes ~ the cores given to the app, capped by what fits in memory_mb after
    32 MB for the Apache children; threads = 5, mod_wsgi-express's "starting point" (1 process
    x 15 threads is mod_wsgi's default, but "do not get carried away": 3-5 if CPU-bound).
    """
    check_int("memory_mb", memory_mb)
    check_int("cpus", cpus)
    check_int("process_memory_mb", process_memory_mb)
    if processes is None:
        processes = max(1, min(cpus, (memory_mb - 32) // process_memory_mb))
    check_int("processes", processes)
    threads = check_int("threads", 5 if threads is None else threads)
    return {"processes": processes, "threads": threads, "concurrency": processes * threads,
            "process_memory_mb": process_memory_mb}


def apache_mpm(mpm: str, processes: int, threads: int, memory_mb: int | None = None,
               child_memory_mb: int = APACHE_CHILD_MEMORY_MB) -> dict[str, Any]:
    """Apache MPM directives in front of a mod_wsgi daemon pool (mod_wsgi-express server.py, tuning.md 3).

    max_clients = 10 + max(10, int(1.5 x processes x threads)) as mod_wsgi-express computes it.
    For prefork each connection holds a whole child, so httpd's "never swap" rule also applies:
    MaxRequestWorkers <= memory_mb / child_memory_mb when memory_mb is given.
    """
    check_choice("mpm", mpm, APACHE_MPMS)
    check_int("processes", processes)
    check_int("threads", threads)
    check_int("child_memory_mb", child_memory_mb)
    max_clients = 10 + max(10, int(1.5 * processes * threads))
    common = {"KeepAlive": "On", "KeepAliveTimeout": BACKEND_KEEPALIVE_S, "MaxConnectionsPerChild": 0}
    if mpm == "prefork":
        if memory_mb is not None:
            check_int("memory_mb", memory_mb)
            max_clients = max(1, min(max_clients, memory_mb // child_memory_mb))
        spare = max(1, int(0.05 * max_clients))
        return {"mpm": mpm, "StartServers": spare, "MinSpareServers": spare,
                "MaxSpareServers": max(spare + 1, int(0.1 * max_clients)), "ServerLimit": max_clients,
                "MaxRequestWorkers": max_clients, "MaxKeepAliveRequests": 500, **common}
    per_child = int(max_clients / (int(max_clients / 20) + 1)) if max_clients > 20 else 10
    server_limit = math.ceil(max_clients / per_child)
    min_spare = max(per_child, int(0.2 * server_limit) * per_child)
    # express computes max(TPC, int(0.6 x SL) x TPC); httpd wants MaxSpareThreads >=
    # MinSpareThreads + ThreadsPerChild and rewrites it with a warning otherwise.
    max_spare = max(min_spare + per_child, int(0.6 * server_limit) * per_child)
    return {"mpm": mpm, "StartServers": max(1, int(0.2 * server_limit)), "ServerLimit": server_limit,
            "ThreadsPerChild": per_child, "ThreadLimit": per_child, "MinSpareThreads": min_spare,
            "MaxSpareThreads": max_spare, "MaxRequestWorkers": server_limit * per_child,
            "ThreadStackSize": 262144, "MaxKeepAliveRequests": 0 if mpm == "event" else 500, **common}


def memcached_settings(memory_mb: int, cpus: int, client_connections: int = 0,
                       dedicated: bool = False) -> dict[str, int]:
    """memcached -m, -c, -t for a memory share (memcached.c defaults, tuning.md 6).

    -c: 1.5 x the client connections, at least memcached's default 1024. -m: the share minus
    what memcached uses beside items (~5 MB per 1024 connections, as memcached.c says, and 8 MB
    for the hash table), at least 16 MB. -t: 4 (the default) or the cores if fewer; all cores on
    a dedicated host (memcached warns above 64).
    """
    check_int("memory_mb", memory_mb)
    check_int("cpus", cpus)
    check_int("client_connections", client_connections, 0)
    max_connections = max(1024, math.ceil(1.5 * client_connections))
    overhead = 8 + math.ceil(5 * max_connections / 1024)
    return {
        "memory_mb": min(memory_mb, max(16, memory_mb - overhead)),
        "max_connections": max_connections,
        "threads": min(64, cpus) if dedicated else min(4, cpus),
    }


_RABBIT_UNITS = {"k": 1024, "kiB": 1024, "KiB": 1024, "M": 1024**2, "MiB": 1024**2, "G": 1024**3,
                 "GiB": 1024**3, "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3}
_RABBIT_SIZE = re.compile(r"(\d+)\s*(" + "|".join(sorted(_RABBIT_UNITS, key=len, reverse=True)) + r")?")


def _rabbit_bytes(name: str, value: Any) -> int:
    """Bytes of a rabbitmq.conf information unit value ('1024MiB', '2GB', 1073741824)."""
    match = _RABBIT_SIZE.fullmatch(str(value).strip()) if not isinstance(value, bool) else None
    if match is None:
        raise ValueError(f"{name} must be bytes or a size like '1024MiB', got {value!r}")
    return int(match.group(1)) * _RABBIT_UNITS.get(match.group(2) or "", 1)


def rabbitmq_memory(memory_mb: int, total_memory_mb: int | None = None, dedicated: bool = False,
                    watermark: Any = None, disk_free_limit: Any = None) -> dict[str, str]:
    """rabbitmq.conf memory and disk alarm lines (RabbitMQ production checklist, tuning.md 7.1).

    Dedicated host: vm_memory_high_watermark.relative = 0.6 (the 4.x default, inside the
    recommended 0.4-0.7, leaves the OS its 30 %+). Shared host: .absolute = the share, because
    .relative is a fraction of the whole host's RAM. disk_free_limit.absolute = the watermark
    ("at least the memory watermark"). watermark overrides: a number <= 1 is relative, anything
    else an absolute size; disk_free_limit overrides: a size, or a float for .relative.
    """
    check_int("memory_mb", memory_mb)
    total = memory_mb if total_memory_mb is None else check_int("total_memory_mb", total_memory_mb)
    if watermark is None:
        watermark = 0.6 if dedicated else f"{memory_mb}MiB"
    try:
        relative = float(watermark) if not isinstance(watermark, bool) else None
    except (TypeError, ValueError):
        relative = None
    if relative is not None and relative <= 1:
        if relative <= 0:
            raise ValueError(f"watermark must be > 0, got {watermark!r}")
        conf = {"vm_memory_high_watermark.relative": f"{relative:g}"}
        watermark_bytes = int(relative * total * 1024**2)
    else:
        watermark_bytes = _rabbit_bytes("watermark", watermark)
        conf = {"vm_memory_high_watermark.absolute": str(watermark).strip()}
    if isinstance(disk_free_limit, float):
        conf["disk_free_limit.relative"] = f"{disk_free_limit:g}"
    elif disk_free_limit is not None:
        _rabbit_bytes("disk_free_limit", disk_free_limit)
        conf["disk_free_limit.absolute"] = str(disk_free_limit).strip()
    else:
        conf["disk_free_limit.absolute"] = f"{math.ceil(watermark_bytes / 1024**2)}MiB"
    return conf


def celery_concurrency(memory_mb: int, cpus: int, child_memory_mb: int = CELERY_CHILD_MEMORY_MB) -> int:
    """Celery prefork children: the core count (Celery's default), capped by memory (tuning.md 7.2)."""
    check_int("memory_mb", memory_mb)
    check_int("cpus", cpus)
    check_int("child_memory_mb", child_memory_mb)
    return max(1, min(cpus, memory_mb // child_memory_mb))


HAPROXY_CONN_PER_MB = 20  # "about 33 kB per connection... 1GB can withstand 20000-25000"
HAPROXY_MAX_CONN = 100000  # autobase's global maxconn


def haproxy_maxconn(memory_mb: int, server_concurrency: dict[str, int] | None = None,
                    maxconn: int | None = None) -> dict[str, Any]:
    """HAProxy maxconn: global and frontend from memory, per server from its concurrency (tuning.md 5).

    server maxconn = the backend's workers x threads, so excess requests queue in HAProxy (which
    can redispatch them) rather than in the gunicorn backlog. The frontend keeps 10 % of the
    global limit for the stats socket and health checks.
    """
    check_int("memory_mb", memory_mb)
    if maxconn is None:
        maxconn = min(HAPROXY_MAX_CONN, memory_mb * HAPROXY_CONN_PER_MB)
    check_int("maxconn", maxconn)
    servers = {}
    for name, concurrency in sorted((server_concurrency or {}).items()):
        servers[name] = check_int(f"server_concurrency[{name}]", concurrency)
    return {"global_maxconn": maxconn, "frontend_maxconn": max(1, maxconn * 9 // 10),
            "server_maxconn": servers}


def nginx_workers(memory_mb: int, cpus: int, worker_processes: int | None = None,
                  worker_connections: int | None = None) -> dict[str, int]:
    """nginx worker_processes, worker_connections, worker_rlimit_nofile (tuning.md 4).

    processes = the vCPUs (what 'auto' means, written as a number because a container's 'auto'
    sees the whole machine). connections = 64 per MB of the share and process (a proxied
    request holds two connections of ~8 kB of buffers each), between nginx's default 512 and
    16384. rlimit_nofile = 2 x connections (gixy's rule); clients ~ processes x connections / 2.
    """
    check_int("memory_mb", memory_mb)
    check_int("cpus", cpus)
    processes = check_int("worker_processes", cpus if worker_processes is None else worker_processes)
    if worker_connections is None:
        worker_connections = min(16384, max(512, memory_mb * 64 // processes))
    check_int("worker_connections", worker_connections)
    return {"worker_processes": processes, "worker_connections": worker_connections,
            "worker_rlimit_nofile": 2 * worker_connections,
            "max_clients": processes * worker_connections // 2}
