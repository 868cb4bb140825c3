# Copyright: contributors to django_deploy.stack
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions the roles used to spell in Jinja: the RabbitMQ state (vhosts, users, drift), which
releases to remove, the libpq password file line, the kernel parameters and packages of the common role.

Pure Python (no Ansible imports), so plugins/filter/role_helpers.py wraps each function as a
filter and tests/unit/plugins/module_utils/test_role_helpers.py tests it without Ansible. Every
function raises ValueError or TypeError, with a message naming the argument, on input it cannot
use; the filter turns that into AnsibleFilterError.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import re
from typing import Any, Iterable, Mapping, Sequence

# --- RabbitMQ: the app's user and the guest user ------------------------------------------------

# What the app's user has on its vhost when nothing is to be done.
_FULL_RIGHTS = {"configure": ".*", "write": ".*", "read": ".*"}

# RabbitMQ's password hashing modules: hash = base64(salt + H(salt + password)), a 4-byte salt.
_RABBITMQ_HASHES = {
    "rabbit_password_hashing_sha256": hashlib.sha256,
    "rabbit_password_hashing_sha512": hashlib.sha512,
    "rabbit_password_hashing_md5": hashlib.md5,
}


def _definitions(result: Any) -> Mapping[str, Any]:
    """The definitions printed by `rabbitmqctl -q export_definitions -`; empty when the read failed."""
    if not isinstance(result, Mapping) or "rc" not in result:
        raise TypeError(f"result must be a registered command result (with rc and stdout), got {type(result).__name__}")
    if result["rc"] != 0:
        # A failed read (check mode before the server is installed) counts as nothing there:
        # the writes then run, and check mode reports them.
        return {}
    try:
        definitions = json.loads(result.get("stdout", ""))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"export_definitions: rabbitmqctl printed no JSON ({exc})") from exc
    if not isinstance(definitions, Mapping):
        raise ValueError("export_definitions: rabbitmqctl printed JSON that is not an object")
    for key in ("users", "vhosts", "permissions"):
        rows = definitions.get(key, [])
        if not isinstance(rows, list) or not all(isinstance(row, Mapping) for row in rows):
            raise ValueError(f"export_definitions: rabbitmqctl printed {key} that are not a list of objects")
    return definitions


def _password_ok(entry: Mapping[str, Any], password: str) -> bool:
    """Whether `password` matches the salted hash of a user entry of the definitions: the check
    `rabbitmqctl authenticate_user` makes, without a command that reads a password from a
    terminal (RabbitMQ 4's waits for one). False on a hashing this does not know or no password."""
    algorithm = _RABBITMQ_HASHES.get(str(entry.get("hashing_algorithm", "")))
    try:
        stored = base64.b64decode(str(entry.get("password_hash", "")), validate=True)
    except ValueError:
        return False
    if algorithm is None or len(stored) <= 4:
        return False
    salt = stored[:4]
    return hmac.compare_digest(stored[4:], algorithm(salt + password.encode("utf-8")).digest())


def _tags(entry: Mapping[str, Any]) -> list[str]:
    """A user's tags: a list since RabbitMQ 3.9, a comma-separated string before."""
    tags = entry.get("tags") or []
    return [t for t in tags.split(",") if t] if isinstance(tags, str) else list(tags)


def rabbitmq_state(result: Any, app_user: str, app_password: str, vhost: str) -> dict[str, Any]:
    """What the app tasks of the rabbitmq role have to do, from one read of the broker.

    result: the registered result of `rabbitmqctl -q export_definitions -` (one Erlang VM boot
    instead of one per list_* query; a result with rc != 0 counts as an empty broker).

    Returns vhosts (name -> default queue type, 'classic' when the vhost sets none), users
    (names), app_user_present, guest_present, app_user_in_sync (the user exists without tags,
    logs in with app_password, and has exactly configure/write/read '.*' on the vhost) and drift
    (the changes the user tasks make, in words). The password and its hash are never returned.
    """
    if not isinstance(app_user, str) or not app_user:
        raise ValueError(f"app_user must be a non-empty string, got {app_user!r}")
    if not isinstance(app_password, str):
        raise TypeError("app_password must be a string")
    if not isinstance(vhost, str) or not vhost:
        raise ValueError(f"vhost must be a non-empty string, got {vhost!r}")
    definitions = _definitions(result)
    users = list(definitions.get("users", []))
    vhosts = {str(row.get("name")): str(row.get("default_queue_type") or (row.get("metadata") or {}).get("default_queue_type")
                                        or "classic")
              for row in definitions.get("vhosts", [])}
    names = [row.get("name") for row in users]
    app_entries = [row for row in users if row.get("name") == app_user]
    app_rights = [{k: row.get(k) for k in _FULL_RIGHTS} for row in definitions.get("permissions", [])
                  if row.get("user") == app_user and row.get("vhost") == vhost]
    in_sync = (len(app_entries) == 1 and _tags(app_entries[0]) == [] and _password_ok(app_entries[0], app_password)
               and app_rights == [_FULL_RIGHTS])
    guest_present = "guest" in names
    drift = ([] if in_sync else [f"create or update user {app_user}"]) + (
        ["delete the guest user"] if guest_present else [])
    return {
        "vhosts": vhosts,
        "users": names,
        "app_user_present": app_user in names,
        "guest_present": guest_present,
        "app_user_in_sync": in_sync,
        "drift": drift,
    }


# --- django_app: release retention --------------------------------------------------------------


def releases_to_remove(found: Sequence[Mapping[str, Any]], directory: str, keep: int,
                       protect: Iterable[Any] = ()) -> list[str]:
    """The directories under `directory` to delete, newest first.

    found: the `files` of an ansible.builtin.find (each with path and mtime), possibly of
    several directories: only the direct children of `directory` count. protect: paths that
    stay whatever their age (current's and previous' targets; empty strings are ignored). Of
    the others, the `keep` newest (by mtime) stay too.
    """
    if not isinstance(directory, str) or not directory.startswith("/"):
        raise ValueError(f"directory must be an absolute path, got {directory!r}")
    if isinstance(keep, bool) or not isinstance(keep, int):
        raise TypeError(f"keep must be an integer, got {type(keep).__name__} {keep!r}")
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    if isinstance(protect, (str, bytes)):
        raise TypeError("protect must be a list of paths, not a string")
    prefix = directory.rstrip("/") + "/"
    kept = {path for path in protect if path}
    candidates = []
    for index, entry in enumerate(found):
        if not isinstance(entry, Mapping) or "path" not in entry or "mtime" not in entry:
            raise ValueError(f"found[{index}] must be a find result entry with path and mtime")
        path = entry["path"]
        if str(path).startswith(prefix) and path not in kept:
            candidates.append(entry)
    # Stable, like Jinja's sort: releases with the same mtime keep find's order.
    newest_first = sorted(candidates, key=lambda entry: float(entry["mtime"]), reverse=True)
    return [entry["path"] for entry in newest_first[keep:]]


# --- PostgreSQL: the password file --------------------------------------------------------------

_PGPASS_FORBIDDEN = ("\n", "\r", "\0")


def pgpass_escape(value: str) -> str:
    """One field of a libpq password file: backslash and colon escaped with a backslash."""
    if not isinstance(value, str):
        raise TypeError(f"a pgpass field must be a string, got {type(value).__name__}")
    return value.replace("\\", "\\\\").replace(":", "\\:")


def pgpass_line(password: str, user: str, database: str = "*", host: str = "*", port: Any = "*") -> str:
    """host:port:database:user:password, each field escaped; a field that is exactly '*' stays the
    wildcard libpq matches anything with. Without a line ending."""
    fields = {"host": host, "port": port, "database": database, "user": user, "password": password}
    for name, value in fields.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            # As Jinja prints them (a numeric password from YAML, a port).
            fields[name] = value = str(value)
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {type(value).__name__}")
        if any(char in value for char in _PGPASS_FORBIDDEN):
            # Never print the value: it may be the password.
            raise ValueError(f"{name} contains a line break or NUL, which a pgpass line cannot hold")
        if name != "password" and not value:
            raise ValueError(f"{name} must not be empty (use '*' for any)")
    return ":".join(value if value == "*" and name != "password" else pgpass_escape(value)
                    for name, value in fields.items())


def pgpass_fields(line: str) -> list[str]:
    """The five fields of a password file line as libpq reads them (fe-connect.c): backslash
    escapes undone, each of the first four ending at an unescaped colon. For tests and checks."""
    fields: list[str] = []
    field: list[str] = []
    chars = iter(line.rstrip("\n"))
    for char in chars:
        if char == "\\":
            field.append(next(chars, ""))
        elif char == ":":
            fields.append("".join(field))
            field = []
            if len(fields) == 5:
                break
        else:
            field.append(char)
    else:
        fields.append("".join(field))
    if len(fields) != 5:
        raise ValueError(f"a pgpass line has five fields, this one {len(fields)}")
    return fields


# --- common: kernel parameters and base packages ------------------------------------------------

_SYSCTL_NAME = re.compile(r"^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$")
_SYSCTL_VALUE = re.compile(r"^-?[0-9]+( -?[0-9]+)*$")


def bad_sysctls(sysctls: Mapping[Any, Any]) -> list[str]:
    """'name = value' of every kernel parameter that is not a dotted name with a number (or
    numbers separated by spaces) as value, in the mapping's order; empty when all are good.

    The rules of the role's former Jinja test, which matched with re.match (so '$' also accepts
    a final newline)."""
    if not isinstance(sysctls, Mapping):
        raise TypeError(f"sysctls must be a mapping of name to value, got {type(sysctls).__name__}")
    return [f"{name} = {value}" for name, value in sysctls.items()
            if not (_SYSCTL_NAME.match(str(name)) and _SYSCTL_VALUE.match(str(value)))]


_DPKG_INSTALLED = re.compile(r"^[^ ]+ installed$")


def missing_packages(wanted: Sequence[str], dpkg: Any) -> list[str]:
    """The packages of `wanted` (in its order, once each) that dpkg does not report installed.

    dpkg: the output of dpkg-query --show --showformat='${Package} ${db:Status-Status}\\n', one
    '<package> <status>' per line: its lines (stdout_lines), or the registered result holding
    them (the common role's common_dpkg), or None when there was no read (then all are missing).
    Other lines (the common role's count of apt lists) and packages dpkg-query did not list
    count as not installed.
    """
    if isinstance(wanted, (str, bytes)) or not isinstance(wanted, Sequence):
        raise TypeError("wanted must be a list of package names")
    if dpkg is None:
        dpkg_lines: Iterable[Any] = []
    elif isinstance(dpkg, Mapping):
        dpkg_lines = dpkg.get("stdout_lines") or []
    elif isinstance(dpkg, (str, bytes)):
        raise TypeError("dpkg must be a list of lines (stdout_lines) or a registered result, not a string")
    else:
        dpkg_lines = dpkg
    installed = {str(line).split()[0] for line in dpkg_lines if _DPKG_INSTALLED.match(str(line))}
    missing: list[str] = []
    for package in wanted:
        if package not in installed and package not in missing:
            missing.append(package)
    return missing


def in_networks(address: str, networks: Sequence[str]) -> bool:
    """Whether the IPv4 or IPv6 address lies in one of the networks (an IPv4-mapped IPv6
    address, as sshd may report a client, counts as its IPv4 address)."""
    ip = ipaddress.ip_address(str(address).strip())
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in ipaddress.ip_network(str(n), strict=False) for n in networks)


# --- HTTPS: the certificate and key given (tls_mode files) -----------------------------------------

def certificate_problems(certificate: str, private_key: str, now: Any = None) -> list[str]:
    """What is wrong with a PEM certificate chain and its private key, read on the controller
    before any host changes: not PEM, a key with a passphrase (HAProxy cannot ask for one), a key
    that is not the certificate's, an expired certificate. Empty when they can be served. Needs
    the cryptography package (ansible-core's own dependency); without it, nothing is checked here
    and the load balancers check the pair with openssl before installing it."""
    try:
        # pylint: disable-next=import-outside-toplevel
        import datetime

        # pylint: disable-next=import-outside-toplevel
        from cryptography import x509

        # pylint: disable-next=import-outside-toplevel
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        return []
    problems = []
    try:
        chain = x509.load_pem_x509_certificates(str(certificate).encode())
    except ValueError:
        return ["tls_certificate_file holds no PEM certificate (-----BEGIN CERTIFICATE-----)."]
    try:
        key = serialization.load_pem_private_key(str(private_key).encode(), password=None)
    except TypeError:
        return ["tls_private_key_file is protected by a passphrase: HAProxy cannot ask for one; give the key "
                "without it (encrypt the file with ansible-vault instead)."]
    except ValueError:
        return ["tls_private_key_file holds no PEM private key (-----BEGIN PRIVATE KEY-----)."]
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if chain[0].public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        problems.append("tls_private_key_file is not the private key of the certificate in tls_certificate_file "
                        "(its first certificate must be the site's, then the chain).")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    expires = chain[0].not_valid_after_utc
    if expires <= now:
        problems.append(f"the certificate in tls_certificate_file expired on {expires:%Y-%m-%d %H:%M} UTC.")
    return problems


# --- restore.yml: the point in time asked for, against what the repository holds -------------------

_RESTORE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d{1,6})?\s*(Z|[+-]\d{2}(?::?\d{2})?)$")
_RESTORE_FORMAT = "'YYYY-MM-DD HH:MM:SS+00' (a time zone offset is required)"


def _utc_text(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")


def restore_plan(info: Any, restore_target_time: Any = None, restore_target: Any = None, now: Any = None) -> dict[str, Any]:
    """What restore.yml restores the primary to, checked before anything stops.

    info: `pgbackrest --output=json info` of the stack's stanza (text or parsed). Exactly one of
    restore_target_time ('YYYY-MM-DD HH:MM:SS+00', an offset required) and restore_target ('latest':
    every WAL the repository holds). now: epoch seconds (default: this clock). Returns problems (one
    line each, naming the variable), type ('time' or 'default', pgBackRest's --type), target (the time
    in UTC, for --target), and the backups the repository holds (label, type, start and stop in UTC).
    """
    stanzas = json.loads(info) if isinstance(info, (str, bytes)) else (info or [])
    stanza = stanzas[0] if stanzas else {}
    backups = [{"label": b.get("label"), "type": b.get("type"),
                "start": _utc_text(datetime.datetime.fromtimestamp(b["timestamp"]["start"], datetime.timezone.utc)),
                "stop": _utc_text(datetime.datetime.fromtimestamp(b["timestamp"]["stop"], datetime.timezone.utc)),
                "stop_epoch": b["timestamp"]["stop"]}
               for b in stanza.get("backup") or []]
    result: dict[str, Any] = {"problems": [], "type": None, "target": None, "backups": backups}
    given_time = restore_target_time not in (None, "")
    given_target = restore_target not in (None, "")
    if given_time == given_target:
        result["problems"].append(
            "restore.yml needs exactly one target: -e restore_target_time=" + _RESTORE_FORMAT.split(" (", maxsplit=1)[0]
            + " (a point in time) or -e restore_target=latest (everything archived)"
            + (", not both." if given_time else "; nothing is restored without one."))
        return result
    if not backups:
        result["problems"].append(f"The repository holds no backup of stanza {stanza.get('name', '?')} "
                                  f"({(stanza.get('status') or {}).get('message', 'no stanza')}): nothing to restore from.")
        return result
    if given_target:
        if str(restore_target) != "latest":
            result["problems"].append(f"restore_target = {str(restore_target)!r}: the only target by name is 'latest'; for a "
                                      f"point in time set restore_target_time={_RESTORE_FORMAT}.")
            return result
        result["type"] = "default"
        return result
    match = _RESTORE_TIME.match(str(restore_target_time).strip())
    moment = None
    if match:
        day, clock, fraction, zone = match.groups()
        digits = "0000" if zone == "Z" else zone[1:].replace(":", "").ljust(4, "0")
        zone = f"{'-' if zone.startswith('-') else '+'}{digits[:2]}:{digits[2:]}"
        try:
            moment = datetime.datetime.fromisoformat(f"{day}T{clock}{fraction or ''}{zone}")
        except ValueError:
            moment = None
    if moment is None:
        result["problems"].append(f"restore_target_time = {str(restore_target_time)!r} is not a time with its zone: "
                                  f"write it as {_RESTORE_FORMAT}.")
        return result
    current = datetime.datetime.fromtimestamp(float(now), datetime.timezone.utc) if now is not None \
        else datetime.datetime.now(datetime.timezone.utc)
    first = min(backups, key=lambda b: b["stop_epoch"])
    if moment > current:
        result["problems"].append(f"restore_target_time = {str(restore_target_time)!r} is in the future (now {_utc_text(current)}): "
                                  "a restore can only go back in time.")
    elif moment.timestamp() < first["stop_epoch"]:
        result["problems"].append(f"restore_target_time = {str(restore_target_time)!r} is before the end of the oldest backup "
                                  f"({first['label']}, {first['stop']}): the repository can restore no earlier point.")
    else:
        result["type"] = "time"
        result["target"] = moment.astimezone(datetime.timezone.utc).isoformat(sep=" ")
    return result
