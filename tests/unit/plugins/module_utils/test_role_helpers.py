"""plugins/module_utils/role_helpers.py: the decisions the roles used to spell in Jinja.

Pure Python, no Ansible: ansible-test runs these as module_utils tests. The filters over these
functions, and the properties that they decide as the roles' former Jinja did, are tested in
tests/unit/plugins/filter/test_role_helpers.py.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.django_deploy.stack.plugins.module_utils import role_helpers as rh


# --- RabbitMQ ----------------------------------------------------------------------------------


def _user(name, password, algorithm="rabbit_password_hashing_sha256", salt=b"\x01\x02\x03\x04", tags=()):
    digest = {"rabbit_password_hashing_sha256": hashlib.sha256, "rabbit_password_hashing_sha512": hashlib.sha512,
              "rabbit_password_hashing_md5": hashlib.md5}[algorithm](salt + password.encode()).digest()
    return {"name": name, "password_hash": base64.b64encode(salt + digest).decode(), "hashing_algorithm": algorithm,
            "tags": list(tags), "limits": {}}


def _rights(user, vhost="demo", configure=".*", write=".*", read=".*"):
    return {"user": user, "vhost": vhost, "configure": configure, "write": write, "read": read}


def _definitions(users=(), permissions=(), vhosts=(), rc=0):
    """A registered `rabbitmqctl -q export_definitions -` result."""
    body = {"rabbit_version": "4.0.5", "users": list(users), "permissions": list(permissions), "vhosts": list(vhosts),
            "queues": [], "exchanges": [], "bindings": []}
    return {"rc": rc, "stdout": json.dumps(body) if rc == 0 else "", "stderr": "" if rc == 0 else "Error: node down"}


# RabbitMQ 4.0.5 (Debian 13) exports a vhost's default queue type at both places; 3.10.8
# (Debian 12) only in its metadata, and not at all for '/' (classic).
VHOST_4 = {"name": "demo", "default_queue_type": "quorum", "limits": [],
           "metadata": {"description": "", "tags": [], "default_queue_type": "quorum"}}
VHOST_3 = {"name": "demo", "limits": [], "metadata": {"default_queue_type": "quorum", "description": "", "tags": []}}
ROOT_3 = {"name": "/", "limits": [], "metadata": {"description": "Default virtual host", "tags": []}}
CONVERGED = _definitions([_user("demo", "pw")], [_rights("demo")], [VHOST_4])


def _state(result, password="pw"):
    return rh.rabbitmq_state(result, "demo", password, "demo")


def test_a_converged_broker_has_no_drift():
    assert _state(CONVERGED) == {"vhosts": {"demo": "quorum"}, "users": ["demo"], "app_user_present": True,
                                 "guest_present": False, "app_user_in_sync": True, "drift": []}


def test_the_default_queue_type_of_both_releases():
    assert _state(_definitions(vhosts=[VHOST_3, ROOT_3]))["vhosts"] == {"demo": "quorum", "/": "classic"}


def test_a_fresh_broker_needs_the_user_and_loses_the_guest():
    state = _state(_definitions([_user("guest", "guest", tags=["administrator"])], [_rights("guest", "/")], [ROOT_3]))
    assert state["users"] == ["guest"] and not state["app_user_present"] and state["guest_present"]
    assert state["vhosts"] == {"/": "classic"}
    assert state["drift"] == ["create or update user demo", "delete the guest user"]


def test_a_failed_read_is_an_empty_broker():
    assert _state(_definitions(rc=69)) == {"vhosts": {}, "users": [], "app_user_present": False, "guest_present": False,
                                           "app_user_in_sync": False, "drift": ["create or update user demo"]}


@pytest.mark.parametrize("users, rights", [
    ([_user("demo", "other")], [_rights("demo")]),                                  # password changed
    ([_user("demo", "pw", tags=["management"])], [_rights("demo")]),                 # tagged
    ([{**_user("demo", "pw"), "tags": "management"}], [_rights("demo")]),            # tagged, RabbitMQ < 3.9
    ([_user("demo", "pw")], [_rights("demo", write="^amq")]),                       # narrower rights
    ([_user("demo", "pw")], [_rights("demo", vhost="/")]),                          # rights on another vhost only
    ([_user("demo", "pw")], [_rights("demo")] * 2),                                 # listed twice
    ([_user("demo", "pw")], []),                                                     # no rights
])
def test_any_difference_of_the_app_user_is_drift(users, rights):
    state = _state(_definitions(users, rights, [VHOST_4]))
    assert state["app_user_present"] and not state["app_user_in_sync"]
    assert state["drift"] == ["create or update user demo"]


@pytest.mark.parametrize("algorithm", ["rabbit_password_hashing_sha256", "rabbit_password_hashing_sha512",
                                       "rabbit_password_hashing_md5"])
def test_the_password_is_checked_against_the_salted_hash(algorithm):
    users = [_user("guest", "s3cret:pass"), _user("demo", "s3cret:pass", algorithm)]
    assert _state(_definitions(users, [_rights("demo")]), "s3cret:pass")["app_user_in_sync"] is True
    assert _state(_definitions(users, [_rights("demo")]), "s3cret:pas")["app_user_in_sync"] is False


def test_a_hash_made_by_rabbitmq_itself():
    """RabbitMQ 4.0.5 (Debian 13) made this hash for the password molecule-rabbitmq-password."""
    real = {"name": "demo", "password_hash": "aFFvuG/g97Hx5fICDKdV+IjKwPEZFOt6ogerb/sVjXAeZov9",
            "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": [], "limits": {}}
    assert _state(_definitions([real], [_rights("demo")]), "molecule-rabbitmq-password")["app_user_in_sync"] is True
    assert _state(_definitions([real], [_rights("demo")]), "molecule-rabbitmq-passwor")["app_user_in_sync"] is False


@pytest.mark.parametrize("entry", [
    {**_user("demo", "pw"), "hashing_algorithm": "other"},
    {**_user("demo", "pw"), "password_hash": ""},
    {**_user("demo", "pw"), "password_hash": "!!"},
])
def test_an_unknown_hashing_or_no_password_is_not_a_login(entry):
    assert _state(_definitions([entry], [_rights("demo")]))["app_user_in_sync"] is False


def test_a_read_that_is_not_definitions_fails():
    with pytest.raises(ValueError, match="export_definitions: rabbitmqctl printed no JSON"):
        _state({"rc": 0, "stdout": "Error: node down"})
    with pytest.raises(ValueError, match="JSON that is not an object"):
        _state({"rc": 0, "stdout": "[]"})
    with pytest.raises(ValueError, match="permissions that are not a list of objects"):
        _state({"rc": 0, "stdout": '{"permissions": ["demo"]}'})
    with pytest.raises(TypeError, match="registered command result"):
        _state("stdout")


def test_the_password_and_hashes_are_never_returned():
    assert "pw" not in json.dumps(_state(CONVERGED)) and "password_hash" not in json.dumps(_state(CONVERGED))


@given(st.text(max_size=40), st.binary(min_size=4, max_size=4))
def test_any_password_round_trips(password, salt):
    result = _definitions([_user("demo", password, salt=salt)], [_rights("demo")])
    assert rh.rabbitmq_state(result, "demo", password, "demo")["app_user_in_sync"] is True
    assert rh.rabbitmq_state(result, "demo", password + "x", "demo")["app_user_in_sync"] is False


_names = st.sampled_from(["demo", "guest", "other"])


@given(users=st.lists(st.builds(_user, _names, st.sampled_from(["pw", "no"]),
                                tags=st.sampled_from([(), ("administrator",)])), max_size=4),
       rights=st.lists(st.builds(_rights, _names, st.sampled_from(["demo", "/"]), st.sampled_from([".*", "^x"])),
                       max_size=3))
def test_the_drift_says_exactly_what_the_tasks_will_do(users, rights):
    state = _state(_definitions(users, rights))
    names = [u["name"] for u in users]
    assert state["guest_present"] == ("guest" in names)
    assert state["app_user_present"] == ("demo" in names)
    assert state["app_user_in_sync"] <= state["app_user_present"]
    assert state["drift"] == (([] if state["app_user_in_sync"] else ["create or update user demo"])
                              + (["delete the guest user"] if "guest" in names else []))


# --- release retention -------------------------------------------------------------------------

RELEASES = "/srv/demo/releases"
WHEELS = "/srv/demo/wheels"


def _found(directory, *mtimes):
    return [{"path": f"{directory}/r{i}", "mtime": float(mtime)} for i, mtime in enumerate(mtimes)]


def test_current_and_previous_stay_and_the_newest_others():
    found = _found(RELEASES, 1, 2, 3, 4, 5, 6) + _found(WHEELS, 1, 2)
    # current is the newest, previous an old one (after a rollback): both stay beside 3 others.
    remove = rh.releases_to_remove(found, RELEASES, 3, [f"{RELEASES}/r5", f"{RELEASES}/r0"])
    assert remove == [f"{RELEASES}/r1"]
    assert rh.releases_to_remove(found, WHEELS, 1, [""]) == [f"{WHEELS}/r0"]


def test_nothing_to_remove_when_few_releases():
    assert rh.releases_to_remove(_found(RELEASES, 1, 2), RELEASES, 3, ["", ""]) == []
    assert rh.releases_to_remove([], RELEASES, 0) == []


def test_a_sibling_directory_with_the_same_prefix_is_not_a_release():
    found = [{"path": "/srv/demo/releases-old/x", "mtime": 1.0}, {"path": f"{RELEASES}/a", "mtime": 2.0}]
    assert rh.releases_to_remove(found, RELEASES + "/", 0) == [f"{RELEASES}/a"]


@given(mtimes=st.lists(st.integers(0, 5), max_size=12), keep=st.integers(0, 6),
       protected=st.sets(st.integers(0, 11), max_size=3))
def test_retention_keeps_the_protected_and_the_newest_others(mtimes, keep, protected):
    found = _found(RELEASES, *mtimes)
    protect = [f"{RELEASES}/r{i}" for i in protected]
    remove = rh.releases_to_remove(found, RELEASES, keep, protect)
    others = [entry for entry in found if entry["path"] not in protect]
    assert not set(remove) & set(protect)
    assert len(remove) == max(0, len(others) - keep) and len(set(remove)) == len(remove)
    mtime = {entry["path"]: entry["mtime"] for entry in found}
    kept = [entry["path"] for entry in others if entry["path"] not in remove]
    assert all(mtime[gone] <= mtime[stays] for gone in remove for stays in kept)
    assert [mtime[path] for path in remove] == sorted((mtime[path] for path in remove), reverse=True)


# --- pgpass ------------------------------------------------------------------------------------


@pytest.mark.parametrize("password, line", [
    ("secret", "*:*:replication:replicator:secret"),
    ("a:b", "*:*:replication:replicator:a\\:b"),
    ("a\\b", "*:*:replication:replicator:a\\\\b"),
    ("\\:", "*:*:replication:replicator:\\\\\\:"),
    ("", "*:*:replication:replicator:"),
    ("*", "*:*:replication:replicator:*"),
])
def test_pgpass_line_escapes_the_password(password, line):
    assert rh.pgpass_line(password, "replicator", database="replication") == line


def test_pgpass_line_escapes_every_field_but_the_wildcards():
    assert rh.pgpass_line("pw", "us:er", "d\\b", "db1", 5432) == "db1:5432:d\\\\b:us\\:er:pw"


_field = st.text(st.characters(exclude_characters="\n\r\0", exclude_categories=["Cs"]), min_size=1)


@given(password=st.text(st.characters(exclude_characters="\n\r\0", exclude_categories=["Cs"])),
       user=_field, database=_field, host=_field)
def test_libpq_reads_back_what_pgpass_line_wrote(password, user, database, host):
    assert rh.pgpass_fields(rh.pgpass_line(password, user, database, host)) == [host, "*", database, user, password]


@given(value=st.text(st.characters(exclude_characters="\n\r\0", exclude_categories=["Cs"])))
def test_pgpass_escape_round_trips_and_leaves_no_bare_separator(value):
    escaped = rh.pgpass_escape(value)
    assert rh.pgpass_fields(f"*:*:*:{escaped}:{escaped}")[3:] == [value, value]
    # Every colon of the escaped text is escaped: a reader never ends the field early.
    bare_colons = 0
    chars = iter(escaped)
    for char in chars:
        if char == "\\":
            next(chars, None)
        elif char == ":":
            bare_colons += 1
    assert bare_colons == 0


def test_pgpass_fields_refuses_a_short_line():
    with pytest.raises(ValueError, match="five fields, this one 4"):
        rh.pgpass_fields("a:b:c:d")


# --- common ------------------------------------------------------------------------------------


def test_bad_sysctls_names_each_bad_parameter_in_order():
    sysctls = {"net.core.somaxconn": 4096, "vm swappiness": 10, "net.ipv4.ip_local_port_range": "1024 65535",
               "fs.file-max": "lots", "kernel.sched": True, "vm.overcommit_memory": -1}
    assert rh.bad_sysctls(sysctls) == ["vm swappiness = 10", "fs.file-max = lots", "kernel.sched = True"]
    assert rh.bad_sysctls({}) == []


def test_missing_packages_reads_dpkg_query():
    lines = ["acl installed", "locales config-files", "tzdata installed"]
    assert rh.missing_packages(["acl", "locales", "tzdata", "curl", "curl"], lines) == ["locales", "curl"]
    assert rh.missing_packages(["acl"], ["acl installed"]) == []
    assert rh.missing_packages(["acl"], []) == ["acl"]


def test_missing_packages_reads_a_registered_result_or_none():
    common_dpkg = {"rc": 0, "stdout": "12\nacl installed\nnginx config-files",
                   "stdout_lines": ["12", "acl installed", "nginx config-files"]}
    assert rh.missing_packages(["acl", "nginx"], common_dpkg) == ["nginx"]
    assert rh.missing_packages(["acl", "nginx"], None) == ["acl", "nginx"]
    assert rh.missing_packages(["acl"], {"skipped": True}) == ["acl"]


@given(wanted=st.lists(st.sampled_from(["acl", "locales", "tzdata", "curl"]), max_size=6),
       rows=st.lists(st.tuples(st.sampled_from(["acl", "locales", "tzdata", "curl"]),
                               st.sampled_from(["installed", "config-files", "not-installed"])), max_size=6))
def test_missing_packages_are_the_wanted_ones_dpkg_does_not_call_installed(wanted, rows):
    missing = rh.missing_packages(wanted, [f"{package} {status}" for package, status in rows])
    installed = {package for package, status in rows if status == "installed"}
    assert missing == [package for package in dict.fromkeys(wanted) if package not in installed]


# --- restore_plan ---------------------------------------------------------------------------------
FIRST_STOP = 1764800100  # 2025-12-03 22:15:00 UTC
INFO = [{"name": "demo", "status": {"code": 0, "message": "ok"},
         "backup": [{"label": "20251203-221320F", "type": "full", "timestamp": {"start": 1764800000, "stop": FIRST_STOP}},
                    {"label": "20251204-010000F_20251204-020000I", "type": "incr",
                     "timestamp": {"start": 1764813600, "stop": 1764813700}}]}]
NOW = 1764900000  # 2025-12-05 02:00:00 UTC


@pytest.mark.parametrize("given, target", [
    ("2025-12-03 22:20:00+00", "2025-12-03 22:20:00+00:00"),
    ("2025-12-03 23:20:00+01", "2025-12-03 22:20:00+00:00"),
    ("2025-12-03T17:20:00-0500", "2025-12-03 22:20:00+00:00"),
    ("2025-12-03 22:20:00.250Z", "2025-12-03 22:20:00.250000+00:00"),
    (" 2025-12-03 22:20:00+00:00 ", "2025-12-03 22:20:00+00:00"),
])
def test_a_time_with_its_zone_is_restored_in_utc(given, target):
    plan = rh.restore_plan(json.dumps(INFO), given, None, now=NOW)
    assert plan["problems"] == [] and plan["type"] == "time" and plan["target"] == target
    assert [b["label"] for b in plan["backups"]] == ["20251203-221320F", "20251204-010000F_20251204-020000I"]


@pytest.mark.parametrize("given, problem", [
    ("2025-12-03 22:20:00", "is not a time with its zone"),
    ("yesterday", "is not a time with its zone"),
    ("2025-13-03 22:20:00+00", "is not a time with its zone"),
    ("2025-12-06 00:00:00+00", "is in the future (now 2025-12-05 02:00:00+00)"),
    ("2025-12-03 22:14:59+00", "is before the end of the oldest backup (20251203-221320F, 2025-12-03 22:15:00+00)"),
])
def test_a_bad_time_is_refused_naming_the_variable(given, problem):
    plan = rh.restore_plan(INFO, given, None, now=NOW)
    assert len(plan["problems"]) == 1 and plan["type"] is None
    assert plan["problems"][0].startswith(f"restore_target_time = {given!r}") and problem in plan["problems"][0]


def test_latest_replays_everything_and_needs_a_backup():
    assert rh.restore_plan(INFO, None, "latest")["type"] == "default"
    empty = [{"name": "demo", "status": {"code": 2, "message": "no valid backups"}, "backup": []}]
    assert rh.restore_plan(empty, None, "latest")["problems"] == [
        "The repository holds no backup of stanza demo (no valid backups): nothing to restore from."]
    assert "only target by name is 'latest'" in rh.restore_plan(INFO, None, "newest")["problems"][0]


@pytest.mark.parametrize("given_time, given_target", [(None, None), ("", ""), ("2025-12-03 22:20:00+00", "latest")])
def test_exactly_one_target_is_required(given_time, given_target):
    problems = rh.restore_plan(INFO, given_time, given_target)["problems"]
    assert len(problems) == 1 and problems[0].startswith("restore.yml needs exactly one target")


@given(st.integers(min_value=FIRST_STOP, max_value=NOW))
def test_any_moment_between_the_first_backup_and_now_is_restorable(moment):
    text = datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")
    plan = rh.restore_plan(INFO, text, None, now=NOW)
    assert plan["problems"] == [] and datetime.datetime.fromisoformat(plan["target"]).timestamp() == moment
