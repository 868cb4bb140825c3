"""The stack model: what runs where, who talks to whom on which port, the app's layout, the
secrets each host needs, the platform of each host and the sizing - computed once per run.

Pure Python over plain mappings (no Ansible imports, no I/O). The filter
django_deploy.stack.stack_model hands it the inventory (each host's variables and facts, the
groups) and every playbook sets the result as the fact ``django_deploy_stack`` in its first
play; roles and templates only read it. Shape of the result:

- ``topology``: the hosts of each part of the stack (``db_primary``, ``db_replicas``,
  ``db_hosts``, ``app_hosts``, ``webservers``, ...), in inventory order;
- ``hosts``: per host its ``address``, ``groups``, ``services``, ``platform`` (Debian release,
  PostgreSQL version and paths), ``secrets`` (the variables it needs), ``clients`` (per
  service it serves, the hosts allowed to connect: pg_hba, bind addresses) and ``firewall``
  (whether it is on and the ports open to whom, from the flows);
- ``endpoints``: per service, the servers' host, address and port, from each role's public
  port variable on that server;
- ``flows``: every connection the stack makes: client host, server host, port, protocol,
  service and purpose;
- ``tls``: HTTPS on the load balancers (``tls_mode``): the mode, the domains, HSTS, the files
  given or the ACME account, server and challenge port;
- ``backup``: pgBackRest (group ``db_backup``): whether it is on, the repository host, the
  stanza, the database hosts it backs up and the WAL archive command they run;
- ``app``: the application's name, account, paths, units, database and broker accounts;
- ``sizing``: plan.cluster_plan (memory budget and settings per host, cluster totals).

Bad input raises StackError with one line per problem, each naming the variable or the group
as the user wrote it; nothing is half-computed.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Iterable, Mapping

from ansible_collections.django_deploy.stack.plugins.module_utils import plan, tuning

# Inventory groups (README.md, "Inventory groups"), in the order they are described there.
GROUPS = ("loadbalancers", "webservers", "db_primary", "db_replicas", "memcached", "rabbitmq",
          "celery_workers", "celery_beat", "redis", "db_backup")
APP_GROUPS = ("webservers", "celery_workers", "celery_beat")

# Public variables more than one role reads, with their defaults: the one place these defaults
# live. Each role documents its own in meta/argument_specs.yml (a unit test checks they agree)
# and reads the values from the model, never from the raw variable.
PUBLIC_DEFAULTS: dict[str, Any] = {
    "django_app_name": "demo",
    "django_app_server": "gunicorn",
    "django_app_settings_module": "demo.settings",
    "django_app_wsgi_module": "demo.wsgi:application",
    "django_app_celery_app": "demo",
    "django_app_health_path": "/healthz",
    "django_app_media_url": "/media/",
    "django_app_media_storage": "local",
    "postgresql_port": 5432,
    "postgresql_cluster": "main",
    "postgresql_replication_user": "replicator",
    # Connections between hosts to PostgreSQL (the app's, replication) over TLS, verified.
    "postgresql_tls": True,
    "memcached_port": 11211,
    "redis_port": 6379,
    "redis_implementation": "redis",
    "rabbitmq_amqp_port": 5672,
    "mod_wsgi_listen_port": 8081,
    "haproxy_http_port": 80,
    "haproxy_https_port": 443,
    "tls_mode": "off",
    "tls_certificate_file": "",
    "tls_private_key_file": "",
    "acme_email": "",
    "acme_ca_file": "",
    "acme_directory_url": "https://acme-v02.api.letsencrypt.org/directory",
    "tls_hsts_seconds": 63072000,
    "tls_hsts_include_subdomains": True,
    "tls_hsts_preload": True,
    "firewall_enabled": True,
    "firewall_ssh_sources": ["0.0.0.0/0", "::/0"],
    "pgbackrest_archive_timeout": 300,
}
# Defaults that follow another value (None here): documented in the roles' argument specs.
#   django_app_static_root      <home>/static
#   django_app_media_root       <home>/media
#   common_app_user / _group    django_app_name / common_app_user
#   common_app_home             /srv/<django_app_name>
#   postgresql_app_database     django_app_name   (and postgresql_app_user)
#   rabbitmq_app_user           django_app_name   (and rabbitmq_app_vhost)
#   postgresql_version          the Debian release's (PLATFORMS)
#   nginx_listen_port           80, or 8080 on a host that is also a load balancer
#   django_app_cache            memcached with memcached hosts, else redis with redis hosts, else local
#   django_app_celery_broker    rabbitmq with rabbitmq hosts, else redis with redis hosts
#   tls_domains                 the domain names of django_app_allowed_hosts
DERIVED = ("tls_domains", "django_app_static_root", "django_app_media_root", "common_app_user", "common_app_group", "common_app_home",
           "postgresql_app_database", "postgresql_app_user", "rabbitmq_app_user", "rabbitmq_app_vhost",
           "postgresql_version", "nginx_listen_port", "django_app_cache", "django_app_celery_broker")

PORT_VARS = ("postgresql_port", "memcached_port", "redis_port", "rabbitmq_amqp_port", "mod_wsgi_listen_port",
             "haproxy_http_port", "haproxy_https_port", "nginx_listen_port")
# The connection pooler (postgresql_pooler; its block: "The connection pooler" below).
PUBLIC_DEFAULTS.update({"postgresql_pooler": "none", "pgbouncer_port": 6432})
PORT_VARS += ("pgbouncer_port",)
NGINX_PORT_BEHIND_HAPROXY = 8080
# RabbitMQ's own derivations (rabbitmq.com/docs/networking): Erlang distribution on the AMQP
# port + 20000, the CLI tools' range 10000 above that, epmd on 4369.
RABBITMQ_DIST_OFFSET = 20000
RABBITMQ_CLI_OFFSET = 10000
RABBITMQ_CLI_PORTS = 11
EPMD_PORT = 4369

# Debian releases: what differs between them, in one place. glibc gives the manylinux platform of
# the wheels that run there (Ansible gathers no glibc fact).
PLATFORMS: dict[str, dict[str, Any]] = {
    "12": {"codename": "bookworm", "postgresql_version": 15, "python": "3.11", "glibc": "2.36",
           "redis_implementations": ("redis",)},
    "13": {"codename": "trixie", "postgresql_version": 17, "python": "3.13", "glibc": "2.41",
           "redis_implementations": ("redis", "valkey")},
}
DEFAULT_PLATFORM = "12"

# Where uploads (MEDIA_ROOT) live: a directory of the web host (one web host only), shared storage
# the user mounts at that path on every app host, or the project's own storage backend (then the
# stack sets no MEDIA_ROOT and nginx serves no media).
MEDIA_STORAGES = ("local", "shared", "project")

# HTTPS (tls_mode): terminated by HAProxy. `off` also as YAML 1.1 reads an unquoted off (false).
TLS_MODES = ("off", "files", "acme")
# ACME (tls_mode acme): certbot answers HTTP-01 on the first load balancer, on this port of its
# private address, only while it obtains or renews the certificate; every load balancer forwards
# /.well-known/acme-challenge/ there, so a challenge reaching any of them is answered.
ACME_CHALLENGE_PORT = 8402
ACME_CHALLENGE_PATH = "/.well-known/acme-challenge/"
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Redis (group redis) as Debian packages it: redis-server, or Valkey (its fork) on Debian 13.
REDIS_IMPLEMENTATIONS: dict[str, dict[str, str]] = {
    name: {"implementation": name, "package": f"{name}-server", "service": f"{name}-server",
           "config": f"/etc/{name}/{name}.conf", "cli": f"{name}-cli", "user": name,
           "data_dir": f"/var/lib/{name}"}
    for name in ("redis", "valkey")
}
# The Redis databases of the app's uses: one server, three keyspaces that never meet.
REDIS_DATABASES = {"cache": 0, "broker": 1, "results": 2}

# Backups (group db_backup): Debian's pgBackRest, its repository on the db_backup host under the
# account below, reached over SSH both ways (the repository host runs backups on the database
# hosts; their archive_command pushes WAL to it). One stanza per stack, named after the app.
PGBACKREST = {"user": "pgbackrest", "repo_path": "/var/lib/pgbackrest", "config": "/etc/pgbackrest/pgbackrest.conf",
              "spool_path": "/var/spool/pgbackrest", "bin": "/usr/bin/pgbackrest"}
PGBACKREST_CIPHER_MIN = 20

_SLUG = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_PG_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_WSGI = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(:[A-Za-z_][A-Za-z0-9_]*)?$")


class StackError(ValueError):
    """The inventory does not describe a stack that can be deployed; one line per problem."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# ---------------------------------------------------------------------------------------------
# Variables: what each public variable must be. A rule is (kind, detail); checked on every host
# that sets the variable, before anything else is computed.
def _describe(value: Any) -> str:
    """A value as a user wrote it (no Python type names)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "empty"
    return str(value)


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return tuning.coerce_int("value", value)
    except (TypeError, ValueError):
        return None


def _check_int(value: Any, low: int, high: int | None = None) -> str | None:
    number = _whole(value)
    bound = f"from {low} to {high}" if high is not None else f"of {low} or more"
    if number is None or number < low or (high is not None and number > high):
        return f"must be a whole number {bound}"
    return None


def _check_match(pattern: re.Pattern[str], what: str):
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or not pattern.match(value):
            return f"must be {what}"
        return None
    return check


def _check_choice(choices: Iterable[str]):
    choices = tuple(choices)

    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"
    return check


def _check_port(value: Any) -> str | None:
    return _check_int(value, 1, 65535)


def _check_count(value: Any) -> str | None:
    return _check_int(value, 1)


def _check_host_list(value: Any) -> str | None:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        return "must be a list of host names"
    if not all(isinstance(item, str) and item for item in value):
        return "must be a list of host names (text)"
    return None


def _check_path(value: Any) -> str | None:
    if not isinstance(value, str) or not value.startswith("/") or "//" in value or ".." in value.split("/"):
        return "must be an absolute path"
    return None


# Booleans as `-e name=value` hands them over (text), beside YAML's own.
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _bool(value: Any) -> bool | None:
    """The boolean a value stands for, or None when it stands for none."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _check_bool(value: Any) -> str | None:
    return None if _bool(value) is not None else "must be true or false"


def _check_networks(value: Any) -> str | None:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        return "must be a non-empty list of addresses or networks, such as 203.0.113.0/24"
    for item in value:
        try:
            ipaddress.ip_network(str(item), strict=False)
        except ValueError:
            return f"must be a list of addresses or networks: {_describe(item)} is neither"
    return None


def _check_text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a path on the controller"


def _check_domains(value: Any) -> str | None:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        return "must be a non-empty list of domain names"
    for item in value:
        if not isinstance(item, str) or not _DOMAIN.match(item):
            return (f"must be a list of domain names (lowercase, no IP address, no wildcard): "
                    f"{_describe(item)} is not one")
    return None


def _tls_mode(value: Any) -> str:
    """tls_mode as written; YAML reads an unquoted `off` as false."""
    return "off" if value is False else str(value)


def _check_mapping(value: Any) -> str | None:
    return None if isinstance(value, Mapping) else "must be a mapping of setting names to values"


def _check_rabbit_limit(value: Any) -> str | None:
    try:
        tuning._rabbit_bytes("value", value)  # pylint: disable=protected-access
    except (TypeError, ValueError):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1:
            return None
        return "must be a fraction below 1 or a size such as 512MB"
    return None


RULES: dict[str, Any] = {
    "django_app_name": _check_match(_SLUG, "a lowercase slug: a letter, then letters, digits or _ (at most 31)"),
    "django_app_server": _check_choice(tuning.APP_SERVERS),
    "django_app_settings_module": _check_match(_DOTTED, "a dotted Python module path, such as mysite.settings"),
    "django_app_wsgi_module": _check_match(_WSGI, "module:callable, such as mysite.wsgi:application"),
    "django_app_celery_app": lambda v: None if v in ("", None) else _check_match(_DOTTED, "a dotted module path, or empty for no Celery")(v),
    "django_app_allowed_hosts": _check_host_list,
    "django_app_health_path": _check_match(re.compile(r"^/[^\s?#]*$"), "a URL path starting with /"),
    "django_app_static_root": _check_path,
    "django_app_media_root": _check_path,
    "django_app_media_url": _check_match(re.compile(r"^/[^\s?#]*/$"), "a URL path starting and ending with /, such as /media/"),
    "django_app_media_storage": _check_choice(MEDIA_STORAGES),
    "django_app_cache": _check_choice(plan.CACHES),
    "django_app_celery_broker": _check_choice(plan.BROKERS),
    "redis_implementation": _check_choice(REDIS_IMPLEMENTATIONS),
    "redis_persistence": lambda v: None if isinstance(v, bool) else "must be true or false",
    "redis_maxmemory_policy": _check_choice(tuning.REDIS_POLICIES),
    "common_app_user": _check_match(_SLUG, "a lowercase user name"),
    "common_app_group": _check_match(_SLUG, "a lowercase group name"),
    "common_app_home": _check_path,
    "postgresql_app_database": _check_match(_PG_NAME, "a lowercase PostgreSQL name"),
    "postgresql_app_user": _check_match(_PG_NAME, "a lowercase PostgreSQL name"),
    "postgresql_replication_user": _check_match(_PG_NAME, "a lowercase PostgreSQL name"),
    "postgresql_cluster": _check_match(_SLUG, "a cluster name such as main"),
    "postgresql_version": lambda v: _check_int(v, 10, 99),
    "postgresql_storage": _check_choice(tuning.STORAGE_TYPES),
    "postgresql_settings": _check_mapping,
    "postgresql_max_connections": lambda v: _check_int(v, plan.PG_SUPERUSER_RESERVED + 1),
    "postgresql_tls": _check_bool,
    "rabbitmq_app_user": _check_match(re.compile(r"^[A-Za-z0-9_.-]{1,64}$"), "a RabbitMQ user name"),
    "rabbitmq_app_vhost": _check_match(re.compile(r"^[A-Za-z0-9_./-]{1,64}$"), "a RabbitMQ vhost name"),
    "rabbitmq_vm_memory_high_watermark": _check_rabbit_limit,
    "rabbitmq_disk_free_limit": _check_rabbit_limit,
    "mod_wsgi_mpm": _check_choice(tuning.APACHE_MPMS),
    "firewall_enabled": _check_bool,
    "firewall_ssh_sources": _check_networks,
    "tls_mode": lambda v: None if _tls_mode(v) in TLS_MODES else f"must be one of {', '.join(TLS_MODES)}",
    "tls_certificate_file": lambda v: None if v in ("", None) else _check_text(v),
    "tls_private_key_file": lambda v: None if v in ("", None) else _check_text(v),
    "acme_ca_file": lambda v: None if v in ("", None) else _check_text(v),
    "acme_email": lambda v: None if v in ("", None) else _check_match(_EMAIL, "an e-mail address")(v),
    "acme_directory_url": _check_match(re.compile(r"^https://[^\s/]+(/\S*)?$"), "an https:// URL"),
    "tls_domains": _check_domains,
    "tls_hsts_seconds": lambda v: _check_int(v, 0),
    "tls_hsts_include_subdomains": _check_bool,
    "tls_hsts_preload": _check_bool,
    # The SSH port the firewall keeps open (Ansible's own variable).
    "ansible_port": _check_port,
    "django_deploy_host_memory_mb": lambda v: _check_int(v, tuning.MIN_HOST_MEMORY_MB),
    "django_deploy_host_cpus": _check_count,
    # Seconds the longest commands may run (bounded_command) before the task fails naming them.
    "django_app_migrate_timeout": lambda v: _check_int(v, 1),
    "postgresql_seed_timeout": lambda v: _check_int(v, 1),
    "pgbackrest_backup_timeout": lambda v: _check_int(v, 60),
    "pgbackrest_process_max": lambda v: _check_int(v, 1, 64),
    "pgbackrest_retention_full": lambda v: _check_int(v, 1, 9999999),
    "pgbackrest_retention_diff": lambda v: _check_int(v, 1, 9999999),
    "pgbackrest_archive_timeout": lambda v: _check_int(v, 0, 86400),
    "pgbackrest_archive_queue_max": _check_match(re.compile(r"^[1-9][0-9]*(KiB|MiB|GiB|TiB)?$"),
                                                 "a size pgBackRest reads, such as 4GiB"),
    "pgbackrest_full_schedule": _check_text,
    "pgbackrest_diff_schedule": _check_text,
    **{name: _check_port for name in PORT_VARS},
    **{name: _check_count for name in plan.INT_VARS if name != "postgresql_version"},
    "postgresql_pooler": _check_choice(plan.POOLERS),
}


def check_variables(hosts: Mapping[str, Mapping[str, Any]],
                    origins: Mapping[str, Mapping[str, str]] | None = None) -> list[str]:
    """One line per bad value: the variable as written, the value, where it was set, the rule.

    A value set once for many hosts (group_vars, -e) is reported once, with the hosts it broke.
    """
    origins = origins or {}
    found: dict[tuple[str, str, str], list[str]] = {}
    for host in hosts:
        hvars = hosts[host]
        for name, rule in RULES.items():
            if name not in hvars:
                continue
            problem = rule(hvars[name])
            if problem:
                where = (origins.get(host) or {}).get(name, "")
                found.setdefault((name, _describe(hvars[name]), where), []).append(host)
    lines = []
    for (name, value, where), where_hosts in found.items():
        place = f" (set in {where})" if where else ""
        rule = RULES[name](hosts[where_hosts[0]][name])
        who = "every host" if len(where_hosts) > 1 and len(where_hosts) == len(hosts) else _hosts_text(where_hosts)
        lines.append(f"{name} = {value}{place}, for {who}: {rule}.")
    return lines


def _hosts_text(hosts: list[str]) -> str:
    return f"host {hosts[0]}" if len(hosts) == 1 else f"hosts {', '.join(hosts)}"


# ---------------------------------------------------------------------------------------------
# Topology.
def topology(groups: Mapping[str, Iterable[str]], primary: str | None = None) -> dict[str, list[str]]:
    """The hosts of each part of the stack, in inventory order. primary: a replica promote.yml
    makes the primary (it then counts as db_primary, and the old primary as no database host)."""
    members = {name: list(dict.fromkeys(groups.get(name) or ())) for name in GROUPS}
    if primary:
        members["db_primary"] = [primary]
        members["db_replicas"] = [h for h in members["db_replicas"] if h != primary]
    return {
        **members,
        "db_hosts": list(dict.fromkeys(members["db_primary"] + members["db_replicas"])),
        "app_hosts": list(dict.fromkeys(h for g in APP_GROUPS for h in members[g])),
        "celery_hosts": list(dict.fromkeys(members["celery_workers"] + members["celery_beat"])),
        # Every host the stack runs on (after a promotion, the old primary is none of them).
        "all": list(dict.fromkeys(h for g in GROUPS for h in members[g])),
    }


def check_topology(groups: Mapping[str, Iterable[str]], celery: bool = True,
                   hvars: Mapping[str, Any] | None = None) -> list[str]:
    """One line per broken rule: the rule, the group and its hosts, what to change (hvars: the
    app's variables, which choose the cache and the broker)."""
    members = {name: list(dict.fromkeys(groups.get(name) or ())) for name in GROUPS}
    hvars = hvars or {}
    uses = plan.app_services(hvars, groups)

    def listed(name: str) -> str:
        return ", ".join(members[name]) or "no host"

    problems = []
    if not members["webservers"]:
        problems.append("Rule 'at least one web server': group webservers has no host; add the hosts that run nginx and Django.")
    if len(members["db_primary"]) != 1:
        problems.append(f"Rule 'exactly one database primary': group db_primary has {listed('db_primary')}; "
                        "put exactly one host in it.")
    both = [h for h in members["db_primary"] if h in members["db_replicas"]]
    if both:
        problems.append(f"Rule 'a primary is not a replica': host {', '.join(both)} is in both db_primary and "
                        "db_replicas; take it out of db_replicas.")
    if len(members["db_backup"]) > 1:
        problems.append(f"Rule 'at most one backup repository': group db_backup has {listed('db_backup')}; "
                        "keep one host (pgBackRest keeps one repository per stack here).")
    on_db = [h for h in members["db_backup"] if h in members["db_primary"] + members["db_replicas"]]
    if on_db:
        problems.append(f"Rule 'backups live off the database hosts': host {', '.join(on_db)} is in db_backup and "
                        "in db_primary/db_replicas; a lost database host would take its backups along. Put "
                        "another host in db_backup.")
    if len(members["celery_beat"]) > 1:
        problems.append(f"Rule 'at most one Celery beat': group celery_beat has {listed('celery_beat')}; "
                        "keep one host (two beats send every periodic task twice).")
    celery_hosts = members["celery_workers"] + members["celery_beat"]
    if celery_hosts and uses["celery_broker"] is None:
        problems.append(f"Rule 'Celery needs a broker': groups celery_workers/celery_beat have "
                        f"{', '.join(dict.fromkeys(celery_hosts))} but groups rabbitmq and redis have no host; "
                        "add one to either.")
    for name, group in (("django_app_cache", uses["cache"]), ("django_app_celery_broker", uses["celery_broker"])):
        if hvars.get(name) and group in GROUPS and not members[group]:
            problems.append(f"{name} = {hvars[name]!r} but group {group} has no host; add one, or choose "
                            f"another ({', '.join(plan.CACHES if name == 'django_app_cache' else plan.BROKERS)}).")
    if celery_hosts and not celery:
        problems.append(f"Rule 'Celery hosts need a Celery app': django_app_celery_app is empty but groups "
                        f"celery_workers/celery_beat have {', '.join(dict.fromkeys(celery_hosts))}.")
    return problems


def check_media(hvars: Mapping[str, Any], webservers: list[str]) -> list[str]:
    """Where uploads live (hvars: the first web server's variables, as the layout reads them):
    local media on one web server only, and a directory of their own - not the static root, the
    app's home or a place the releases or /home are (the units' sandbox hides /home)."""
    layout = app_layout(hvars)
    media = layout["media"]
    if not media:
        return []
    if media["storage"] == "local" and len(webservers) > 1:
        return [f"Rule 'local media on one web server': django_app_media_storage is local (the default) but group "
                f"webservers has {', '.join(webservers)}: an upload saved on one would be missing on the others. "
                "Mount shared storage at django_app_media_root on every app host and set django_app_media_storage: "
                "shared, or keep media in the project's storage backend (django-storages, ...) and set "
                "django_app_media_storage: project."]
    root = media["root"].rstrip("/") or "/"
    home = layout["home"].rstrip("/")
    clashes = {layout["static_root"].rstrip("/"): "the static root (django_app_static_root)", home: "the app's home",
               "/": "the root directory"}
    inside = {layout["releases"]: "the releases", layout["current"]: "the current release", "/home": "/home",
              layout["collected"]: "the collected static files"}
    where = clashes.get(root) or next((what for path, what in inside.items()
                                       if root == path or root.startswith(path.rstrip("/") + "/")), None)
    return [f"django_app_media_root = {media['root']!r} is {where}: uploads need a directory of their own, "
            f"such as {home}/media."] if where else []


def inventory_problems(hosts: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Iterable[str]],
                       origins: Mapping[str, Mapping[str, str]] | None = None, primary: str | None = None,
                       secrets: bool = True) -> list[str]:
    """What the inventory alone says is wrong (variables, topology, secrets), without facts:
    checked before any host is contacted."""
    if primary and primary not in (groups.get("db_replicas") or ()):
        return [f"{primary} is not a host of db_replicas: only a replica can become the primary."]
    problems = check_variables(hosts, origins)
    first = next(iter(hosts.values()), {})
    webservers = list(dict.fromkeys(groups.get("webservers") or ()))
    if primary is None:
        # The app's settings as the model's layout reads them: the first web server's.
        app_vars = hosts.get(webservers[0], first) if webservers else first
        problems += check_topology(groups, celery=bool(_value(first, "django_app_celery_app")), hvars=app_vars)
        problems += check_media(app_vars, webservers)
        problems += tls_settings(hosts, groups, app_vars)[1]
    if secrets and not problems:
        problems += missing_secrets(hosts, topology(groups, primary))
    return problems


def _hsts(lb_vars: Mapping[str, Any]) -> dict[str, Any]:
    """HSTS as Django's settings take it and as HAProxy sends it (header: empty for none)."""
    hsts = {"seconds": tuning.coerce_int("tls_hsts_seconds", _value(lb_vars, "tls_hsts_seconds")),
            "include_subdomains": bool(_bool(_value(lb_vars, "tls_hsts_include_subdomains"))),
            "preload": bool(_bool(_value(lb_vars, "tls_hsts_preload")))}
    parts = [f"max-age={hsts['seconds']}"] + ["includeSubDomains"] * hsts["include_subdomains"] + ["preload"] * hsts["preload"]
    hsts["header"] = "; ".join(parts) if hsts["seconds"] > 0 else ""
    return hsts


def tls_settings(hosts: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Iterable[str]],
                 app_vars: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """HTTPS as the load balancers serve it (the first one's variables; tls_domains defaults to
    the app's django_app_allowed_hosts that are domain names), and what is missing for it."""
    lbs = list(dict.fromkeys(groups.get("loadbalancers") or ()))
    lb_vars = (hosts.get(lbs[0]) or {}) if lbs else app_vars
    mode = _tls_mode(_value(lb_vars, "tls_mode"))
    allowed = app_vars.get("django_app_allowed_hosts") or []
    domains = lb_vars.get("tls_domains") or list(dict.fromkeys(
        str(h).lower() for h in allowed if isinstance(h, str) and _DOMAIN.match(h.lower())))
    tls: dict[str, Any] = {
        "mode": mode,
        "enabled": mode in ("files", "acme"),
        "domains": list(domains),
        "hsts": _hsts(lb_vars),
        "files": None,
        "acme": None,
    }
    if not tls["enabled"]:
        return tls, []
    problems = []
    if not lbs:
        problems.append(f"tls_mode = {mode!r} but group loadbalancers has no host: HTTPS is served by HAProxy; add "
                        "a load balancer (it may be one of the web servers) or set tls_mode: 'off'.")
    if mode == "files":
        missing = [name for name in ("tls_certificate_file", "tls_private_key_file") if not lb_vars.get(name)]
        if missing:
            problems.append(f"tls_mode = 'files' needs {' and '.join(missing)}: the certificate (with its chain) and "
                            "its private key, as paths on the controller (the key may be vault-encrypted).")
        tls["files"] = {"certificate": lb_vars.get("tls_certificate_file"), "private_key": lb_vars.get("tls_private_key_file")}
    else:
        if not lb_vars.get("acme_email"):
            problems.append("tls_mode = 'acme' needs acme_email: the address the ACME server sends expiry "
                            "notices to.")
        if not domains:
            problems.append(f"tls_mode = 'acme' needs the site's domain names: set tls_domains, or list them in "
                            f"django_app_allowed_hosts (it has {', '.join(map(str, allowed)) or 'none'}: localhost, "
                            "addresses and wildcards cannot be certified).")
        tls["acme"] = {
            "host": lbs[0] if lbs else None,
            "email": str(lb_vars.get("acme_email") or ""),
            "directory_url": str(_value(lb_vars, "acme_directory_url")),
            "ca_file": str(lb_vars.get("acme_ca_file") or ""),
            "challenge_port": ACME_CHALLENGE_PORT,
            "challenge_path": ACME_CHALLENGE_PATH,
        }
    for lb in lbs:
        lb_host = hosts.get(lb) or {}
        if _whole(_value(lb_host, "haproxy_https_port")) == _whole(_value(lb_host, "haproxy_http_port")):
            problems.append(f"haproxy_https_port = {_value(lb_host, 'haproxy_https_port')} for host {lb}: "
                            "haproxy_http_port already uses that port there.")
    return tls, problems


# ---------------------------------------------------------------------------------------------
# The model.
def _value(hvars: Mapping[str, Any], name: str, default: Any = None) -> Any:
    if name in hvars and hvars[name] is not None:
        return hvars[name]
    return PUBLIC_DEFAULTS.get(name, default)


def _address(host: str, facts: Mapping[str, Any]) -> str | None:
    ipv4 = facts.get("default_ipv4") or {}
    address = ipv4.get("address") if isinstance(ipv4, Mapping) else None
    if address:
        ipaddress.ip_address(address)
    return address or None


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _platform(hvars: Mapping[str, Any], facts: Mapping[str, Any]) -> dict[str, Any]:
    release = str(facts.get("distribution_major_version") or DEFAULT_PLATFORM)
    known = PLATFORMS.get(release, PLATFORMS[DEFAULT_PLATFORM])
    pg_version = tuning.coerce_int("postgresql_version", hvars.get("postgresql_version") or known["postgresql_version"])
    cluster = str(_value(hvars, "postgresql_cluster"))
    return {
        "debian": release,
        "codename": known["codename"],
        "supported": release in PLATFORMS,
        "python": known["python"],
        # uname -m: with the release's Python and glibc, what the app's wheels are built for.
        "machine": str(facts.get("machine") or ""),
        "glibc": known["glibc"],
        # Redis's package, unit, paths and account: the implementation this host runs.
        "redis": REDIS_IMPLEMENTATIONS[str(_value(hvars, "redis_implementation"))],
        "redis_implementations": list(known["redis_implementations"]),
        # The supported releases whose Python is newer: the way out for a requirement too new for these hosts.
        "newer_pythons": {name: other["python"] for name, other in sorted(PLATFORMS.items())
                          if _version_tuple(other["python"]) > _version_tuple(known["python"])},
        "postgresql": {
            "version": pg_version,
            "cluster": cluster,
            "packages": [f"postgresql-{pg_version}", f"postgresql-client-{pg_version}", "python3-psycopg2"],
            "config_dir": f"/etc/postgresql/{pg_version}/{cluster}",
            "data_dir": f"/var/lib/postgresql/{pg_version}/{cluster}",
            "bin_dir": f"/usr/lib/postgresql/{pg_version}/bin",
            "service": f"postgresql@{pg_version}-{cluster}",
        },
    }


def app_layout(hvars: Mapping[str, Any]) -> dict[str, Any]:
    """The application's account, paths and units on every app host (one app per stack)."""
    name = str(_value(hvars, "django_app_name"))
    user = str(hvars.get("common_app_user") or name)
    home = str(hvars.get("common_app_home") or f"/srv/{name}")
    etc = f"/etc/{name}"
    celery_app = _value(hvars, "django_app_celery_app")
    return {
        "name": name,
        "user": user,
        "group": str(hvars.get("common_app_group") or user),
        "home": home,
        "releases": f"{home}/releases",
        "current": f"{home}/current",
        "previous": f"{home}/previous",
        "collected": f"{home}/collected",
        "wheels": f"{home}/wheels",
        "static_root": str(hvars.get("django_app_static_root") or f"{home}/static"),
        # Uploads (django_app_media_storage local or shared): the stack sets MEDIA_ROOT and
        # MEDIA_URL, makes the directory, lets the app's units write it and nginx serve it.
        # None when the project keeps its media itself (storage project).
        "media": None if _value(hvars, "django_app_media_storage") == "project" else {
            "root": str(hvars.get("django_app_media_root") or f"{home}/media"),
            "url": str(_value(hvars, "django_app_media_url")),
            "storage": str(_value(hvars, "django_app_media_storage")),
        },
        "etc": etc,
        "pythonpath": f"{etc}/python",
        "env_file": f"{etc}/environment",
        "settings_file": f"{etc}/python/django_deploy_settings.py",
        "run": f"/usr/local/sbin/{name}-run",
        "manage": f"/usr/local/sbin/{name}-manage",
        "settings_module": str(_value(hvars, "django_app_settings_module")),
        "wsgi_module": str(_value(hvars, "django_app_wsgi_module")),
        "celery_app": str(celery_app or ""),
        "health_path": str(_value(hvars, "django_app_health_path")),
        "gunicorn_unit": f"gunicorn-{name}",
        "gunicorn_socket": f"/run/gunicorn-{name}.sock",
        # Where each gunicorn worker marks itself loaded (the unit's RuntimeDirectory).
        "gunicorn_ready_dir": f"/run/gunicorn-{name}",
        "celery_unit_prefix": f"celery-{name}",
        "celery_beat_unit": f"celery-{name}-beat.service",
        "mod_wsgi_site": f"{name}-wsgi",
    }


def _app_platform_problems(app_hosts: list[str], entries: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The app hosts share one Debian release and machine type: a release's wheels are resolved
    once, for all of them, and a C extension without a wheel is built on one of them."""
    def target(host: str) -> str:
        platform = entries[host]["platform"]
        return f"Debian {platform['debian']} (Python {platform['python']}) on {platform['machine'] or 'an unknown machine'}"
    targets = {host: target(host) for host in app_hosts}
    if len(set(targets.values())) < 2:
        return []
    return ["The app hosts (webservers, celery_workers, celery_beat) run different platforms: "
            + "; ".join(f"{host} {what}" for host, what in targets.items())
            + ". A release's wheels are built once for all of them: run them on one Debian release and machine type."]


def _secrets(host: str, topo: Mapping[str, list[str]], pooler: str = "none") -> list[str]:
    """The secret variables a host needs: what its services read (values never pass here)."""
    needed = []
    is_app = host in topo["app_hosts"]
    if is_app or host in topo["db_primary"]:
        needed.append("postgresql_app_password")
    if is_app:
        needed.append("django_app_secret_key")
    if topo["db_replicas"] and host in topo["db_hosts"]:
        needed.append("postgresql_replication_password")
    if topo["rabbitmq"] and (is_app or host in topo["rabbitmq"]):
        needed.append("rabbitmq_app_password")
    if topo["redis"] and (is_app or host in topo["redis"]):
        needed.append("redis_password")
    if host in topo["db_backup"]:
        needed.append("pgbackrest_cipher_pass")
    return needed + pooler_secrets(host, topo, pooler)


def missing_secrets(hosts: Mapping[str, Mapping[str, Any]], topo: Mapping[str, list[str]]) -> list[str]:
    """One line per secret a host needs and lacks (names only: values are never printed)."""
    lines: dict[str, list[str]] = {}
    pooler = pooler_of(hosts, topo)
    for host in topo["all"]:
        for name in _secrets(host, topo, pooler):
            value = (hosts.get(host) or {}).get(name)
            if value is None or str(value) == "":
                lines.setdefault(name, []).append(host)
    problems = [f"{name} is not set for {_hosts_text(where)}: set it in the inventory, from Ansible Vault."
                for name, where in lines.items()]
    for host in topo["db_backup"]:
        # The repository's encryption key: its length only, never its value.
        value = (hosts.get(host) or {}).get("pgbackrest_cipher_pass")
        if value not in (None, "") and len(str(value)) < PGBACKREST_CIPHER_MIN:
            problems.append(f"pgbackrest_cipher_pass for host {host} is shorter than {PGBACKREST_CIPHER_MIN} "
                            "characters: the repository's encryption is only as strong as it (openssl rand -base64 48).")
    return problems


def _flow(client: str, server: str, port: int, service: str, purpose: str, protocol: str = "tcp") -> dict[str, Any]:
    return {"client": client, "server": server, "port": port, "protocol": protocol,
            "service": service, "purpose": purpose}


def _app_database_flows(topo: Mapping[str, list[str]], ports: Mapping[str, Mapping[str, int]],
                        service: str) -> list[dict[str, Any]]:
    """Every app host to the primary (writes) and each replica (reads) on `service`'s port."""
    return [_flow(app, db, ports[db][service], service, purpose)
            for app in topo["app_hosts"]
            for purpose, group in (("app", "db_primary"), ("app-read", "db_replicas"))
            for db in topo[group]]


def _flows(topo: Mapping[str, list[str]], ports: Mapping[str, Mapping[str, int]],
           app_server: Mapping[str, str], tls: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every connection the stack makes. 'any' is a client outside the inventory."""
    flows = _app_database_flows(topo, ports, "postgresql")
    for app in topo["app_hosts"]:
        for cache in topo["memcached"]:
            flows.append(_flow(app, cache, ports[cache]["memcached"], "memcached", "cache"))
        for mq in topo["rabbitmq"]:
            flows.append(_flow(app, mq, ports[mq]["rabbitmq_amqp"], "rabbitmq", "broker"))
        for kv in topo["redis"]:
            flows.append(_flow(app, kv, ports[kv]["redis"], "redis", "app"))
    # Streaming replication and re-seeding: any database host may become the primary, so every
    # one of them may connect to every other for replication.
    for db in topo["db_hosts"]:
        for other in topo["db_hosts"]:
            if other != db:
                flows.append(_flow(db, other, ports[other]["postgresql"], "postgresql", "replication"))
    # Redis: every other host of the group is a replica of the first.
    for replica in topo["redis"][1:]:
        primary = topo["redis"][0]
        flows.append(_flow(replica, primary, ports[primary]["redis"], "redis", "replication"))
    for node in topo["rabbitmq"]:
        for other in topo["rabbitmq"]:
            if other != node:
                flows.append(_flow(node, other, EPMD_PORT, "epmd", "cluster"))
                flows.append(_flow(node, other, ports[other]["rabbitmq_dist"], "rabbitmq_dist", "cluster"))
    front = topo["loadbalancers"] or topo["webservers"]
    for lb in topo["loadbalancers"]:
        flows.append(_flow("any", lb, ports[lb]["haproxy_http"], "haproxy", "public"))
        if tls["enabled"]:
            flows.append(_flow("any", lb, ports[lb]["haproxy_https"], "haproxy", "public (HTTPS)"))
        if tls["acme"]:
            acme = tls["acme"]["host"]
            flows.append(_flow(lb, acme, ACME_CHALLENGE_PORT, "certbot", "acme http-01"))
            if lb != acme:
                flows.append(_flow(acme, lb, ports[lb]["ssh"], "ssh", "certificate push"))
        for web in topo["webservers"]:
            flows.append(_flow(lb, web, ports[web]["nginx"], "nginx", "proxy+health"))
    if not topo["loadbalancers"]:
        for web in front:
            flows.append(_flow("any", web, ports[web]["nginx"], "nginx", "public"))
    # Backups: the repository host runs pgBackRest on every database host over SSH (any of them
    # may be the primary when a backup starts), and each database host's archive_command pushes
    # WAL to the repository over SSH.
    for repo in topo["db_backup"]:
        for db in topo["db_hosts"]:
            flows.append(_flow(repo, db, ports[db]["ssh"], "ssh", "pgbackrest backup"))
            flows.append(_flow(db, repo, ports[repo]["ssh"], "ssh", "pgbackrest archive"))
    for web in topo["webservers"]:
        if app_server[web] == "mod_wsgi":
            flows.append(_flow(web, web, ports[web]["mod_wsgi"], "mod_wsgi", "upstream"))
        else:
            flows.append(_flow(web, web, 0, "gunicorn", "upstream", protocol="unix"))
    return flows


def _firewall(host: str, hvars: Mapping[str, Any], flows: Iterable[Mapping[str, Any]],
              entries: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The host's input rules (role firewall): SSH from firewall_ssh_sources, and each port the
    flows name on this host, open to the world for a public flow, else to its clients' addresses
    only. Loopback (a host's connections to itself), established traffic and ICMP are allowed
    by the role, everything else is dropped."""
    rules: dict[tuple[int, str], dict[str, Any]] = {}

    def rule(port: int, protocol: str, service: str) -> dict[str, Any]:
        found = rules.setdefault((port, protocol), {"port": port, "protocol": protocol, "services": [],
                                                    "public": False, "sources": []})
        if service not in found["services"]:
            found["services"].append(service)
        return found

    ssh = rule(entries[host]["ports"]["ssh"], "tcp", "ssh")
    ssh["sources"] = [ipaddress.ip_network(str(s), strict=False).with_prefixlen
                      for s in _value(hvars, "firewall_ssh_sources")]
    for flow in flows:
        if flow["server"] != host or flow["protocol"] == "unix" or flow["client"] == host:
            continue
        found = rule(flow["port"], flow["protocol"], flow["service"])
        if flow["client"] == "any":
            found["public"] = True
            continue
        address = entries[flow["client"]]["address"]
        if address is None:  # plan.yml without facts: nothing is applied from it
            continue
        source = ipaddress.ip_network(address).with_prefixlen
        if source not in found["sources"]:
            found["sources"].append(source)
    for found in rules.values():
        networks = [ipaddress.ip_network(s) for s in found["sources"]]
        # Open to every address of both families: the same as public.
        if {str(n) for n in networks if n.prefixlen == 0} >= {"0.0.0.0/0", "::/0"}:
            found["public"] = True
        found["ipv4"] = [] if found["public"] else sorted((str(n) for n in networks if n.version == 4),
                                                          key=ipaddress.ip_network)
        found["ipv6"] = [] if found["public"] else sorted((str(n) for n in networks if n.version == 6),
                                                          key=ipaddress.ip_network)
        del found["sources"]
    # Who may open SSH connections, as networks: what the role checks Ansible's own address against.
    ssh_sources = ["0.0.0.0/0", "::/0"] if ssh["public"] else ssh["ipv4"] + ssh["ipv6"]
    return {"enabled": bool(_bool(_value(hvars, "firewall_enabled"))), "ssh_sources": ssh_sources,
            "rules": sorted(rules.values(), key=lambda r: (r["port"], r["protocol"]))}


def _ports(host: str, hvars: Mapping[str, Any], topo: Mapping[str, list[str]]) -> dict[str, int]:
    nginx_default = NGINX_PORT_BEHIND_HAPROXY if host in topo["loadbalancers"] else 80
    amqp = tuning.coerce_int("rabbitmq_amqp_port", _value(hvars, "rabbitmq_amqp_port"))
    return {
        "postgresql": tuning.coerce_int("postgresql_port", _value(hvars, "postgresql_port")),
        "memcached": tuning.coerce_int("memcached_port", _value(hvars, "memcached_port")),
        "redis": tuning.coerce_int("redis_port", _value(hvars, "redis_port")),
        "rabbitmq_amqp": amqp,
        "rabbitmq_dist": amqp + RABBITMQ_DIST_OFFSET,
        "rabbitmq_cli_first": amqp + RABBITMQ_DIST_OFFSET + RABBITMQ_CLI_OFFSET,
        "mod_wsgi": tuning.coerce_int("mod_wsgi_listen_port", _value(hvars, "mod_wsgi_listen_port")),
        "haproxy_http": tuning.coerce_int("haproxy_http_port", _value(hvars, "haproxy_http_port")),
        "haproxy_https": tuning.coerce_int("haproxy_https_port", _value(hvars, "haproxy_https_port")),
        "nginx": tuning.coerce_int("nginx_listen_port", hvars.get("nginx_listen_port") or nginx_default),
        "pgbouncer": tuning.coerce_int("pgbouncer_port", _value(hvars, "pgbouncer_port")),
        # sshd (Ansible's own variable): the firewall keeps it open, the ACME host pushes certificates to it.
        "ssh": int(_whole(hvars.get("ansible_port")) or 22),
    }


def _port_clashes(host: str, services: list[str], ports: Mapping[str, int]) -> list[str]:
    """Two services of one host on one port: named by their variables."""
    used = {"postgresql": ("postgresql_port", "postgresql"), "memcached": ("memcached_port", "memcached"),
            "redis": ("redis_port", "redis"),
            "rabbitmq": ("rabbitmq_amqp_port", "rabbitmq_amqp"), "mod_wsgi": ("mod_wsgi_listen_port", "mod_wsgi"),
            "haproxy": ("haproxy_http_port", "haproxy_http"), "nginx": ("nginx_listen_port", "nginx"),
            "pgbouncer": ("pgbouncer_port", "pgbouncer")}
    seen: dict[int, str] = {}
    problems = []
    for service in services:
        if service not in used:
            continue
        var, key = used[service]
        if ports[key] in seen:
            problems.append(f"{var} = {ports[key]} for host {host}: {seen[ports[key]]} already uses that port there.")
        seen[ports[key]] = var
    return problems


def stack_model(hosts: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Iterable[str]],
                facts: Mapping[str, Mapping[str, Any]] | None = None,
                origins: Mapping[str, Mapping[str, str]] | None = None,
                primary: str | None = None, require_addresses: bool = True) -> dict[str, Any]:
    """The model of the stack (module docstring) from each host's variables and facts.

    hosts: host -> its variables (inventory and extra vars); facts: host -> ansible_facts;
    origins: host -> variable -> where it was set (for messages); primary: promote.yml's new
    primary. require_addresses: every host in the stack needs an address (plan.yml does not).
    """
    facts = facts or {}
    problems = inventory_problems(hosts, groups, origins, primary, secrets=False)
    if problems:
        raise StackError(problems)

    topo = topology(groups, primary)
    first = next(iter(hosts.values()), {})
    app_vars = hosts.get(topo["webservers"][0], {}) if topo["webservers"] else first
    entries: dict[str, dict[str, Any]] = {}
    ports: dict[str, dict[str, int]] = {}
    app_server: dict[str, str] = {}
    # Every host of our groups gets an entry (promote.yml fences an old primary by its
    # platform's unit name); only the hosts the stack runs on need an address and a size.
    inventory_hosts = list(dict.fromkeys([*topo["all"], *(h for g in GROUPS for h in groups.get(g) or ())]))
    pooler = pooler_of(hosts, topo)
    for host in inventory_hosts:
        hvars, hfacts = hosts.get(host) or {}, facts.get(host) or {}
        address = _address(host, hfacts)
        if address is None and require_addresses and host in topo["all"]:
            problems.append(f"Host {host} has no address: gather its facts first (its default IPv4 "
                            "address, ansible_facts.default_ipv4.address, is how the other hosts reach it).")
        ports[host] = _ports(host, hvars, topo)
        app_server[host] = str(_value(hvars, "django_app_server"))
        entries[host] = {
            "address": address,
            "groups": [g for g in GROUPS if host in topo[g]],
            "platform": _platform(hvars, hfacts),
            "ports": ports[host],
            "secrets": _secrets(host, topo, pooler),
        }
    if problems:
        raise StackError(problems)

    sizing_groups = {name: topo[name] for name in GROUPS}
    uses = plan.app_services(app_vars, groups)
    try:
        sizing = plan.cluster_plan(_sizing_input(hosts, facts, sizing_groups, entries))
    except (TypeError, ValueError) as exc:
        raise StackError([str(exc)]) from exc
    for host, entry in entries.items():
        entry["services"] = sizing["hosts"][host]["services"] if host in sizing["hosts"] else []
        if host in topo["db_backup"]:
            entry["services"] = sorted([*entry["services"], "pgbackrest"])
        problems += _port_clashes(host, entry["services"] + pooler_services(host, topo, pooler), ports[host])
    for host in topo["redis"]:
        platform = entries[host]["platform"]
        if platform["redis"]["implementation"] not in platform["redis_implementations"]:
            problems.append(f"redis_implementation = {platform['redis']['implementation']!r} for host {host}: Debian "
                            f"{platform['debian']} does not ship it; use {' or '.join(platform['redis_implementations'])}"
                            " (Valkey needs Debian 13).")
    problems += _app_platform_problems(topo["app_hosts"], entries)
    kinds = sorted({entries[h]["platform"]["redis"]["implementation"] for h in topo["redis"]})
    if len(kinds) > 1:
        problems.append(f"redis_implementation differs across group redis ({', '.join(kinds)}): its replicas copy the "
                        "first host; set one for all of them.")
    versions = sorted({entries[h]["platform"]["postgresql"]["version"] for h in topo["db_hosts"]})
    if len(versions) > 1:
        problems.append(f"postgresql_version differs across the database hosts ({', '.join(map(str, versions))}): "
                        "streaming replication needs one major version; set postgresql_version for all of them.")
    backup_releases = sorted({entries[h]["platform"]["debian"] for h in topo["db_hosts"] + topo["db_backup"]})
    if topo["db_backup"] and len(backup_releases) > 1:
        problems.append(f"Group db_backup: host {topo['db_backup'][0]} and the database hosts run Debian "
                        f"{' and '.join(backup_releases)}; pgBackRest needs the same version on all of them (the "
                        "release's package): put them on one Debian release.")
    if problems:
        raise StackError(problems)

    tls = tls_settings(hosts, groups, app_vars)[0]
    if tls["acme"]:
        # The load balancers the ACME host pushes renewed certificates to, over SSH.
        tls["acme"]["peers"] = [{"host": lb, "address": entries[lb]["address"], "port": ports[lb]["ssh"]}
                                for lb in topo["loadbalancers"] if lb != tls["acme"]["host"]]
    flows = pooler_flows(_flows(topo, ports, app_server, tls), topo, ports, pooler)
    for host, entry in entries.items():
        entry["clients"] = {}
        if host in topo["all"]:
            entry["firewall"] = _firewall(host, hosts.get(host) or {}, flows, entries)
    for flow in flows:
        if flow["client"] == "any" or flow["protocol"] == "unix":
            continue
        address = entries[flow["client"]]["address"]
        client = {"host": flow["client"], "address": address, "purpose": flow["purpose"],
                  "cidr": ipaddress.ip_network(address).with_prefixlen if address else None}
        bucket = entries[flow["server"]]["clients"].setdefault(flow["service"], [])
        if client not in bucket:
            bucket.append(client)

    def endpoint(host: str, port_key: str) -> dict[str, Any]:
        return {"host": host, "address": entries[host]["address"], "port": ports[host][port_key]}

    layout = app_layout(app_vars)
    db_vars = hosts.get(topo["db_primary"][0], {}) if topo["db_primary"] else app_vars
    mq_vars = hosts.get(topo["rabbitmq"][0], {}) if topo["rabbitmq"] else app_vars
    layout["database"] = {
        "name": str(db_vars.get("postgresql_app_database") or layout["name"]),
        "user": str(db_vars.get("postgresql_app_user") or layout["name"]),
        "replication_user": str(_value(db_vars, "postgresql_replication_user")),
        # The primary's postgresql_tls: whether the servers require TLS and the clients verify them.
        "tls": bool(_bool(_value(db_vars, "postgresql_tls"))),
        # PgBouncer on every database host (postgresql_pooler, the primary's), or none, and the
        # role its auth_query logs in as.
        "pooler": pooler,
        "pooler_auth_user": POOLER_AUTH_USER,
    }
    layout["broker"] = {
        "user": str(mq_vars.get("rabbitmq_app_user") or layout["name"]),
        "vhost": str(mq_vars.get("rabbitmq_app_vhost") or layout["name"]),
    }
    # Which service Django's cache and Celery's broker use, and the Redis database of each use.
    layout.update(uses)
    layout["redis_databases"] = dict(REDIS_DATABASES)
    backup = backup_settings(topo, entries, db_vars, layout["name"])
    return {
        "topology": topo,
        "hosts": entries,
        "endpoints": {
            "postgresql": [endpoint(h, "postgresql") for h in topo["db_primary"]],
            "postgresql_replicas": [endpoint(h, "postgresql") for h in topo["db_replicas"]],
            "memcached": [endpoint(h, "memcached") for h in topo["memcached"]],
            # The first is the primary (writes, the broker); the others are its replicas.
            "redis": [endpoint(h, "redis") for h in topo["redis"]],
            "rabbitmq": [endpoint(h, "rabbitmq_amqp") for h in topo["rabbitmq"]],
            # Where the app's DATABASES point: through the pooler, or directly (app_database_endpoints).
            **app_database_endpoints(topo, entries, ports, pooler),
            "web": [endpoint(h, "nginx") for h in topo["webservers"]],
            "loadbalancers": [endpoint(h, "haproxy_http") for h in topo["loadbalancers"]],
            "app_server": {
                h: ({"socket": layout["gunicorn_socket"], "upstream": f"unix:{layout['gunicorn_socket']}"}
                    if app_server[h] == "gunicorn" else
                    {"address": "127.0.0.1", "port": ports[h]["mod_wsgi"],
                     "upstream": f"127.0.0.1:{ports[h]['mod_wsgi']}"})
                for h in topo["webservers"]
            },
        },
        "flows": flows,
        "tls": tls,
        "backup": backup,
        "app": layout,
        "sizing": sizing,
    }


def backup_settings(topo: Mapping[str, list[str]], entries: Mapping[str, Mapping[str, Any]],
                    db_vars: Mapping[str, Any], stanza: str) -> dict[str, Any]:
    """pgBackRest for the stack: on when group db_backup has a host. ``postgresql``: the WAL
    archive settings of every database host (under the user's postgresql_settings)."""
    repo = topo["db_backup"][0] if topo["db_backup"] else None
    if repo is None:
        # archive_mode needs a restart to change: until one, a server that archived keeps doing
        # so, and a command that succeeds keeps its pg_wal from filling up.
        return {"enabled": False, "host": None, "stanza": stanza,
                "postgresql": {"archive_mode": "off", "archive_command": "/bin/true"}}
    command = f"{PGBACKREST['bin']} --stanza={stanza}"
    timeout = tuning.coerce_int("pgbackrest_archive_timeout", _value(db_vars, "pgbackrest_archive_timeout"))
    return {
        "enabled": True,
        "host": repo,
        "address": entries[repo]["address"],
        "ssh_port": entries[repo]["ports"]["ssh"],
        "stanza": stanza,
        **PGBACKREST,
        # Every database host, the primary first; pgBackRest finds the primary among them itself,
        # so backups follow promote.yml with no change here.
        "db_hosts": [{"host": h, "address": entries[h]["address"], "ssh_port": entries[h]["ports"]["ssh"],
                      "port": entries[h]["ports"]["postgresql"],
                      "data_dir": entries[h]["platform"]["postgresql"]["data_dir"]}
                     for h in topo["db_hosts"]],
        "postgresql": {
            "archive_mode": "on",
            # Asynchronous (pgbackrest.conf archive-async): returns once the segment is queued.
            "archive_command": f"{command} archive-push %p",
            # At most this long between a write and its WAL reaching the repository when the
            # site is quiet (a segment is switched early): the most a restore can miss.
            "archive_timeout": f"{timeout}s" if timeout else "0",
        },
    }


def _sizing_input(hosts: Mapping[str, Mapping[str, Any]], facts: Mapping[str, Mapping[str, Any]],
                  groups: Mapping[str, list[str]], entries: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """plan.cluster_plan's input; postgresql_version is the platform's unless set."""
    hostvars = {}
    for host in (h for h in entries if any(h in members for members in groups.values())):
        hvars = dict(hosts.get(host) or {})
        hvars["postgresql_version"] = entries[host]["platform"]["postgresql"]["version"]
        hvars["ansible_facts"] = facts.get(host) or {}
        hostvars[host] = hvars
    return plan.hosts_from_inventory(hostvars, groups)


# ---------------------------------------------------------------------------------------------
# The connection pooler (postgresql_pooler): with pgbouncer, PgBouncer runs on every database
# host (role pgbouncer) in transaction mode in front of its own PostgreSQL, which it reaches over
# loopback; the app's connections go through it (plan.pooler_settings sizes both of its sides),
# while its session-level work (migrations under their advisory lock) connects to PostgreSQL
# directly. Its defaults and port variable are with the others (PUBLIC_DEFAULTS, PORT_VARS).
POOLER_AUTH_SECRET = "pgbouncer_auth_password"
POOLER_AUTH_USER = "pgbouncer"


def pooler_of(hosts: Mapping[str, Mapping[str, Any]], topo: Mapping[str, list[str]]) -> str:
    """The stack's pooler: the primary's postgresql_pooler (one value for the whole stack)."""
    primary = topo["db_primary"][0] if topo["db_primary"] else None
    value = _value(hosts.get(primary) or {}, "postgresql_pooler") if primary else PUBLIC_DEFAULTS["postgresql_pooler"]
    return str(value)


def pooler_secrets(host: str, topo: Mapping[str, list[str]], pooler: str) -> list[str]:
    """PgBouncer's auth_user logs in to PostgreSQL with this password (the only one it keeps)."""
    return [POOLER_AUTH_SECRET] if pooler == "pgbouncer" and host in topo["db_hosts"] else []


def pooler_services(host: str, topo: Mapping[str, list[str]], pooler: str) -> list[str]:
    """The pooler as a service of this host (for port clashes)."""
    return ["pgbouncer"] if pooler == "pgbouncer" and host in topo["db_hosts"] else []


def pooler_flows(flows: list[dict[str, Any]], topo: Mapping[str, list[str]],
                 ports: Mapping[str, Mapping[str, int]], pooler: str) -> list[dict[str, Any]]:
    """With the pooler, the app hosts reach every database host's PgBouncer; each PgBouncer reaches
    its own PostgreSQL (over loopback: the firewall has nothing to open). The app's flows to
    PostgreSQL itself stay: migrations connect to the primary directly, and any replica may become
    the primary (promote.yml re-points the app without running the firewall role)."""
    if pooler != "pgbouncer":
        return flows
    added = _app_database_flows(topo, ports, "pgbouncer")
    for db in topo["db_hosts"]:
        added.append(_flow(db, db, ports[db]["postgresql"], "postgresql", "pooler"))
    return flows + added


def app_database_endpoints(topo: Mapping[str, list[str]], entries: Mapping[str, Mapping[str, Any]],
                           ports: Mapping[str, Mapping[str, int]], pooler: str) -> dict[str, Any]:
    """The app's database endpoints, every role's one source: per database host its address, the
    port the app connects to (PgBouncer's with the pooler, else PostgreSQL's), the port of
    PostgreSQL itself (direct_port: migrations) and whether the connection is pooled."""
    pooled = pooler == "pgbouncer"

    def endpoint(host: str) -> dict[str, Any]:
        return {"host": host, "address": entries[host]["address"],
                "port": ports[host]["pgbouncer" if pooled else "postgresql"],
                "direct_port": ports[host]["postgresql"], "pooled": pooled}

    return {"app_database": [endpoint(h) for h in topo["db_primary"]],
            "app_database_replicas": [endpoint(h) for h in topo["db_replicas"]]}


def flows_text(model: Mapping[str, Any]) -> str:
    """The model's connections for a person: one line per server port, its clients listed."""
    by_server: dict[tuple[str, str, int, str], list[str]] = {}
    for flow in model["flows"]:
        key = (flow["server"], flow["service"], flow["port"], flow["protocol"])
        by_server.setdefault(key, [])
        label = flow["client"] if flow["client"] != flow["server"] else f"{flow['client']} (itself)"
        if label not in by_server[key]:
            by_server[key].append(label)
    lines = ["connections (server port <- clients):"]
    for (server, service, port, protocol), clients in by_server.items():
        address = model["hosts"][server]["address"] or "?"
        where = f"{address}:{port}/{protocol}" if protocol != "unix" else "unix socket"
        lines.append(f"  {server} {service} {where} <- {', '.join(clients)}")
    return "\n".join(lines)
