"""The cluster plan: every host's services, memory budget and settings, and cluster-wide totals.

Pure Python over plain mappings (no Ansible imports, no I/O). The filter
django_deploy.stack.cluster_plan only hands it hostvars and groups; roles read their own host's
entry and playbooks/plan.yml prints the whole plan, so both see the same numbers by
construction. The per-host maths is in tuning.py; this module adds what needs the whole
inventory (sizing-sources 8.2-8.4; docs/sizing-sources.md names the sources): PostgreSQL max_connections from every app server and Celery
child that can connect, settings that must match across the database group, memcached's client
connections, HAProxy's per-server limits.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ansible_collections.django_deploy.stack.plugins.module_utils import tuning
from ansible_collections.django_deploy.stack.plugins.module_utils.tuning import check_int, check_choice

# pg_cluster_settings reserve (sizing-sources 8.2): PostgreSQL's superuser_reserved_connections
# default, plus connections for manage.py migrate/shell, backups and monitoring.
PG_SUPERUSER_RESERVED = 3
PG_ADMIN_CONNECTIONS = 10
PG_MIN_MAX_CONNECTIONS = 25  # timescaledb-tune's floor: Patroni rejects fewer (sizing-sources 1.2)


def pg_connections_needed(web_concurrency: int, celery_concurrency: int = 0, celery_beat: int = 0) -> int:
    """Connections the applications can hold: one per app-server thread, Celery child and beat."""
    check_int("web_concurrency", web_concurrency, 0)
    check_int("celery_concurrency", celery_concurrency, 0)
    check_int("celery_beat", celery_beat, 0)
    return web_concurrency + celery_concurrency + celery_beat


def pg_cluster_settings(db_cpus: list[int], web_concurrency: int, celery_concurrency: int = 0,
                        celery_beat: int = 0, max_connections: int | None = None) -> dict[str, str]:
    """Settings that every node of the database group must share (sizing-sources 1.1 hot-standby rule, 1.4, 8.2, 8.3).

    db_cpus lists the vCPUs of the primary and every replica. A standby refuses to start when
    max_connections, max_worker_processes, max_wal_senders, max_locks_per_transaction or
    max_prepared_transactions is lower than the primary's, so these are computed once, over the
    whole group, and merged over each host's pg_tune result. The replication settings that the
    primary and the standbys need are here too, because they must agree as well.
    """
    if isinstance(db_cpus, (str, bytes)) or not isinstance(db_cpus, Iterable):
        raise TypeError(f"db_cpus must be a list of vCPU counts, got {type(db_cpus).__name__}")
    cpus = [check_int("db_cpus", value) for value in db_cpus]
    if not cpus:
        raise ValueError("db_cpus must list at least one database host")
    needed = pg_connections_needed(web_concurrency, celery_concurrency, celery_beat)
    if max_connections is None:
        max_connections = max(PG_MIN_MAX_CONNECTIONS, needed + PG_ADMIN_CONNECTIONS + PG_SUPERUSER_RESERVED)
    check_int("max_connections", max_connections, PG_SUPERUSER_RESERVED + 1)
    standbys = len(cpus) - 1
    # Two WAL senders per standby (stream + a pg_basebackup -X stream while re-seeding it) plus
    # two spare; never below PostgreSQL's default of 10 (sizing-sources 1.4).
    senders = max(10, 2 * standbys + 2)
    return {
        "max_connections": str(max_connections),
        "superuser_reserved_connections": str(PG_SUPERUSER_RESERVED),
        # The largest host's PGTune value, never below PostgreSQL's default 8 (PGTune leaves
        # the default on hosts with < 4 CPUs), so no standby is ever below its primary.
        "max_worker_processes": str(max(8, *cpus)),
        "max_wal_senders": str(senders),
        "max_replication_slots": str(senders),
        "max_locks_per_transaction": "64",  # PostgreSQL's default, written so all nodes agree
        "max_prepared_transactions": "0",  # Django does not use two-phase commit
        "wal_level": "replica",
        "hot_standby": "on",
        # Safety net for a standby without a slot, and a bound on what a dead slot may keep so
        # it is invalidated instead of filling the disk (= PGTune's web max_wal_size).
        "wal_keep_size": "1GB",
        "max_slot_wal_keep_size": "4GB",
        # pg_rewind (promote.yml re-attaching an old primary) needs hint bits in the WAL.
        "wal_log_hints": "on",
    }


# ---------------------------------------------------------------------------------------------
# The connection pooler (postgresql_pooler: pgbouncer): PgBouncer in transaction mode on every
# database host, between the app and PostgreSQL. Its two sides: the clients (each app-server
# thread, Celery child and beat keeps one persistent connection per database alias it uses) and
# the server connections it opens to its own PostgreSQL, within the cluster's max_connections.
POOLERS = ("none", "pgbouncer")
# Consoles, monitoring, an operator's manage.py shell: clients beyond the app's.
POOLER_ADMIN_CLIENTS = 10
# PgBouncer's auth_user looks each login up through a pool of its own: one server connection.
POOLER_AUTH_CONNECTIONS = 1
# Server connections doing work at once: PostgreSQL wiki "Number Of Database Connections",
# (core_count * 2) + effective_spindle_count (one: SSD or a single volume), never below this floor
# so that one slow query does not queue a page's fast ones.
POOLER_MIN_POOL = 10


def pooler_settings(clients_needed: int, max_connections: int, cpus: int) -> dict[str, int]:
    """PgBouncer's sizes on one database host (transaction pooling).

    clients_needed: the app's connections to this host through the pooler (pg_connections_needed);
    max_connections: PostgreSQL's on this host; cpus: this host's vCPUs.

    - max_client_conn: twice the app's connections (a rolling deploy runs old and new app-server
      workers and Celery children side by side) plus POOLER_ADMIN_CLIENTS;
    - default_pool_size: the server connections of the app's pool: (2 x vCPUs) + 1, at least
      POOLER_MIN_POOL, never more than the app's connections nor than what PostgreSQL leaves:
      max_connections less the superuser reserve, PG_ADMIN_CONNECTIONS (migrations, which connect
      directly, and operators) and the auth_user's pool;
    - reserve_pool_size: a quarter of the pool (at least 1) for bursts, within the same room and
      never beyond the app's connections (a pool as large as them needs none);
    - max_db_connections: their sum and the auth_user's, PgBouncer's bound on server connections to
      the database (over all its pools), so PostgreSQL's own limit is never what refuses one.
    """
    check_int("clients_needed", clients_needed)
    check_int("max_connections", max_connections, PG_SUPERUSER_RESERVED + 1)
    check_int("cpus", cpus)
    room = max_connections - PG_SUPERUSER_RESERVED - PG_ADMIN_CONNECTIONS - POOLER_AUTH_CONNECTIONS
    if room < 1:
        raise ValueError(f"max_connections {max_connections} leaves no server connection for the pooler: it needs "
                         f"more than {PG_SUPERUSER_RESERVED} superuser + {PG_ADMIN_CONNECTIONS} admin + "
                         f"{POOLER_AUTH_CONNECTIONS} auth_user connections (postgresql_max_connections)")
    pool = min(clients_needed, room, max(POOLER_MIN_POOL, 2 * cpus + 1))
    reserve = min(room - pool, clients_needed - pool, max(1, pool // 4))
    return {
        "max_client_conn": 2 * clients_needed + POOLER_ADMIN_CLIENTS,
        "default_pool_size": pool,
        "reserve_pool_size": reserve,
        "max_db_connections": pool + reserve + POOLER_AUTH_CONNECTIONS,
    }


def explain_pooler_settings(clients_needed: int, max_connections: int, cpus: int) -> tuning.Reasons:
    """Why pooler_settings gives its values (plan.yml), from the same terms."""
    sizes = pooler_settings(clients_needed, max_connections, cpus)
    room = max_connections - PG_SUPERUSER_RESERVED - PG_ADMIN_CONNECTIONS - POOLER_AUTH_CONNECTIONS
    active = max(POOLER_MIN_POOL, 2 * cpus + 1)
    pool = sizes["default_pool_size"]
    if pool == active:
        pool_why = f"server side: 2 x {cpus} vCPUs + 1, at least {POOLER_MIN_POOL}"
    elif pool == clients_needed:
        pool_why = f"server side: the {clients_needed} app connections (fewer than 2 x vCPUs + 1 or {POOLER_MIN_POOL})"
    else:
        pool_why = (f"server side: what max_connections {max_connections} leaves: - {PG_SUPERUSER_RESERVED} superuser"
                    f" - {PG_ADMIN_CONNECTIONS} admin - {POOLER_AUTH_CONNECTIONS} auth_user")
    return {
        "max_client_conn": (sizes["max_client_conn"], f"client side: 2 x {clients_needed} app connections (old and new "
                            f"workers in a rolling deploy) + {POOLER_ADMIN_CLIENTS} admin"),
        "default_pool_size": (pool, pool_why),
        "reserve_pool_size": (sizes["reserve_pool_size"], f"a quarter of the pool for bursts, within the {room} "
                              f"max_connections leaves and the {clients_needed} app connections"),
        "max_db_connections": (sizes["max_db_connections"], f"pool + reserve + {POOLER_AUTH_CONNECTIONS} auth_user: "
                               f"at most {room + POOLER_AUTH_CONNECTIONS} PostgreSQL leaves"),
    }


def _plan_pooler(entries: dict[str, dict[str, Any]], clients_needed: int) -> dict[str, Any] | None:
    """pooler_settings on each database host (its max_connections as planned); the cluster's
    client and largest server sizes for the totals (None: no database host)."""
    sizes = {}
    for host, entry in entries.items():
        if "postgresql" not in entry:
            continue
        connections = str(entry["postgresql"].get("max_connections", ""))
        if not connections.isdigit():
            continue
        entry["pgbouncer"] = sizes[host] = _with_host(host, pooler_settings, max(1, clients_needed),
                                                      int(connections), entry["cpus"])
    if not sizes:
        return None
    return {"pooler_client_connections": max(s["max_client_conn"] for s in sizes.values()),
            "pooler_server_connections": max(s["max_db_connections"] for s in sizes.values())}


# Public variables a user may set in the inventory to override a derived value (the roles'
# variables of the same names). Integers unless listed in _CHOICE_VARS or handled below.
INT_VARS = (
    "gunicorn_workers", "gunicorn_threads", "gunicorn_worker_memory_mb", "mod_wsgi_processes",
    "mod_wsgi_threads", "memcached_memory_mb", "memcached_max_connections", "memcached_threads",
    "celery_concurrency", "haproxy_maxconn", "nginx_worker_processes", "nginx_worker_connections",
    "postgresql_max_connections", "postgresql_version", "redis_maxmemory_mb",
)
_CHOICE_VARS = {
    "django_app_server": tuning.APP_SERVERS,
    "mod_wsgi_mpm": tuning.APACHE_MPMS,
    "postgresql_storage": tuning.STORAGE_TYPES,
    "redis_maxmemory_policy": tuning.REDIS_POLICIES,
    "postgresql_pooler": POOLERS,
}
# Booleans: redis_persistence (the stack model sets it when Redis is the Celery broker).
_BOOL_VARS = ("redis_persistence",)
_DEFAULTS = {"django_app_server": "gunicorn", "mod_wsgi_mpm": "event", "postgresql_storage": "ssd",
             "postgresql_version": 15, "redis_persistence": False, "postgresql_pooler": "none"}  # PostgreSQL 15: Debian 12's
OVERRIDE_VARS = INT_VARS + tuple(_CHOICE_VARS) + _BOOL_VARS + (
    "rabbitmq_vm_memory_high_watermark", "rabbitmq_disk_free_limit", "postgresql_settings")
SIZE_VARS = ("django_deploy_host_memory_mb", "django_deploy_host_cpus")
MEMCACHED_POOL_SIZE = 4  # pymemcache max_pool_size in Django's documented OPTIONS (sizing-sources 6)


def _overrides(host: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Validated overrides with defaults filled in; errors name the host and the variable."""
    if not isinstance(given, Mapping):
        raise TypeError(f"host {host}: overrides must be a mapping, got {type(given).__name__}")
    values = dict(_DEFAULTS)
    for name, value in given.items():
        if name not in OVERRIDE_VARS:
            continue
        label = f"host {host}: {name}"
        if name in INT_VARS:
            value = check_int(label, tuning.coerce_int(label, value), 10 if name == "postgresql_version" else 1)
        elif name in _CHOICE_VARS:
            check_choice(label, value, _CHOICE_VARS[name])
        elif name in _BOOL_VARS and not isinstance(value, bool):
            raise TypeError(f"{label} must be true or false, got {type(value).__name__} {value!r}")
        elif name == "postgresql_settings" and not isinstance(value, Mapping):
            raise TypeError(f"{label} must be a mapping of PostgreSQL settings, got {type(value).__name__}")
        values[name] = value
    return values


# Django's cache and Celery's broker: which service of the stack each one uses.
CACHES = ("memcached", "redis", "local")
BROKERS = ("rabbitmq", "redis")


def app_services(hvars: Mapping[str, Any], groups: Mapping[str, Iterable[str]]) -> dict[str, str | None]:
    """The services Django's cache and Celery's broker use (hvars: the app's variables, the first
    web server's): django_app_cache and django_app_celery_broker, or what the groups offer -
    memcached before Redis for the cache, RabbitMQ before Redis for the broker (None: no broker)."""
    has = {name: bool(list(groups.get(name) or ())) for name in ("memcached", "redis", "rabbitmq")}
    cache = hvars.get("django_app_cache") or ("memcached" if has["memcached"] else "redis" if has["redis"] else "local")
    broker = hvars.get("django_app_celery_broker") or (
        "rabbitmq" if has["rabbitmq"] else "redis" if has["redis"] else None)
    return {"cache": str(cache), "celery_broker": str(broker) if broker else None}


def hosts_from_inventory(hostvars: Mapping[str, Mapping[str, Any]],
                         groups: Mapping[str, Iterable[str]]) -> dict[str, dict[str, Any]]:
    """cluster_plan's input from Ansible's hostvars and groups: only hosts in our groups.

    Size: django_deploy_host_memory_mb / django_deploy_host_cpus when set (containers see the
    whole machine's RAM), else the gathered facts memtotal_mb / processor_vcpus. Redis persists
    (redis_persistence) when it is Celery's broker, unless set.
    """
    webservers = list(groups.get("webservers") or ())
    app_vars = hostvars[webservers[0]] if webservers and webservers[0] in hostvars else {}
    redis_broker = app_services(app_vars, groups)["celery_broker"] == "redis"
    member_of: dict[str, list[str]] = {}
    for group in sorted(tuning.GROUP_SERVICES):
        for host in groups.get(group) or ():
            member_of.setdefault(host, []).append(group)
    hosts = {}
    for host in sorted(member_of):
        hvars = hostvars[host]
        facts = hvars["ansible_facts"] if "ansible_facts" in hvars else {}
        size = {}
        for var, fact, key in zip(SIZE_VARS, ("memtotal_mb", "processor_vcpus"), ("memory_mb", "cpus")):
            value = hvars[var] if var in hvars else facts.get(fact)
            if value is None:
                raise ValueError(
                    f"host {host}: its RAM and CPU count are unknown; gather its facts "
                    f"(ansible.builtin.setup) or set django_deploy_host_memory_mb and "
                    f"django_deploy_host_cpus for it in the inventory")
            size[key] = tuning.coerce_int(f"host {host}: {var if var in hvars else fact}", value)
        overrides = {var: hvars[var] for var in OVERRIDE_VARS if var in hvars}
        if "redis" in member_of[host]:
            overrides.setdefault("redis_persistence", redis_broker)
        hosts[host] = {**size, "groups": member_of[host], "overrides": overrides}
        disk = data_disk_mb(facts.get("mounts"), POSTGRESQL_DATA_ROOT)
        if disk is not None:
            hosts[host]["disk_mb"] = disk
    return hosts


POSTGRESQL_DATA_ROOT = "/var/lib/postgresql"


def data_disk_mb(mounts: Any, path: str) -> int | None:
    """Free MB of the filesystem holding path, from the gathered 'mounts' fact (None: unknown)."""
    best = None
    for mount in mounts or ():
        if not isinstance(mount, Mapping):
            continue
        point = str(mount.get("mount") or "")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and mount.get("size_available") is not None and (best is None or len(point) > len(best[0])):
            best = (point, mount["size_available"])
    if best is None:
        return None
    try:
        return max(1, int(best[1]) // (1024 * 1024))
    except (TypeError, ValueError):
        return None


def _with_host(host: str, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a sizing function; prefix any error with the host it was computing for."""
    try:
        return func(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"host {host}: {exc}") from exc


def _host_entry(host: str, spec: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """First pass: what a host needs only its own size for. Returns (entry, overrides)."""
    if not isinstance(spec, Mapping):
        raise TypeError(f"host {host}: expected a mapping with memory_mb, cpus, groups, overrides")
    memory = check_int(f"host {host}: memory_mb", spec.get("memory_mb"), tuning.MIN_HOST_MEMORY_MB)
    cpus = check_int(f"host {host}: cpus", spec.get("cpus"))
    ov = _overrides(host, spec.get("overrides") or {})
    services = _with_host(host, tuning.host_services, spec.get("groups") or [], ov["django_app_server"])
    budget = _with_host(host, tuning.host_budget, memory, services)
    entry: dict[str, Any] = {"services": services, "memory_mb": memory, "cpus": cpus, "budget_mb": budget}
    if spec.get("disk_mb") is not None:
        # Free MB of the filesystem holding PostgreSQL's data: WAL sizes must fit in it.
        entry["disk_mb"] = check_int(f"host {host}: disk_mb", spec["disk_mb"])
    if "gunicorn" in services:
        entry["gunicorn"] = _with_host(
            host, tuning.gunicorn_workers, budget["gunicorn"], cpus,
            worker_memory_mb=ov.get("gunicorn_worker_memory_mb", tuning.GUNICORN_WORKER_MEMORY_MB),
            workers=ov.get("gunicorn_workers"), threads=ov.get("gunicorn_threads"))
    if "mod_wsgi" in services:
        daemon = _with_host(host, tuning.mod_wsgi_daemon, budget["mod_wsgi"], cpus,
                            processes=ov.get("mod_wsgi_processes"), threads=ov.get("mod_wsgi_threads"))
        entry["mod_wsgi"] = daemon
        # Apache's children get what the daemon processes leave of the share.
        children_mb = max(1, budget["mod_wsgi"] - daemon["processes"] * daemon["process_memory_mb"])
        entry["apache_mpm"] = _with_host(host, tuning.apache_mpm, ov["mod_wsgi_mpm"], daemon["processes"],
                                         daemon["threads"], memory_mb=children_mb)
    if "nginx" in services:
        entry["nginx"] = _with_host(host, tuning.nginx_workers, budget["nginx"], cpus,
                                    worker_processes=ov.get("nginx_worker_processes"),
                                    worker_connections=ov.get("nginx_worker_connections"))
    if "celery_worker" in services:
        concurrency = ov.get("celery_concurrency") or _with_host(
            host, tuning.celery_concurrency, budget["celery_worker"], cpus)
        entry["celery"] = {"concurrency": concurrency}
    return entry, ov


def _app_concurrency(entry: Mapping[str, Any]) -> tuple[int, int]:
    """(requests at once, memcached client connections) of one web host's app server."""
    for key, procs in (("gunicorn", "workers"), ("mod_wsgi", "processes")):
        if key in entry:
            app = entry[key]
            return app["concurrency"], app[procs] * min(app["threads"], MEMCACHED_POOL_SIZE)
    return 0, 0


def cluster_plan(hosts: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The plan for {host: {'memory_mb', 'cpus', 'groups', 'overrides'}} (see module docstring)."""
    if not isinstance(hosts, Mapping):
        raise TypeError(f"hosts must be a mapping of host name to size and groups, got {type(hosts).__name__}")
    entries: dict[str, dict[str, Any]] = {}
    overrides: dict[str, dict[str, Any]] = {}
    for host in sorted(hosts):
        entries[host], overrides[host] = _host_entry(host, hosts[host])
    for group, service in (("db_primary", None), ("celery_beat", "celery_beat")):
        members = [h for h in entries if group in (hosts[h].get("groups") or [])]
        if len(members) > 1:
            raise ValueError(f"{group} has {len(members)} hosts ({', '.join(members)}); it takes exactly one")
    web = {h: _app_concurrency(e) for h, e in entries.items() if "nginx" in e["services"]}
    web_concurrency = sum(conc for conc, _conns in web.values())
    celery = sum(e["celery"]["concurrency"] for e in entries.values() if "celery" in e)
    beat = sum(1 for e in entries.values() if "celery_beat" in e["services"])
    cache_clients = sum(conns for _conc, conns in web.values()) + celery + beat
    servers = {h: conc for h, (conc, _conns) in web.items() if conc}
    for host, entry in entries.items():
        ov, budget, services = overrides[host], entry["budget_mb"], entry["services"]
        if "memcached" in services:
            cache = _with_host(host, tuning.memcached_settings, budget["memcached"], entry["cpus"],
                               client_connections=cache_clients, dedicated=services == ["memcached"])
            for key in ("memory_mb", "max_connections", "threads"):
                cache[key] = ov.get(f"memcached_{key}", cache[key])
            entry["memcached"] = cache
        if "redis" in services:
            redis = _with_host(host, tuning.redis_settings, budget["redis"], persistent=ov["redis_persistence"])
            redis["maxmemory_mb"] = ov.get("redis_maxmemory_mb", redis["maxmemory_mb"])
            redis["maxmemory_policy"] = ov.get("redis_maxmemory_policy", redis["maxmemory_policy"])
            entry["redis"] = redis
        if "haproxy" in services:
            entry["haproxy"] = _with_host(host, tuning.haproxy_maxconn, budget["haproxy"], servers,
                                          maxconn=ov.get("haproxy_maxconn"))
        if "rabbitmq" in services:
            entry["rabbitmq"] = _with_host(
                host, tuning.rabbitmq_memory, budget["rabbitmq"], total_memory_mb=entry["memory_mb"],
                dedicated=services == ["rabbitmq"], watermark=ov.get("rabbitmq_vm_memory_high_watermark"),
                disk_free_limit=ov.get("rabbitmq_disk_free_limit"))
    needed = pg_connections_needed(web_concurrency, celery, beat)
    max_connections = _plan_postgresql(entries, overrides, web_concurrency, celery, beat)
    totals = {
        "web_concurrency": web_concurrency,
        "celery_concurrency": celery,
        "celery_beat": beat,
        "db_connections_needed": needed,
        "max_connections": max_connections,
        "db_superuser_reserved": PG_SUPERUSER_RESERVED,
        "db_connections_ok": max_connections is None or needed <= max_connections - PG_SUPERUSER_RESERVED,
        "memcached_client_connections": cache_clients,
    }
    # The pooler is the stack's (the primary's postgresql_pooler, as the stack model reads it).
    primary = [h for h in entries if "db_primary" in (hosts[h].get("groups") or [])]
    if primary and overrides[primary[0]]["postgresql_pooler"] == "pgbouncer":
        totals.update(_plan_pooler(entries, needed) or {})
    return {"hosts": entries, "totals": totals}


def _plan_postgresql(entries: dict[str, dict[str, Any]], overrides: dict[str, dict[str, Any]],
                     web_concurrency: int, celery: int, beat: int) -> int | None:
    """pg_tune on each database host's memory, merged with the cluster-wide settings and the
    user's postgresql_settings; returns the smallest max_connections in force (None: no DB)."""
    db_hosts = [h for h, e in entries.items() if "postgresql" in e["services"]]
    if not db_hosts:
        return None
    versions = {overrides[h]["postgresql_version"] for h in db_hosts}
    if len(versions) > 1:
        raise ValueError(f"postgresql_version differs across the database hosts ({sorted(versions)}); "
                         "streaming replication needs one major version")
    wanted = [overrides[h]["postgresql_max_connections"] for h in db_hosts
              if "postgresql_max_connections" in overrides[h]]
    cluster = pg_cluster_settings([entries[h]["cpus"] for h in db_hosts], web_concurrency, celery, beat,
                                  max_connections=max(wanted) if wanted else None)
    pg_memory = {h: tuning.pg_memory_mb(entries[h]["memory_mb"], entries[h]["budget_mb"]) for h in db_hosts}
    disks = {h: entries[h].get("disk_mb") for h in db_hosts}
    # WAL a standby or a dead slot may keep: one bound for every node, the smallest host's.
    cluster.update(tuning.pg_wal_keep_sizes([pg_memory[h] for h in db_hosts], [disks[h] for h in db_hosts]))
    in_force = []
    for host in db_hosts:
        entry, ov = entries[host], overrides[host]
        # PGTune models a whole machine (its effective_cache_size is the OS page cache), so a
        # dedicated host passes its whole RAM; a shared host passes PostgreSQL's share, as Zulip
        # ran pgtune with half the RAM (sizing-sources 1.3).
        settings = _with_host(host, tuning.pg_tune, pg_memory[host], entry["cpus"],
                              max_connections=int(cluster["max_connections"]),
                              pg_version=ov["postgresql_version"], storage=ov["postgresql_storage"],
                              disk_mb=disks[host])
        settings.update(cluster)
        settings.update(ov.get("postgresql_settings") or {})
        entry["postgresql"] = settings
        value = str(settings.get("max_connections", ""))
        if value.isdigit():
            in_force.append(int(value))
    return min(in_force) if in_force else None
