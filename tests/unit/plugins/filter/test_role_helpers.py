"""plugins/filter/role_helpers.py: the filters over plugins/module_utils/role_helpers.py.

Each function replaced a Jinja expression of a role; the `*_matches_the_former_jinja` properties
render that expression (as it stood in the role) with Ansible's own templating and check that the
function decides the same, so the roles behave as before.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import StrictUndefined

from ansible_collections.django_deploy.stack.plugins.filter.role_helpers import FilterModule
from ansible_collections.django_deploy.stack.plugins.module_utils import role_helpers as rh

FILTERS = FilterModule().filters()
NAMES = ["rabbitmq_state", "releases_to_remove", "pgpass_line", "bad_sysctls", "missing_packages", "in_networks",
         "certificate_problems", "restore_plan"]
FILTER_DIR = Path(__file__).resolve().parents[4] / "plugins" / "filter"
RELEASES = "/srv/demo/releases"
WHEELS = "/srv/demo/wheels"


def render(expression: str, **variables):
    """An expression as a role's vars file would render it."""
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


# --- the filters' interface --------------------------------------------------------------------


def test_filter_names_are_the_public_interface():
    assert sorted(FILTERS) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_filter_has_a_sidecar_doc(name):
    doc = yaml.safe_load((FILTER_DIR / f"{name}.yml").read_text())
    assert doc["DOCUMENTATION"]["name"] == name
    assert doc["DOCUMENTATION"]["version_added"] == "1.1.0"
    assert "_input" in doc["DOCUMENTATION"]["options"]
    assert f"django_deploy.stack.{name}" in doc["EXAMPLES"]
    assert "_value" in doc["RETURN"]


@pytest.mark.parametrize("name, args, kwargs, message", [
    ("rabbitmq_state", ({"rc": 0, "stdout": "not json"}, "demo", "pw", "demo"), {},
     "rabbitmq_state: export_definitions: rabbitmqctl printed no JSON"),
    ("rabbitmq_state", ({"rc": 0, "stdout": '{"users": {}}'}, "demo", "pw", "demo"), {},
     "rabbitmq_state: export_definitions: rabbitmqctl printed users that are not a list of objects"),
    ("rabbitmq_state", ({"stdout": "{}"}, "demo", "pw", "demo"), {},
     "rabbitmq_state: result must be a registered command result"),
    ("rabbitmq_state", ({"rc": 0, "stdout": "{}"}, "demo", "pw", ""), {},
     "rabbitmq_state: vhost must be a non-empty string"),
    ("releases_to_remove", ([], "/srv/demo/releases", "three"), {},
     "releases_to_remove: keep must be an integer, got 'three'"),
    ("releases_to_remove", ([], "/srv/demo/releases", -1), {}, "releases_to_remove: keep must be >= 0, got -1"),
    ("releases_to_remove", ([{"path": "/srv/demo/releases/a"}], "/srv/demo/releases", 1), {},
     r"releases_to_remove: found\[0\] must be a find result entry with path and mtime"),
    ("releases_to_remove", ([], "releases", 1), {}, "releases_to_remove: directory must be an absolute path"),
    ("pgpass_line", ("pass\nword",), {"user": "replicator"},
     "pgpass_line: password contains a line break or NUL, which a pgpass line cannot hold"),
    ("pgpass_line", ("secret",), {}, "pgpass_line: missing a required argument: 'user'"),
    ("pgpass_line", ("secret", ["replicator"]), {}, "pgpass_line: user must be a string, got list"),
    ("pgpass_line", ("secret", ""), {}, r"pgpass_line: user must not be empty \(use '\*' for any\)"),
    ("bad_sysctls", (["vm.swappiness"],), {}, "bad_sysctls: sysctls must be a mapping"),
    ("missing_packages", (["acl"], "acl installed"), {}, "missing_packages: dpkg must be a list of lines"),
    ("missing_packages", ("acl", []), {}, "missing_packages: wanted must be a list of package names"),
])
def test_bad_input_raises_a_filter_error_naming_the_filter(name, args, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        FILTERS[name](*args, **kwargs)


def test_a_failing_password_is_never_in_the_message():
    with pytest.raises(AnsibleFilterError) as caught:
        FILTERS["pgpass_line"]("s3cret\r\nvalue", "replicator")
    assert "s3cret" not in str(caught.value)


def test_strings_from_extra_vars_are_coerced():
    found = [{"path": f"/r/{n}", "mtime": n} for n in range(5)]
    assert FILTERS["releases_to_remove"](found, "/r", "3") == ["/r/1", "/r/0"]
    assert FILTERS["pgpass_line"](12345, "replicator", port=5432) == "*:5432:*:replicator:12345"


def test_undefined_is_passed_through():
    undefined = StrictUndefined(name="__rabbitmq_definitions")
    assert FILTERS["rabbitmq_state"](undefined, "demo", "pw", "demo") is undefined


# --- the former Jinja ---------------------------------------------------------------------------


FORMER_RELEASES = ("{{ (__django_app_found['files'] | selectattr('path', 'match', __django_app_releases ~ '/')"
                   " | sort(attribute='mtime', reverse=true) | map(attribute='path') | reject('in', __django_app_keep)"
                   " | list)[django_app_releases_keep | int:] }}")
FORMER_WHEELS = ("{{ (__django_app_found['files'] | selectattr('path', 'match', __django_app_wheels ~ '/')"
                 " | sort(attribute='mtime', reverse=true) | map(attribute='path')"
                 " | reject('eq', __django_app_wheelhouse | default('')) | list)[django_app_releases_keep | int:] }}")

_entries = st.lists(st.tuples(st.sampled_from([RELEASES, WHEELS]), st.integers(0, 6)), max_size=10)


@settings(max_examples=150, deadline=None)
@given(entries=_entries, keep=st.integers(0, 5), current=st.integers(-1, 9), previous=st.integers(-1, 9),
       wheelhouse=st.integers(-1, 9))
def test_releases_to_remove_matches_the_former_jinja(entries, keep, current, previous, wheelhouse):
    found = [{"path": f"{directory}/{index}", "mtime": float(mtime)} for index, (directory, mtime) in enumerate(entries)]

    def release(index):
        return f"{RELEASES}/{index}" if index >= 0 else ""

    protect = [release(current), release(previous)]
    variables = {"__django_app_found": {"files": found}, "__django_app_releases": RELEASES,
                 "__django_app_wheels": WHEELS, "django_app_releases_keep": keep,
                 "__django_app_keep": [path for path in protect if path],
                 "__django_app_wheelhouse": f"{WHEELS}/{wheelhouse}" if wheelhouse >= 0 else ""}
    assert rh.releases_to_remove(found, RELEASES, keep, protect) == render(FORMER_RELEASES, **variables)
    assert (rh.releases_to_remove(found, WHEELS, keep, [variables["__django_app_wheelhouse"]])
            == render(FORMER_WHEELS, **variables))


@settings(deadline=None)
@given(password=st.text(st.characters(exclude_characters="\n\r\0", exclude_categories=["Cs"])))
def test_pgpass_line_matches_the_former_jinja(password):
    # The postgresql role's former content line, with its one-backslash variable.
    former = render("*:*:replication:{{ user }}:{{ password | replace(bs, bs * 2) | replace(':', bs ~ ':') }}",
                    user="replicator", password=password, bs=trust_as_template("{{ '%c' | format(92) }}"))
    assert rh.pgpass_line(password, "replicator", database="replication") == former


FORMER_SYSCTLS = (
    "{% for name, value in (common_sysctls | combine(common_extra_sysctls)).items()\n"
    "   if not (name is match('^[a-z0-9_]+(\\.[a-zA-Z0-9_-]+)+$')"
    " and value | string is match('^-?[0-9]+( -?[0-9]+)*$')) -%}\n"
    "{{ name }} = {{ value }}{{ '' if loop.last else ', ' }}\n"
    "{%- endfor %}")

_sysctl_names = st.one_of(st.sampled_from(["net.core.somaxconn", "vm.swappiness", "fs.file-max", "net.ipv4.tcp_fin_timeout",
                                           "Vm.swappiness", "vm", "vm.", "vm swappiness", "kernel.core_pattern"]),
                          st.from_regex(r"[a-z0-9_]{1,5}(\.[a-zA-Z0-9_-]{1,5}){1,3}", fullmatch=True),
                          st.text(st.characters(codec="ascii", exclude_characters="\n\r"), max_size=8))
_sysctl_values = st.one_of(st.integers(-5, 70000), st.booleans(),
                           st.sampled_from(["1", "1024 65535", "-1", "1  2", " 1", "1 ", "lots", "", "0x10", "4 -5 6"]),
                           st.text(st.characters(codec="ascii", exclude_characters="\n\r"), max_size=6))


# The former expression's Jinja string literal spelt the dot as '\.': Jinja warns about it.
@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")
@settings(max_examples=200, deadline=None)
@given(sysctls=st.dictionaries(_sysctl_names, _sysctl_values, max_size=5),
       extra=st.dictionaries(_sysctl_names, _sysctl_values, max_size=3))
def test_bad_sysctls_matches_the_former_jinja(sysctls, extra):
    former = render(FORMER_SYSCTLS, common_sysctls=sysctls, common_extra_sysctls=extra)
    assert ", ".join(rh.bad_sysctls({**sysctls, **extra})) == (former or "")


FORMER_MISSING = ("{{ wanted | difference(lines | select('match', '^[^ ]+ installed$')"
                  " | map('split') | map('first')) }}")
_packages = st.sampled_from(["acl", "locales", "tzdata", "curl", "vim"])
_status = st.sampled_from(["installed", "config-files", "half-installed", "not-installed", "unpacked"])


@settings(deadline=None)
@given(wanted=st.lists(_packages, max_size=5), rows=st.lists(st.tuples(_packages, _status), max_size=6))
def test_missing_packages_matches_the_former_jinja(wanted, rows):
    lines = [f"{package} {status}" for package, status in rows]
    # The former difference went through a set: same members, in any order.
    assert sorted(rh.missing_packages(wanted, lines)) == sorted(render(FORMER_MISSING, wanted=wanted, lines=lines))


@pytest.mark.parametrize(("address", "networks", "expected"), [
    ("192.0.2.10", ["0.0.0.0/0", "::/0"], True),
    ("192.0.2.10", ["192.0.2.0/24"], True),
    ("192.0.2.10", ["192.0.2.11"], False),
    ("::ffff:192.0.2.10", ["192.0.2.10/32"], True),
    ("2001:db8::5", ["2001:db8::/64"], True),
    ("2001:db8::5", ["0.0.0.0/0"], False),
    ("10.1.2.3", ["10.1.2.0/8"], True),  # host bits set: the network they belong to
])
def test_in_networks(address, networks, expected):
    assert FILTERS["in_networks"](address, networks) is expected
