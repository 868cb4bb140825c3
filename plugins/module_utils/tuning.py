"""Sizing maths for django_deploy.stack: every service sized from a host's RAM and CPUs.

Pure functions over plain values: no Ansible imports, no I/O. Bad input raises TypeError or
ValueError with a message that names the argument, so the filter wrappers in
plugins/filter/tuning.py can turn it into an AnsibleFilterError. Every formula names its source
as a section of docs/sizing-sources.md ("sizing-sources 1.1" and so on), which maps
each section to the upstream sources.
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, Iterable, Mapping, Tuple

# Groups (README.md, "Inventory groups") -> services. "app" stands for the chosen app server.
GROUP_SERVICES = {
    "loadbalancers": ("haproxy",),
    "webservers": ("nginx", "app"),
    "db_primary": ("postgresql",),
    "db_replicas": ("postgresql",),
    "memcached": ("memcached",),
    "rabbitmq": ("rabbitmq",),
    "redis": ("redis",),
    "celery_workers": ("celery_worker",),
    "celery_beat": ("celery_beat",),
}
APP_SERVERS = ("gunicorn", "mod_wsgi")
STORAGE_TYPES = ("ssd", "hdd", "san", "nvme")
APACHE_MPMS = ("event", "worker", "prefork")

# host_budget: service -> (weight, floor_mb). Why these numbers (sizing-sources 8.1, 1.3, 6, 7.1):
# - weights sum to 257 on an all-in-one host; PostgreSQL's 128 gives it half of what is left
#   after the floors, as Zulip does ("Let Postgres use half the memory on the machine");
# - memcached's 32/257 is Zulip's RAM/8; Redis (32, beside them when a host runs it) holds the
#   same kind of data, a cache, or Celery's queues and results (a few MB);
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
    "redis": (32, 64),
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


# Reasons for plan_text (plugins/module_utils/plan_text.py): every explain_* function below maps
# a setting to (the value its formula gives, why), computed from the same terms as the sizing
# function next to it, so the maths stays here and a plan value that differs from the formula's
# is an override. The formula value may also be None (any value: it follows another setting) or
# a frozenset of the values the formula can give (NOT_COMPUTED: the formula never gives one).
Reasons = Dict[str, Tuple[Any, str]]  # typing's: module_utils also import on Python 3.8
NOT_COMPUTED: frozenset[str] = frozenset()


def human_size(mb: float) -> str:
    """A size for a person, one rule everywhere: kB under 1 MB, MB (to 0.1) under 1 GB, else GB (to 0.01).

    '32 kB', '629 MB', '157.3 MB', '1.5 GB', '1.23 GB', '4 GB'; MB and GB are binary (1024), as
    PostgreSQL, RabbitMQ's MiB and every *_mb value of the plan count them.
    """
    if isinstance(mb, bool) or not isinstance(mb, (int, float)) or mb < 0:
        raise TypeError(f"size must be a number of MB >= 0, got {mb!r}")
    if round(mb * 1024) < 1024:
        return f"{round(mb * 1024)} kB"
    if round(mb, 1) < 1024:
        return f"{_decimal(mb, 1)} MB"
    return f"{_decimal(mb / 1024, 2)} GB"


def _decimal(value: float, places: int) -> str:
    text = f"{value:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _count(number: Any, noun: str, plural: str | None = None) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {plural or noun + 's'}"


def host_services(groups: Iterable[str], app_server: str = "gunicorn") -> list[str]:
    """Sorted service names for a host in these inventory groups (README.md, "Inventory groups").

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
    """RAM kept for the OS before any service gets a share (sizing-sources 8.1, "budget = total - reserve").

    192 MB for a Debian base system plus 1/16 of RAM for kernel structures and page cache that
    grow with the machine, capped at 2 GB: above that the cache is PostgreSQL's and memcached's
    business (effective_cache_size already counts it). Grows by at most 1 MB per MB of RAM, so
    the budget left for services never shrinks when RAM grows.
    """
    check_int("memory_mb", memory_mb, MIN_HOST_MEMORY_MB)
    return min(OS_RESERVE_MAX_MB, OS_RESERVE_BASE_MB + memory_mb // 16)


def host_budget(memory_mb: int, services: Iterable[str]) -> dict[str, int]:
    """MB per service on one host, plus 'os_reserve' (sizing-sources 8.1).

    Every service first gets its floor, then the rest of (RAM - reserve) is split by weight with
    floor division, so the shares never add up to more than RAM - reserve, a host with one
    service gives it all of it, and every share is non-decreasing in RAM.
    """
    names, reserve, spare, weights = _budget_terms(memory_mb, services)
    shares = {name: BUDGET_SHARES[name][1] + spare * BUDGET_SHARES[name][0] // weights for name in names}
    shares["os_reserve"] = reserve
    return shares


def _budget_terms(memory_mb: int, services: Iterable[str]) -> tuple[list[str], int, int, int]:
    """host_budget's terms: (sorted services, OS reserve, MB above the floors, sum of weights)."""
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
    return names, reserve, budget - floors, sum(BUDGET_SHARES[name][0] for name in names)


def explain_host_budget(memory_mb: int, services: Iterable[str]) -> Reasons:
    """Why host_budget gives each service (and the OS) its MB."""
    names, reserve, spare, weights = _budget_terms(memory_mb, services)
    shares = host_budget(memory_mb, names)
    if reserve == OS_RESERVE_MAX_MB:
        why = {"os_reserve": (reserve, f"{human_size(OS_RESERVE_BASE_MB)} + RAM / 16, capped at "
                                       f"{human_size(OS_RESERVE_MAX_MB)}")}
    else:
        why = {"os_reserve": (reserve, f"{human_size(OS_RESERVE_BASE_MB)} for Debian + RAM / 16")}
    for name in names:
        weight, floor = BUDGET_SHARES[name]
        if len(names) == 1:
            why[name] = (shares[name], "RAM less the OS reserve: the only service on the host")
        else:
            why[name] = (shares[name], f"{human_size(floor)} floor + {weight}/{weights} of the "
                                       f"{human_size(spare)} above the floors")
    return why


def pg_size(kb: int) -> str:
    """PGTune's formatValue: GB if divisible by 1048576 kB, else MB if by 1024 kB, else kB."""
    if kb % _KB_PER_GB == 0:
        return f"{kb // _KB_PER_GB}GB"
    if kb % _KB_PER_MB == 0:
        return f"{kb // _KB_PER_MB}MB"
    return f"{kb}kB"


# PGTune's storage table (sizing-sources 1.1): storage -> (random_page_cost, effective_io_concurrency).
PG_STORAGE = {"hdd": ("4", 2), "ssd": ("1.1", 200), "san": ("1.1", 300), "nvme": ("1.1", 1000)}

# WAL sizes (sizing-sources 1.1 for PGTune's values, 1.4 for the slot bound). PGTune's web profile
# writes min_wal_size = 1GB and max_wal_size = 4GB whatever the host, and pg_wal holds up to
# max_wal_size (a soft limit) plus what replication slots keep (max_slot_wal_keep_size): on a
# small VM's disk that is a lot. Our bound, not PGTune's: max_wal_size = 2 x the RAM given to
# PostgreSQL, which is PGTune's 4 GB from 2 GB up (PGTune's smallest example host, the first
# row of test_tuning's PGTUNE_VECTORS) and shrinks below it as small VMs' disks do; at most
# WAL_DISK_PERCENT of the data filesystem's free MB when that is known; never below two WAL
# segments, the least PostgreSQL starts with (xlog.c ReadControlFile: "max_wal_size must be at
# least twice wal_segment_size", the same for min_wal_size). min_wal_size keeps PGTune's 1:4.
# Both are whole segments: PostgreSQL counts them in segments anyway (XLogMBVarToSegs).
PGTUNE_MIN_WAL_MB = 1024
PGTUNE_MAX_WAL_MB = 4096
WAL_PER_RAM = 2  # max_wal_size <= 2 x PostgreSQL's RAM
WAL_DISK_PERCENT = 10  # max_wal_size <= 10 % of the free disk, when known
WAL_SEGMENT_MB = 16  # initdb's default --wal-segsize
WAL_MIN_MB = 2 * WAL_SEGMENT_MB


def _wal_terms(memory_mb: int, disk_mb: int | None) -> dict[str, int]:
    """The upper bounds on max_wal_size (MB) that pg_wal_limit_mb takes the smallest of."""
    terms = {"pgtune": PGTUNE_MAX_WAL_MB, "ram": WAL_PER_RAM * memory_mb}
    if disk_mb is not None:
        terms["disk"] = disk_mb * WAL_DISK_PERCENT // 100
    return terms


def pg_wal_limit_mb(memory_mb: int, disk_mb: int | None = None) -> int:
    """max_wal_size in MB for the RAM given to PostgreSQL and, when known, the free MB of its data
    filesystem: min(PGTune's 4 GB, 2 x RAM, 10 % of disk) in whole 16 MB segments, at least two.
    Non-decreasing in both arguments."""
    check_int("memory_mb", memory_mb)
    if disk_mb is not None:
        check_int("disk_mb", disk_mb)
    limit = min(_wal_terms(memory_mb, disk_mb).values())
    return max(WAL_MIN_MB, limit - limit % WAL_SEGMENT_MB)


def _wal_min_mb(max_wal_mb: int) -> int:
    """min_wal_size (MB) for a max_wal_size: PGTune's 1:4 ratio, whole segments, at least two."""
    quarter = max_wal_mb * PGTUNE_MIN_WAL_MB // PGTUNE_MAX_WAL_MB
    return max(WAL_MIN_MB, quarter - quarter % WAL_SEGMENT_MB)


def pg_wal_sizes(memory_mb: int, disk_mb: int | None = None) -> dict[str, str]:
    """min_wal_size and max_wal_size as PostgreSQL strings (PGTune's 1GB and 4GB when they fit)."""
    limit = pg_wal_limit_mb(memory_mb, disk_mb)
    return {"min_wal_size": pg_size(_wal_min_mb(limit) * _KB_PER_MB),
            "max_wal_size": pg_size(limit * _KB_PER_MB)}


def _sizes_per_host(name: str, values: Any, count: int | None = None) -> list[Any]:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a list with one value per database host, "
                        f"got {type(values).__name__}")
    values = list(values)
    if count is not None and len(values) != count:
        raise ValueError(f"{name} must have one value per database host ({count}), got {len(values)}")
    return values


def pg_wal_keep_sizes(memory_mbs: Iterable[int],
                      disk_mbs: Iterable[int | None] | None = None) -> dict[str, str]:
    """wal_keep_size and max_slot_wal_keep_size for a database group (sizing-sources 1.4).

    memory_mbs: the RAM given to PostgreSQL on each database host (pg_memory_mb), disk_mbs the free
    MB of each one's data filesystem (None where unknown). One bound for every node, so a promoted
    standby keeps what its primary did: the smallest host's max_wal_size bound. A dead slot may
    keep max_slot_wal_keep_size = that bound before it is invalidated instead of filling the disk
    (PGTune's 4GB on hosts large enough, as before); wal_keep_size, the safety net for a standby
    without a slot, is that bound's min_wal_size (1GB on hosts large enough).
    """
    memory = [check_int("memory_mbs", value) for value in _sizes_per_host("memory_mbs", memory_mbs)]
    if not memory:
        raise ValueError("memory_mbs must list at least one database host")
    disks = [None] * len(memory) if disk_mbs is None else _sizes_per_host("disk_mbs", disk_mbs, len(memory))
    bound = min(pg_wal_limit_mb(mem, disk) for mem, disk in zip(memory, disks))
    return {"wal_keep_size": pg_size(_wal_min_mb(bound) * _KB_PER_MB),
            "max_slot_wal_keep_size": pg_size(bound * _KB_PER_MB)}


def explain_pg_wal_keep_sizes(memory_mbs: Iterable[int],
                              disk_mbs: Iterable[int | None] | None = None) -> Reasons:
    """Why pg_wal_keep_sizes gives its two values."""
    memory = list(memory_mbs)
    keep = pg_wal_keep_sizes(memory, disk_mbs)
    whose = "" if len(memory) == 1 else " of the smallest DB host"
    return {
        "max_slot_wal_keep_size": (keep["max_slot_wal_keep_size"],
                                   f"max_wal_size{whose}: the most WAL a dead slot keeps"),
        "wal_keep_size": (keep["wal_keep_size"], f"min_wal_size{whose}: kept for a standby without a slot"),
    }


def pg_memory_mb(memory_mb: int, budget_mb: Mapping[str, int]) -> int:
    """The RAM PGTune is told about on a database host (sizing-sources 1.3).

    PGTune models a whole machine (its effective_cache_size is the OS page cache), so a host where
    PostgreSQL is the only service passes its whole RAM; a shared host passes PostgreSQL's share
    of host_budget, as Zulip ran pgtune with half the RAM. budget_mb is host_budget's result.
    """
    check_int("memory_mb", memory_mb)
    if not isinstance(budget_mb, Mapping) or "postgresql" not in budget_mb:
        raise ValueError("budget_mb must be host_budget's result for a host running postgresql")
    services = sorted(name for name in budget_mb if name != "os_reserve")
    if services == ["postgresql"]:
        return memory_mb
    return check_int("budget_mb[postgresql]", budget_mb["postgresql"])


def _pg_terms(memory_mb: int, cpus: int, max_connections: int) -> dict[str, int]:
    """pg_tune's memory terms in kB (and its worker count), shared with explain_pg_tune."""
    total_kb = memory_mb * _KB_PER_MB
    shared_buffers = total_kb // 4
    # wal_buffers: 3 % of shared_buffers, max 16 MB, rounded up to 16 MB above 14 MB, min 32 kB.
    wal_share = 3 * shared_buffers // 100
    wal_buffers = min(wal_share, 16 * _KB_PER_MB)
    if 14 * _KB_PER_MB < wal_buffers < 16 * _KB_PER_MB:
        wal_buffers = 16 * _KB_PER_MB
    # work_mem: (RAM - shared_buffers) / ((max_connections + max_worker_processes) * 3), where
    # max_worker_processes is the parallel block's cpus or PostgreSQL's default 8 (pgtune#113);
    # floor 4 MB since 2026-04 ("prevent disk-spill for simple queries").
    workers = cpus if cpus >= 4 else 8
    work_share = (total_kb - shared_buffers) // ((max_connections + workers) * 3)
    return {
        "total": total_kb,
        "shared_buffers": shared_buffers,
        # maintenance_work_mem: RAM/16, capped at 8 GB since the 2026-04 change (2 GB before).
        "maintenance_share": total_kb // 16,
        "maintenance": min(total_kb // 16, 8 * _KB_PER_GB),
        "wal_share": wal_share,
        "wal_buffers": max(wal_buffers, 32),
        "workers": workers,
        "work_share": work_share,
        "work_mem": max(work_share, 4 * _KB_PER_MB),
    }


def pg_tune(memory_mb: int, cpus: int, max_connections: int = 200, pg_version: int = 15,
            storage: str = "ssd", disk_mb: int | None = None) -> dict[str, str]:
    """PGTune HEAD (le0pard/pgtune 7caef27, 2026-07) "web" profile on Linux (sizing-sources 1.1).

    memory_mb is the RAM PGTune is told about: the whole host when PostgreSQL has it alone, its
    share of a shared host otherwise (Zulip ran pgtune with half the RAM, sizing-sources 1.3). Keys
    and order follow PGTune's output; values are strings exactly as PGTune prints them, except
    min_wal_size and max_wal_size, which are PGTune's 1GB and 4GB only where they fit: from 2 GB
    given to PostgreSQL and, when disk_mb (the data filesystem's free MB) is known, 40 GB free
    (pg_wal_sizes).
    """
    check_int("memory_mb", memory_mb)
    check_int("cpus", cpus)
    check_int("max_connections", max_connections)
    check_int("pg_version", pg_version, 10)
    if pg_version > 18:
        raise ValueError(f"pg_version must be 10..18 (PGTune's range), got {pg_version}")
    check_choice("storage", storage, STORAGE_TYPES)
    if disk_mb is not None:
        check_int("disk_mb", disk_mb)
    terms = _pg_terms(memory_mb, cpus, max_connections)
    shared_buffers, maintenance = terms["shared_buffers"], terms["maintenance"]
    parallel = cpus >= 4
    random_page_cost, io_concurrency = PG_STORAGE[storage]
    settings = {
        "max_connections": str(max_connections),
        "shared_buffers": pg_size(shared_buffers),
        "effective_cache_size": pg_size(terms["total"] * 3 // 4),
        "maintenance_work_mem": pg_size(maintenance),
        "checkpoint_completion_target": "0.9",
        "wal_buffers": pg_size(terms["wal_buffers"]),
        "default_statistics_target": "100",
        "random_page_cost": random_page_cost,
        "effective_io_concurrency": str(io_concurrency),
        "work_mem": pg_size(terms["work_mem"]),
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
        # (sizing-sources 1.1: "only when method != io_uring").
        settings["io_method"] = "io_uring"
    settings.update(pg_wal_sizes(memory_mb, disk_mb))  # PGTune's 1GB / 4GB where they fit
    if parallel:
        half = math.ceil(cpus / 2)
        settings["max_worker_processes"] = str(cpus)
        settings["max_parallel_workers_per_gather"] = str(min(4, half))
        settings["max_parallel_workers"] = str(cpus)
        if pg_version >= 11:
            settings["max_parallel_maintenance_workers"] = str(min(4, half))
    return settings


def explain_pg_tune(memory_mb: int, cpus: int, max_connections: int = 200,
                    disk_mb: int | None = None, dedicated: bool = False) -> Reasons:
    """Why pg_tune gives each setting; dedicated: memory_mb is the whole host's RAM, not a share.
    Values that depend on pg_version or storage are the frozenset of what pg_tune can print."""
    formula = pg_tune(memory_mb, cpus, max_connections, pg_version=18, disk_mb=disk_mb)
    terms = _pg_terms(memory_mb, cpus, max_connections)
    ram = f"the {human_size(memory_mb)} of RAM" if dedicated else f"the {human_size(memory_mb)} share"
    kb = 1 / _KB_PER_MB  # kB -> MB for human_size
    why: dict[str, str] = {
        "max_connections": "the cluster value, which work_mem is sized for",
        "shared_buffers": f"25% of {ram}",
        "effective_cache_size": f"75% of {ram}: the page cache counts",
        "maintenance_work_mem": (f"1/16 of {ram}" if terms["maintenance"] == terms["maintenance_share"]
                                 else f"capped at 8 GB (1/16 of {ram} is more)"),
        "checkpoint_completion_target": "PGTune: spread checkpoint writes out",
        "default_statistics_target": "PGTune web profile (the PostgreSQL default)",
        "random_page_cost": "PGTune: 4 on hdd, 1.1 on ssd, san and nvme",
        "effective_io_concurrency": "PGTune: " + ", ".join(f"{name} {conc}"
                                                           for name, (_cost, conc) in PG_STORAGE.items()),
        "huge_pages": ("try: shared_buffers is 2 GB or more" if formula["huge_pages"] == "try"
                       else "off: shared_buffers is under 2 GB"),
        "jit": "off: JIT costs more than short web queries (PGTune)",
        "wal_compression": "PGTune: lz4 from PostgreSQL 15, on before",
        "io_method": "PGTune: io_uring on Linux from PostgreSQL 18",
        "min_wal_size": "max_wal_size / 4, as PGTune 1 GB : 4 GB",
        "max_worker_processes": f"the {_count(cpus, 'vCPU')} (PGTune from 4 vCPUs)",
        "max_parallel_workers_per_gather": "half the vCPUs, at most 4 (PGTune)",
        "max_parallel_workers": "the vCPUs (PGTune)",
        "max_parallel_maintenance_workers": "half the vCPUs, at most 4 (PGTune)",
    }
    if terms["wal_share"] >= 16 * _KB_PER_MB:
        why["wal_buffers"] = "16 MB at most (3% of shared_buffers is more)"
    elif terms["wal_buffers"] == 16 * _KB_PER_MB:
        why["wal_buffers"] = "3% of shared_buffers, rounded up to 16 MB"
    elif terms["wal_buffers"] == 32:
        why["wal_buffers"] = "32 kB at least (3% of shared_buffers is less)"
    else:
        why["wal_buffers"] = "3% of shared_buffers"
    if terms["work_mem"] == terms["work_share"]:
        why["work_mem"] = (f"({human_size(memory_mb)} - {human_size(terms['shared_buffers'] * kb)} "
                           f"shared_buffers) / (3 x ({max_connections} connections + "
                           f"{terms['workers']} workers))")
    else:
        why["work_mem"] = (f"4 MB at least: ({human_size(memory_mb)} - shared_buffers) / (3 x "
                           f"({max_connections} connections + {terms['workers']} workers)) is less")
    if "autovacuum_max_workers" in formula:
        why["autovacuum_max_workers"] = "PGTune: 4 from 16 vCPUs, 5 from 32"
    if "autovacuum_work_mem" in formula:
        why["autovacuum_work_mem"] = "PGTune: 2 GB once maintenance_work_mem is 2 GB or more"
    wal = _wal_terms(memory_mb, disk_mb)
    limit = pg_wal_limit_mb(memory_mb, disk_mb)
    if limit == WAL_MIN_MB and min(wal.values()) < WAL_MIN_MB:
        why["max_wal_size"] = f"2 WAL segments of {WAL_SEGMENT_MB} MB, the least PostgreSQL takes"
    elif limit == wal["pgtune"]:
        why["max_wal_size"] = "PGTune web profile: fits from 2 GB of RAM" + (
            "" if disk_mb is None else " and 40 GB of disk")
    elif "disk" in wal and wal["disk"] < wal["ram"]:
        why["max_wal_size"] = (f"{WAL_DISK_PERCENT}% of the {human_size(disk_mb or 0)} free disk, "
                               f"in {WAL_SEGMENT_MB} MB WAL segments")
    else:
        why["max_wal_size"] = f"{WAL_PER_RAM} x {ram}, in {WAL_SEGMENT_MB} MB WAL segments"
    choices = {
        "random_page_cost": frozenset(cost for cost, _conc in PG_STORAGE.values()),
        "effective_io_concurrency": frozenset(str(conc) for _cost, conc in PG_STORAGE.values()),
        "wal_compression": frozenset(("lz4", "on")),
    }
    return {key: (choices.get(key, formula.get(key)), reason) for key, reason in why.items()}


# Per-process RSS defaults for the memory caps. A Django process is commonly 100-300 MB;
# Heroku's WEB_CONCURRENCY sizing assumes 256 MB per web process (sizing-sources 2). Celery prefork
# children fork from a parent that has already imported Django, so they share more pages.
GUNICORN_WORKER_MEMORY_MB = 256
MOD_WSGI_PROCESS_MEMORY_MB = 256
CELERY_CHILD_MEMORY_MB = 128
APACHE_CHILD_MEMORY_MB = 16  # an Apache child in daemon mode holds no Python: a thin proxy
BACKEND_KEEPALIVE_S = 65  # above nginx's upstream keepalive_timeout (60s): sizing-sources 8.5
_KEEPALIVE_WHY = "seconds, above the 60 s of nginx upstream keepalive"
GUNICORN_THREADS = 4  # gunicorn_workers' docstring says why
MOD_WSGI_THREADS = 5  # mod_wsgi-express's "starting point"
MOD_WSGI_APACHE_MB = 32  # mod_wsgi_daemon: the Apache children's part of the app server's share


def gunicorn_workers(memory_mb: int, cpus: int, worker_memory_mb: int = GUNICORN_WORKER_MEMORY_MB,
                     workers: int | None = None, threads: int | None = None,
                     max_workers: int = 12) -> dict[str, Any]:
    """gunicorn workers and threads for a memory share (sizing-sources 2).

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
        workers = max(1, min(_gunicorn_terms(memory_mb, cpus, worker_memory_mb, max_workers).values()))
    check_int("workers", workers)
    threads = check_int("threads", GUNICORN_THREADS if threads is None else threads)
    return {
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "concurrency": workers * threads,
        "worker_memory_mb": worker_memory_mb,
        "keepalive": BACKEND_KEEPALIVE_S,
    }


def _gunicorn_terms(memory_mb: int, cpus: int, worker_memory_mb: int, max_workers: int) -> dict[str, int]:
    """gunicorn_workers' bounds: workers = max(1, the smallest of them)."""
    return {"cpus": 2 * cpus + 1, "max": max_workers, "memory": memory_mb // worker_memory_mb}


def explain_gunicorn_workers(result: Mapping[str, Any], memory_mb: int, cpus: int,
                             max_workers: int = 12) -> Reasons:
    """Why gunicorn_workers gives result (its output, overrides included) for this share and cpus."""
    per = check_int("worker_memory_mb", result.get("worker_memory_mb"))
    formula = gunicorn_workers(memory_mb, cpus, worker_memory_mb=per, max_workers=max_workers)
    terms = _gunicorn_terms(memory_mb, cpus, per, max_workers)
    by_cpus, share = f"2 x {_count(cpus, 'vCPU')} + 1", f"{human_size(memory_mb)} share"
    workers, threads = formula["workers"], result.get("threads")
    given = _given(gunicorn_workers, memory_mb, cpus, worker_memory_mb=per, workers=result.get("workers"),
                   threads=threads)
    if workers == terms["cpus"]:
        why = f"{by_cpus}, fits the {share} at {human_size(per)} each"
    elif workers == terms["max"]:
        why = f"capped at {max_workers} ({by_cpus} = {terms['cpus']})"
    elif workers == terms["memory"]:
        why = f"{share} / {human_size(per)} each ({by_cpus} = {terms['cpus']})"
    else:
        why = f"at least 1, though the {share} is under {human_size(per)}"
    return {
        "workers": (workers, why),
        "threads": (GUNICORN_THREADS, "per worker: Django views mostly wait on I/O"),
        "worker_class": (given.get("worker_class"), "gthread when a worker has more than one thread"),
        "concurrency": (given.get("concurrency"),
                        f"{_count(result.get('workers'), 'worker')} x {_count(threads, 'thread')}: "
                        "requests at once"),
        "worker_memory_mb": (GUNICORN_WORKER_MEMORY_MB, "assumed size of one Django process (Heroku)"),
        "keepalive": (BACKEND_KEEPALIVE_S, _KEEPALIVE_WHY),
    }


def _given(func: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """func's result for the values a plan holds (overrides included), {} when they are not valid:
    what follows from them is then computed by func itself, never here."""
    try:
        return func(*args, **kwargs)
    except (TypeError, ValueError):
        return {}


def mod_wsgi_daemon(memory_mb: int, cpus: int, process_memory_mb: int = MOD_WSGI_PROCESS_MEMORY_MB,
                    processes: int | None = None, threads: int | None = None) -> dict[str, int]:
    """WSGIDaemonProcess processes and threads (Graham Dumpleton's guidance, sizing-sources 3).

    Daemon mode; processes ~ the cores given to the app, capped by what fits in memory_mb after
    32 MB for the Apache children; threads = 5, mod_wsgi-express's "starting point" (1 process
    x 15 threads is mod_wsgi's default, but "do not get carried away": 3-5 if CPU-bound).
    """
    check_int("memory_mb", memory_mb)
    check_int("cpus", cpus)
    check_int("process_memory_mb", process_memory_mb)
    if processes is None:
        processes = max(1, min(cpus, (memory_mb - MOD_WSGI_APACHE_MB) // process_memory_mb))
    check_int("processes", processes)
    threads = check_int("threads", MOD_WSGI_THREADS if threads is None else threads)
    return {"processes": processes, "threads": threads, "concurrency": processes * threads,
            "process_memory_mb": process_memory_mb}


def explain_mod_wsgi_daemon(result: Mapping[str, Any], memory_mb: int, cpus: int) -> Reasons:
    """Why mod_wsgi_daemon gives result (its output, overrides included) for this share and cpus."""
    per = check_int("process_memory_mb", result.get("process_memory_mb"))
    processes = mod_wsgi_daemon(memory_mb, cpus, process_memory_mb=per)["processes"]
    given = _given(mod_wsgi_daemon, memory_mb, cpus, process_memory_mb=per, processes=result.get("processes"),
                   threads=result.get("threads"))
    fits = (memory_mb - MOD_WSGI_APACHE_MB) // per
    left = f"the {human_size(memory_mb)} share less {MOD_WSGI_APACHE_MB} MB for Apache"
    if processes == cpus:
        why = f"one per vCPU, fits {left} at {human_size(per)} each"
    elif processes == fits:
        why = (f"({human_size(memory_mb)} share - {MOD_WSGI_APACHE_MB} MB for Apache) / "
               f"{human_size(per)} per process ({_count(cpus, 'vCPU')})")
    else:
        why = f"at least 1, though {left} is under {human_size(per)}"
    return {
        "processes": (processes, why),
        "threads": (MOD_WSGI_THREADS, "mod_wsgi-express starting point (3-5 if CPU-bound)"),
        "concurrency": (given.get("concurrency"),
                        f"{_count(result.get('processes'), 'process', 'processes')} x "
                        f"{_count(result.get('threads'), 'thread')}: requests at once"),
        "process_memory_mb": (MOD_WSGI_PROCESS_MEMORY_MB, "assumed size of one Django process"),
    }


def apache_mpm(mpm: str, processes: int, threads: int, memory_mb: int | None = None,
               child_memory_mb: int = APACHE_CHILD_MEMORY_MB) -> dict[str, Any]:
    """Apache MPM directives in front of a mod_wsgi daemon pool (mod_wsgi-express server.py, sizing-sources 3).

    max_clients = 10 + max(10, int(1.5 x processes x threads)) as mod_wsgi-express computes it.
    For prefork each connection holds a whole child, so httpd's "never swap" rule also applies:
    MaxRequestWorkers <= memory_mb / child_memory_mb when memory_mb is given.
    """
    check_choice("mpm", mpm, APACHE_MPMS)
    check_int("processes", processes)
    check_int("threads", threads)
    check_int("child_memory_mb", child_memory_mb)
    max_clients = _express_max_clients(processes, threads)
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


def _express_max_clients(processes: int, threads: int) -> int:
    """mod_wsgi-express server.py: max_clients = 10 + max(10, int(1.5 x processes x threads))."""
    return 10 + max(10, int(1.5 * processes * threads))


def explain_apache_mpm(result: Mapping[str, Any], processes: int, threads: int) -> Reasons:
    """Why apache_mpm gives result for a daemon pool of processes x threads. For prefork, the
    memory cap is read back from result's MaxRequestWorkers (the share is the caller's)."""
    mpm = check_choice("mpm", result.get("mpm"), APACHE_MPMS)
    clients = _express_max_clients(processes, threads)
    express = f"10 + max(10, 1.5 x {processes} processes x {threads} threads) = {clients} clients"
    why = {
        "mpm": "mod_wsgi_mpm (event unless set)",
        "KeepAlive": "reuse the connections from nginx",
        "KeepAliveTimeout": _KEEPALIVE_WHY,
        "MaxConnectionsPerChild": "0: children are never recycled (mod_wsgi-express)",
    }
    if mpm == "prefork":
        workers = result.get("MaxRequestWorkers")
        capped = isinstance(workers, int) and 0 < workers < clients
        formula = apache_mpm(mpm, processes, threads,
                             memory_mb=workers * APACHE_CHILD_MEMORY_MB if capped else None)
        why.update({
            "MaxRequestWorkers": (f"capped: {human_size(APACHE_CHILD_MEMORY_MB)} per child in what the "
                                  f"daemon processes leave of the share ({express})" if capped else express),
            "ServerLimit": "= MaxRequestWorkers: one child per connection",
            "StartServers": "5% of MaxRequestWorkers, at least 1",
            "MinSpareServers": "5% of MaxRequestWorkers, at least 1",
            "MaxSpareServers": "10% of MaxRequestWorkers, above MinSpareServers",
            "MaxKeepAliveRequests": "mod_wsgi-express",
        })
    else:
        formula = apache_mpm(mpm, processes, threads)
        why.update({
            "MaxRequestWorkers": f"ServerLimit x ThreadsPerChild, for {express}",
            "ThreadsPerChild": f"{clients} clients split evenly, at most 20 threads a child",
            "ThreadLimit": "= ThreadsPerChild",
            "ServerLimit": f"children for the {clients} clients",
            "StartServers": "20% of ServerLimit, at least 1",
            "MinSpareThreads": "20% of ServerLimit in threads, at least one child",
            "MaxSpareThreads": "60% of ServerLimit in threads, at least MinSpareThreads + a child",
            "ThreadStackSize": "bytes (256 kB), as mod_wsgi-express",
            "MaxKeepAliveRequests": ("0: unlimited (event MPM)" if mpm == "event" else "mod_wsgi-express"),
        })
    return {key: (formula.get(key), reason) for key, reason in why.items()}


def memcached_settings(memory_mb: int, cpus: int, client_connections: int = 0,
                       dedicated: bool = False) -> dict[str, int]:
    """memcached -m, -c, -t for a memory share (memcached.c defaults, sizing-sources 6).

    -c: 1.5 x the client connections, at least memcached's default 1024. -m: the share minus
    what memcached uses beside items (~5 MB per 1024 connections, as memcached.c says, and 8 MB
    for the hash table), at least 16 MB. -t: 4 (the default) or the cores if fewer; all cores on
    a dedicated host (memcached warns above 64).
    """
    check_int("memory_mb", memory_mb)
    check_int("cpus", cpus)
    check_int("client_connections", client_connections, 0)
    max_connections = max(1024, math.ceil(1.5 * client_connections))
    overhead = _memcached_overhead_mb(max_connections)
    return {
        "memory_mb": min(memory_mb, max(16, memory_mb - overhead)),
        "max_connections": max_connections,
        "threads": min(64, cpus) if dedicated else min(4, cpus),
    }


def _memcached_overhead_mb(max_connections: int) -> int:
    """memcached's memory beside items: 8 MB of hash table, ~5 MB per 1024 connections."""
    return 8 + math.ceil(5 * max_connections / 1024)


def explain_memcached_settings(memory_mb: int, cpus: int, client_connections: int = 0,
                               dedicated: bool = False) -> Reasons:
    """Why memcached_settings gives -m, -c and -t for this share."""
    formula = memcached_settings(memory_mb, cpus, client_connections, dedicated)
    connections = formula["max_connections"]
    asked = f"1.5 x {client_connections} clients"
    overhead = _memcached_overhead_mb(connections)
    share = f"the {human_size(memory_mb)} share"
    if formula["memory_mb"] == memory_mb - overhead:
        memory = f"{share} - {overhead} MB (hash table, {connections} connections)"
    elif formula["memory_mb"] == memory_mb:
        memory = f"all of {share} (under 16 MB)"
    else:
        memory = f"at least 16 MB ({share} less {overhead} MB for connections is less)"
    return {
        "memory_mb": (formula["memory_mb"], memory),
        "max_connections": (connections, f"memcached default ({asked} is fewer)"
                            if connections == 1024 and 1.5 * client_connections < 1024 else asked),
        "threads": (formula["threads"], f"all {_count(cpus, 'vCPU')} of a dedicated host, at most 64"
                    if dedicated else "memcached default 4, at most the vCPUs"),
    }


REDIS_OVERHEAD_MB = 16  # redis-server beside its data: code, client buffers, replication backlog (1 MB)
REDIS_MIN_MAXMEMORY_MB = 16
REDIS_POLICIES = ("allkeys-lru", "volatile-lru", "noeviction")


def redis_settings(memory_mb: int, persistent: bool = False) -> dict[str, Any]:
    """Redis maxmemory, its eviction policy and persistence for a memory share (sizing-sources 6.1).

    A cache only (persistent false): maxmemory is the share less REDIS_OVERHEAD_MB, every key may
    be evicted (allkeys-lru), nothing is written to disk: a restart empties it, as memcached's.
    A Celery broker (persistent true): the append-only file keeps queued tasks across restarts
    (fsync every second), and maxmemory is half of what is left, because a save or an AOF
    rewrite forks and "Redis may use up to 2 times the memory normally used" (redis.io); only
    keys with a time to live are evicted (volatile-lru: the cache's entries and task results,
    never a queue). At least 16 MB.
    """
    check_int("memory_mb", memory_mb)
    if not isinstance(persistent, bool):
        raise TypeError(f"persistent must be true or false, got {type(persistent).__name__} {persistent!r}")
    usable = memory_mb - REDIS_OVERHEAD_MB
    maxmemory = usable // 2 if persistent else usable
    return {
        "maxmemory_mb": min(memory_mb, max(REDIS_MIN_MAXMEMORY_MB, maxmemory)),
        "maxmemory_policy": "volatile-lru" if persistent else "allkeys-lru",
        "appendonly": persistent,
    }


def explain_redis_settings(memory_mb: int, persistent: bool = False) -> Reasons:
    """Why redis_settings gives maxmemory, the policy and persistence for this share."""
    formula = redis_settings(memory_mb, persistent)
    share = f"the {human_size(memory_mb)} share"
    if formula["maxmemory_mb"] in (REDIS_MIN_MAXMEMORY_MB, memory_mb):
        memory = f"at least {REDIS_MIN_MAXMEMORY_MB} MB, at most {share}"
    elif persistent:
        memory = f"({share} - {REDIS_OVERHEAD_MB} MB) / 2: a save forks and may double the memory"
    else:
        memory = f"{share} - {REDIS_OVERHEAD_MB} MB (the server, clients, replication backlog)"
    return {
        "maxmemory_mb": (formula["maxmemory_mb"], memory),
        "maxmemory_policy": (formula["maxmemory_policy"], "evict only keys with a TTL: never a Celery queue"
                             if persistent else "a cache: evict the least recently used key"),
        "appendonly": (formula["appendonly"], "the Celery queues survive a restart (fsync every second)"
                       if persistent else "a cache: nothing on disk"),
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


def rabbitmq_size_mb(value: Any) -> float:
    """MB (MiB) of a rabbitmq.conf information unit value ('1024MiB', '2GB', 1073741824)."""
    return _rabbit_bytes("size", value) / 1024**2


def rabbitmq_memory(memory_mb: int, total_memory_mb: int | None = None, dedicated: bool = False,
                    watermark: Any = None, disk_free_limit: Any = None) -> dict[str, str]:
    """rabbitmq.conf memory and disk alarm lines (RabbitMQ production checklist, sizing-sources 7.1).

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


def explain_rabbitmq_memory(result: Mapping[str, Any], memory_mb: int, total_memory_mb: int | None = None,
                            dedicated: bool = False) -> Reasons:
    """Why rabbitmq_memory gives result (overrides included) for this share of total_memory_mb."""
    formula = rabbitmq_memory(memory_mb, total_memory_mb, dedicated)
    host = human_size(total_memory_mb if total_memory_mb is not None else memory_mb)
    why: Reasons = {
        "vm_memory_high_watermark.relative": (
            formula.get("vm_memory_high_watermark.relative", NOT_COMPUTED),
            f"a fraction of the {host} of RAM: 0.6 is the RabbitMQ default (0.4-0.7) on a dedicated host"),
        "vm_memory_high_watermark.absolute": (
            formula.get("vm_memory_high_watermark.absolute", NOT_COMPUTED),
            "its share: .relative would count the whole host"),
    }
    watermark = result.get("vm_memory_high_watermark.absolute",
                           result.get("vm_memory_high_watermark.relative"))
    try:
        disk = rabbitmq_memory(memory_mb, total_memory_mb, dedicated, watermark=watermark)
    except (TypeError, ValueError):
        disk = formula
    why["disk_free_limit.absolute"] = (disk.get("disk_free_limit.absolute"),
                                       "the memory watermark (RabbitMQ production checklist)")
    why["disk_free_limit.relative"] = (NOT_COMPUTED, "a multiple of the RAM")
    return why


def celery_concurrency(memory_mb: int, cpus: int, child_memory_mb: int = CELERY_CHILD_MEMORY_MB) -> int:
    """Celery prefork children: the core count (Celery's default), capped by memory (sizing-sources 7.2)."""
    check_int("memory_mb", memory_mb)
    check_int("cpus", cpus)
    check_int("child_memory_mb", child_memory_mb)
    return max(1, min(cpus, memory_mb // child_memory_mb))


def explain_celery_concurrency(memory_mb: int, cpus: int,
                               child_memory_mb: int = CELERY_CHILD_MEMORY_MB) -> Reasons:
    """Why celery_concurrency gives its children (key 'concurrency', as in the plan)."""
    children = celery_concurrency(memory_mb, cpus, child_memory_mb)
    share, per = f"the {human_size(memory_mb)} share", human_size(child_memory_mb)
    if children == cpus:
        why = f"one per vCPU (Celery default), fits {share} at {per} each"
    elif children == memory_mb // child_memory_mb:
        why = f"{share} / {per} each ({_count(cpus, 'vCPU')})"
    else:
        why = f"at least 1, though {share} is under {per}"
    return {"concurrency": (children, why)}


HAPROXY_CONN_PER_MB = 20  # "about 33 kB per connection... 1GB can withstand 20000-25000"
HAPROXY_MAX_CONN = 100000  # autobase's global maxconn


def haproxy_maxconn(memory_mb: int, server_concurrency: dict[str, int] | None = None,
                    maxconn: int | None = None) -> dict[str, Any]:
    """HAProxy maxconn: global and frontend from memory, per server from its concurrency (sizing-sources 5).

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


def explain_haproxy_maxconn(result: Mapping[str, Any], memory_mb: int) -> Reasons:
    """Why haproxy_maxconn gives result; per-server keys are 'server_maxconn <server>'."""
    formula = haproxy_maxconn(memory_mb)
    share = human_size(memory_mb)
    why: Reasons = {
        "global_maxconn": (formula["global_maxconn"], f"capped at {HAPROXY_MAX_CONN}"
                           if formula["global_maxconn"] == HAPROXY_MAX_CONN
                           else f"{HAPROXY_CONN_PER_MB} per MB of the {share} share (about 33 kB each)"),
    }
    given = _given(haproxy_maxconn, memory_mb, maxconn=result.get("global_maxconn"))
    why["frontend_maxconn"] = (given.get("frontend_maxconn"),
                               "90% of global; 10% left for stats and health checks")
    for server, concurrency in sorted((result.get("server_maxconn") or {}).items()):
        why[f"server_maxconn {server}"] = (concurrency, f"what {server} serves at once; more wait in HAProxy")
    return why


NGINX_CONNECTIONS_PER_MB = 64
NGINX_MIN_CONNECTIONS = 512  # nginx's default worker_connections
NGINX_MAX_CONNECTIONS = 16384


def _nginx_connections_by_memory(memory_mb: int, processes: int) -> int:
    return memory_mb * NGINX_CONNECTIONS_PER_MB // processes


def nginx_workers(memory_mb: int, cpus: int, worker_processes: int | None = None,
                  worker_connections: int | None = None) -> dict[str, int]:
    """nginx worker_processes, worker_connections, worker_rlimit_nofile (sizing-sources 4).

    processes = the vCPUs (what 'auto' means, written as a number because a container's 'auto'
    sees the whole machine). connections = 64 per MB of the share and process (a proxied
    request holds two connections of ~8 kB of buffers each), between nginx's default 512 and
    16384. rlimit_nofile = 2 x connections (gixy's rule); clients ~ processes x connections / 2.
    """
    check_int("memory_mb", memory_mb)
    check_int("cpus", cpus)
    processes = check_int("worker_processes", cpus if worker_processes is None else worker_processes)
    if worker_connections is None:
        by_memory = _nginx_connections_by_memory(memory_mb, processes)
        worker_connections = min(NGINX_MAX_CONNECTIONS, max(NGINX_MIN_CONNECTIONS, by_memory))
    check_int("worker_connections", worker_connections)
    return {"worker_processes": processes, "worker_connections": worker_connections,
            "worker_rlimit_nofile": 2 * worker_connections,
            "max_clients": processes * worker_connections // 2}


def explain_nginx_workers(result: Mapping[str, Any], memory_mb: int, cpus: int) -> Reasons:
    """Why nginx_workers gives result (overrides included) for this share and cpus."""
    processes = result.get("worker_processes")
    processes = processes if isinstance(processes, int) and processes > 0 else cpus
    formula = nginx_workers(memory_mb, cpus, worker_processes=processes)
    given = _given(nginx_workers, memory_mb, cpus, worker_processes=processes,
                   worker_connections=result.get("worker_connections"))
    if formula["worker_connections"] == _nginx_connections_by_memory(memory_mb, processes):
        connections = (f"{NGINX_CONNECTIONS_PER_MB} per MB of the {human_size(memory_mb)} share / "
                       f"{_count(processes, 'process', 'processes')}")
    elif formula["worker_connections"] == NGINX_MIN_CONNECTIONS:
        connections = f"nginx default ({NGINX_CONNECTIONS_PER_MB} per MB of the share is fewer)"
    else:
        connections = f"capped at {NGINX_MAX_CONNECTIONS}"
    return {
        "worker_processes": (cpus, "one per vCPU (what auto means outside a container)"),
        "worker_connections": (formula["worker_connections"], connections),
        "worker_rlimit_nofile": (given.get("worker_rlimit_nofile"), "2 x worker_connections"),
        "max_clients": (given.get("max_clients"), "processes x connections / 2: 2 per proxied request"),
    }
