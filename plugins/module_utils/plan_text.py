"""The cluster plan for a person: one table per host, every derived number with its reason, then
the cluster totals.

plan_text(plan, labels) renders plan.cluster_plan's output as plain ASCII, at most WIDTH columns.
Each host's table starts with a header line (host, its labels such as "primary" or "replica",
RAM, vCPUs) and its services, then one row per setting: the name the configuration uses, the
value, and why. The reasons come from tuning.py's explain_* functions, which compute them from
the same terms as the sizing functions, and from plan.py's constants for what the whole cluster
decides: no formula is repeated here. A value that differs from what its formula gives was set
in the inventory, and says so with the computed value.

Sizes follow one rule everywhere (tuning.human_size): kB under 1 MB, MB to one decimal under
1 GB, GB to two decimals from 1 GB ("629 MB", "157.3 MB", "1.5 GB"); PostgreSQL's "161024kB" and
RabbitMQ's "629MiB" are shown the same way. Pure Python (no Ansible imports, no I/O); bad input
raises TypeError or ValueError, which the plan_text filter turns into an AnsibleFilterError.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any, Callable, Iterable, Mapping, Tuple

from ansible_collections.django_deploy.stack.plugins.module_utils import plan as cluster
from ansible_collections.django_deploy.stack.plugins.module_utils import tuning
from ansible_collections.django_deploy.stack.plugins.module_utils.tuning import Reasons, human_size

WIDTH = 100
VALUE_WIDTH = 10  # longer values put their reason on the next line
KEY_WIDTH = 40  # longer setting names put their value on the next line

# Host entry keys that are not a service's settings, and the order of the service sections.
HOST_KEYS = ("services", "memory_mb", "cpus", "budget_mb")
SECTIONS = ("gunicorn", "mod_wsgi", "apache_mpm", "nginx", "haproxy", "celery", "memcached", "redis", "rabbitmq",
            "postgresql", "pgbouncer")
# Settings whose plan value is an int of MB.
MB_KEYS = {("gunicorn", "worker_memory_mb"), ("mod_wsgi", "process_memory_mb"), ("memcached", "memory_mb"),
           ("redis", "maxmemory_mb")}
_PG_SIZE = re.compile(r"(\d+)\s*(kB|MB|GB|TB)")
_PG_UNIT_MB = {"kB": 1 / 1024, "MB": 1, "GB": 1024, "TB": 1024 * 1024}
_RABBIT_SIZE_KEYS = ("vm_memory_high_watermark.absolute", "disk_free_limit.absolute")

Row = Tuple[int, str, str, str]  # indent, setting, value, why; a section title: indent 0, no value


def plan_text(plan: Mapping[str, Any], labels: Mapping[str, Any] | None = None) -> str:
    """cluster_plan's output as tables for a person; labels maps a host to its role ("primary")."""
    hosts, totals = _check_plan(plan)
    names = _check_labels(labels)
    blocks = [_host_table(host, hosts[host], names.get(host, ""), hosts, totals) for host in hosts]
    blocks.append(_totals_table(hosts, totals))
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


# --- input ---------------------------------------------------------------------------------------

def _check_plan(plan: Any) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    if not isinstance(plan, Mapping):
        raise TypeError(f"plan must be cluster_plan's result (a mapping), got {type(plan).__name__}")
    hosts, totals = plan.get("hosts"), plan.get("totals")
    if not isinstance(hosts, Mapping) or not isinstance(totals, Mapping):
        raise ValueError("plan must be cluster_plan's result, with 'hosts' and 'totals' mappings")
    for host, entry in hosts.items():
        if not isinstance(entry, Mapping) or any(key not in entry for key in HOST_KEYS):
            raise ValueError(f"host {host}: plan entry needs {', '.join(HOST_KEYS)}")
    return hosts, totals


def _check_labels(labels: Any) -> dict[str, str]:
    """labels as {host: text}; a host may have a list of labels."""
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise TypeError(f"labels must map host names to labels, got {type(labels).__name__}")
    names = {}
    for host, label in labels.items():
        if isinstance(label, (list, tuple)) and all(isinstance(item, str) for item in label):
            label = ", ".join(label)
        if not isinstance(label, str):
            raise TypeError(f"labels[{host}] must be a label or a list of labels, got {type(label).__name__}")
        names[str(host)] = label
    return names


# --- values ----------------------------------------------------------------------------------------

def value_text(section: str, key: str, value: Any) -> str:
    """A plan value as shown: sizes by human_size, booleans on/off, lists comma-separated."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "-"
    if section == "budget_mb" or (section, key) in MB_KEYS:
        if isinstance(value, (int, float)):
            return human_size(value)
    if section == "postgresql" and isinstance(value, str):
        match = _PG_SIZE.fullmatch(value.strip())
        if match:
            return human_size(int(match.group(1)) * _PG_UNIT_MB[match.group(2)])
    if section == "rabbitmq" and key in _RABBIT_SIZE_KEYS:
        try:
            return human_size(tuning.rabbitmq_size_mb(value))
        except ValueError:
            pass
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(section, key, item) for item in value)
    return str(value)


def _same(value: Any, expected: Any) -> bool:
    if isinstance(expected, frozenset):
        return str(value) in expected
    return expected is None or str(value) == str(expected)


def _rows(section: str, settings: Mapping[str, Any], reasons: Reasons, *,
          unknown: str = "", indent: int = 2) -> list[Row]:
    """One row per setting (nested mappings one row per item); why from reasons, or an override."""
    rows = []
    for key, value in settings.items():
        items = value.items() if isinstance(value, Mapping) else ((None, value),)
        for sub, item in items:
            name = key if sub is None else f"{key} {sub}"
            shown = value_text(section, key, item)
            if name not in reasons:
                why = unknown
            else:
                expected, why = reasons[name]
                if not _same(item, expected):
                    why = "set in the inventory" + ("" if shown == str(item) else f" as {item}")
                    if not isinstance(expected, frozenset):
                        why += f"; computed: {value_text(section, key, expected)}"
            rows.append((indent, name, shown, why))
    return rows


# --- hosts -----------------------------------------------------------------------------------------

def _explain(host: str, section: str, func: Callable[..., Reasons], *args: Any, **kwargs: Any) -> Reasons:
    try:
        return func(*args, **kwargs)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"host {host}: {section}: the plan does not add up ({exc})") from exc


def _service_reasons(host: str, section: str, entry: Mapping[str, Any], hosts: Mapping[str, Any],
                     totals: Mapping[str, Any]) -> Reasons:
    budget, cpus, settings = entry["budget_mb"], entry["cpus"], entry[section]
    only = list(entry["services"])
    if section == "gunicorn":
        return _explain(host, section, tuning.explain_gunicorn_workers, settings, budget["gunicorn"], cpus)
    if section == "mod_wsgi":
        return _explain(host, section, tuning.explain_mod_wsgi_daemon, settings, budget["mod_wsgi"], cpus)
    if section == "apache_mpm":
        daemon = entry.get("mod_wsgi") or {}
        return _explain(host, section, tuning.explain_apache_mpm, settings, daemon.get("processes"),
                        daemon.get("threads"))
    if section == "nginx":
        return _explain(host, section, tuning.explain_nginx_workers, settings, budget["nginx"], cpus)
    if section == "haproxy":
        return _explain(host, section, tuning.explain_haproxy_maxconn, settings, budget["haproxy"])
    if section == "celery":
        return _explain(host, section, tuning.explain_celery_concurrency, budget["celery_worker"], cpus)
    if section == "memcached":
        return _explain(host, section, tuning.explain_memcached_settings, budget["memcached"], cpus,
                        totals.get("memcached_client_connections", 0), dedicated=only == ["memcached"])
    if section == "redis":
        # Whether it persists is the plan's own (redis_persistence): the reasons follow it.
        return _explain(host, section, tuning.explain_redis_settings, budget["redis"],
                        persistent=bool(settings["appendonly"]))
    if section == "rabbitmq":
        return _explain(host, section, tuning.explain_rabbitmq_memory, settings, budget["rabbitmq"],
                        entry["memory_mb"], dedicated=only == ["rabbitmq"])
    if section == "postgresql":
        return _explain(host, section, _postgresql_reasons, host, entry, hosts, totals)
    if section == "pgbouncer":
        return _explain(host, section, cluster.explain_pooler_settings, max(1, int(totals.get("db_connections_needed") or 0)),
                        int(entry["postgresql"]["max_connections"]), cpus)
    return {}


def _host_table(host: str, entry: Mapping[str, Any], label: str, hosts: Mapping[str, Any],
                totals: Mapping[str, Any]) -> list[str]:
    services = list(entry["services"])
    title = f"== {host}" + (f" ({label})" if label else "")
    cpus = entry["cpus"]
    title += f": {human_size(entry['memory_mb'])} RAM, {cpus} vCPU{'' if cpus == 1 else 's'} "
    lines = [title + "=" * max(2, WIDTH - len(title))]
    lines += textwrap.wrap("services: " + (", ".join(services) or "none"), WIDTH, subsequent_indent=" " * 10)
    budget = dict(entry["budget_mb"])
    reasons = _explain(host, "budget_mb", tuning.explain_host_budget, entry["memory_mb"], services)
    ordered = {"os_reserve": budget.pop("os_reserve")} if "os_reserve" in budget else {}
    ordered.update(budget)
    rows: list[Row] = [(0, "memory budget", "", "")]
    rows += _rows("budget_mb", ordered, reasons)
    extra = [key for key in entry if key not in HOST_KEYS and key not in SECTIONS]
    for section in [key for key in SECTIONS if key in entry] + extra:
        settings = entry[section]
        heading = f"{section} ({label})" if section == "postgresql" and label else section
        rows.append((0, heading, "", ""))
        if not isinstance(settings, Mapping):
            rows.append((2, section, value_text(section, section, settings), ""))
            continue
        reasons = _service_reasons(host, section, entry, hosts, totals)
        unknown = "set in the inventory (postgresql_settings)" if section == "postgresql" else ""
        rows += _rows(section, settings, reasons, unknown=unknown)
    return lines + _table(rows)


def _db_hosts(hosts: Mapping[str, Any]) -> list[str]:
    return [host for host, entry in hosts.items() if "postgresql" in entry["services"]]


def _postgresql_reasons(host: str, entry: Mapping[str, Any], hosts: Mapping[str, Any],
                        totals: Mapping[str, Any]) -> Reasons:
    """pg_tune's reasons for this host, then the cluster-wide settings' (plan.pg_cluster_settings)."""
    settings = entry["postgresql"]
    memory = tuning.pg_memory_mb(entry["memory_mb"], entry["budget_mb"])
    connections = str(settings.get("max_connections", ""))
    tuned_for = int(connections) if connections.isdigit() else totals.get("max_connections") or 200
    reasons = tuning.explain_pg_tune(memory, entry["cpus"], tuned_for,
                                     dedicated=memory == entry["memory_mb"])
    reasons.update(_cluster_reasons(hosts, totals))
    return reasons


def _cluster_reasons(hosts: Mapping[str, Any], totals: Mapping[str, Any]) -> Reasons:
    """Why the settings every database node shares have their values (plan.py, sizing-sources 8.2, 1.4)."""
    db_hosts = _db_hosts(hosts)
    web, celery, beat = (int(totals.get(key) or 0)
                         for key in ("web_concurrency", "celery_concurrency", "celery_beat"))
    formula = cluster.pg_cluster_settings([hosts[h]["cpus"] for h in db_hosts], web, celery, beat)
    needed = cluster.pg_connections_needed(web, celery, beat)
    standbys = len(db_hosts) - 1
    admin, superuser = cluster.PG_ADMIN_CONNECTIONS, cluster.PG_SUPERUSER_RESERVED
    sum_text = f"{needed} app + {admin} admin + {superuser} superuser"
    if int(formula["max_connections"]) > needed + admin + superuser:
        connections = f"Patroni minimum {cluster.PG_MIN_MAX_CONNECTIONS}; {sum_text} is less"
    else:
        connections = f"{sum_text} connections"
    why = {
        "max_connections": connections,
        "superuser_reserved_connections": "PostgreSQL default, for superusers only",
        "max_worker_processes": "largest DB host vCPUs, at least 8; same on all nodes",
        "max_wal_senders": f"2 per standby ({standbys}) + 2, at least 10",
        "max_replication_slots": "= max_wal_senders: a slot per sender",
        "max_locks_per_transaction": "PostgreSQL default, written so that all nodes agree",
        "max_prepared_transactions": "0: Django does not use two-phase commit",
        "wal_level": "replica: what streaming replication needs",
        "hot_standby": "on: standbys answer read-only queries",
        "wal_log_hints": "on: pg_rewind needs it to re-attach an old primary",
        "wal_keep_size": "fixed: 1/4 of the PGTune web max_wal_size",
        "max_slot_wal_keep_size": "fixed: the PGTune web max_wal_size",
    }
    reasons: Reasons = {key: (formula.get(key), reason) for key, reason in why.items()}
    # The WAL keep sizes follow the smallest database host's max_wal_size bound once plan.py takes
    # them from tuning.pg_wal_keep_sizes; either way, the reason matches the value in the plan.
    memory = [tuning.pg_memory_mb(hosts[h]["memory_mb"], hosts[h]["budget_mb"]) for h in db_hosts]
    for key, (value, reason) in tuning.explain_pg_wal_keep_sizes(memory).items():
        if all(str(hosts[h]["postgresql"].get(key)) == value for h in db_hosts if "postgresql" in hosts[h]):
            reasons[key] = (value, reason)
    return reasons


# --- cluster totals --------------------------------------------------------------------------------

def _sum_of(parts: list[tuple[str, Any]], what: str) -> str:
    if not parts:
        return f"no {what}"
    if len(parts) > 4:
        return f"the sum over {len(parts)} {what}"
    return " + ".join(f"{name} {value}" for name, value in parts)


def _totals_table(hosts: Mapping[str, Any], totals: Mapping[str, Any]) -> list[str]:
    web_parts = [(h, e[app]["concurrency"]) for h, e in hosts.items() for app in ("gunicorn", "mod_wsgi")
                 if app in e and isinstance(e[app], Mapping) and "concurrency" in e[app]]
    celery_parts = [(h, e["celery"]["concurrency"]) for h, e in hosts.items()
                    if isinstance(e.get("celery"), Mapping) and "concurrency" in e["celery"]]
    web, celery, beat = (totals.get(key) for key in ("web_concurrency", "celery_concurrency", "celery_beat"))
    needed, max_connections = totals.get("db_connections_needed"), totals.get("max_connections")
    reserved = totals.get("db_superuser_reserved", cluster.PG_SUPERUSER_RESERVED)
    ok = totals.get("db_connections_ok", True)
    why = {
        "web_concurrency": f"requests at once, workers x threads: {_sum_of(web_parts, 'web hosts')}",
        "celery_concurrency": f"Celery children: {_sum_of(celery_parts, 'Celery worker hosts')}",
        "celery_beat": "the one celery_beat host" if beat else "no celery_beat host",
        "db_connections_needed": f"{web} web + {celery} Celery + {beat} beat: one connection each",
        "db_superuser_reserved": "superuser_reserved_connections: not for the apps",
        "memcached_client_connections": (
            f"{_minus(totals.get('memcached_client_connections'), celery, beat)} from web workers "
            f"(a pool of up to {cluster.MEMCACHED_POOL_SIZE} each) + {celery} Celery + {beat} beat"),
        "pooler_client_connections": "PgBouncer max_client_conn on each database host (postgresql_pooler)",
        "pooler_server_connections": (f"PgBouncer max_db_connections (pool + reserve + auth_user), the most of any "
                                      f"database host; the app holds {needed} connections to it"),
    }
    if max_connections is None:
        why["max_connections"] = "no database host in this plan"
    else:
        db_hosts = _db_hosts(hosts)
        computed = cluster.pg_cluster_settings([hosts[h]["cpus"] for h in db_hosts] or [1], int(web or 0),
                                               int(celery or 0), int(beat or 0))
        formula = int(computed["max_connections"])
        if max_connections == formula:
            why["max_connections"] = (f"{needed} needed + {cluster.PG_ADMIN_CONNECTIONS} admin + {reserved} "
                                      "superuser" if formula > cluster.PG_MIN_MAX_CONNECTIONS
                                      else f"Patroni minimum {cluster.PG_MIN_MAX_CONNECTIONS}")
        else:
            why["max_connections"] = f"set in the inventory; computed: {formula}"
        why["max_connections"] += "; the smallest of the DB hosts" if len(db_hosts) > 1 else ""
    usable = None
    if isinstance(max_connections, int) and isinstance(reserved, int):
        usable = max_connections - reserved
    if usable is None:
        why["db_connections_ok"] = "nothing to check without a database"
    elif ok:
        why["db_connections_ok"] = f"{needed} needed <= {max_connections} - {reserved} superuser = {usable}"
    else:
        why["db_connections_ok"] = (f"TOO LOW: {needed} needed > {max_connections} - {reserved} superuser "
                                    f"= {usable}")
    rows: list[Row] = []
    for key, value in totals.items():
        shown = ("yes" if value else "NO") if key == "db_connections_ok" else value_text("totals", key, value)
        rows.append((0, key, shown, why.get(key, "")))
    lines = ["== cluster totals " + "=" * (WIDTH - 18)] + _table(rows)
    if not ok and usable is not None:
        lines += [""] + textwrap.wrap(
            f"WARNING: PostgreSQL max_connections {max_connections} leaves {usable} connections for the "
            f"apps, which can open {needed}: set postgresql_max_connections to "
            f"{needed + cluster.PG_ADMIN_CONNECTIONS + reserved} or more, or lower the web or Celery "
            "concurrency.", WIDTH, subsequent_indent="         ")
    return lines


def _minus(total: Any, *parts: Any) -> Any:
    if isinstance(total, int) and all(isinstance(part, int) for part in parts):
        return total - sum(parts)
    return total


# --- layout ----------------------------------------------------------------------------------------

def _table(rows: Iterable[Row]) -> list[str]:
    """setting / value / why columns; a row with no value and no reason at indent 0 is a section."""
    rows = list(rows)
    key_width = min(KEY_WIDTH, max([len("setting")] + [indent + len(key) for indent, key, _value, _why in rows]))
    value_width = min(VALUE_WIDTH, max([len("value")] + [len(value) for _indent, _key, value, _why in rows]))
    why_at = key_width + 2 + value_width + 2
    why_width = WIDTH - why_at
    lines = [f"{'setting':<{key_width}}  {'value':<{value_width}}  why",
             f"{'-' * key_width}  {'-' * value_width}  {'-' * why_width}"]
    for indent, key, value, why in rows:
        if indent == 0 and not value and not why:
            lines.append(key)
            continue
        name = " " * indent + key
        reasons = textwrap.wrap(why, why_width) or [""]
        if len(name) > key_width:
            lines.append(name[:WIDTH])
            name = ""
        if len(value) > value_width:
            lines += [f"{name:<{key_width}}  {part}" for part in
                      textwrap.wrap(value, WIDTH - key_width - 2, break_long_words=True)]
            lines += [" " * why_at + part for part in reasons if part]
            continue
        lines.append(f"{name:<{key_width}}  {value:<{value_width}}  {reasons[0]}".rstrip())
        lines += [" " * why_at + part for part in reasons[1:]]
    return lines
