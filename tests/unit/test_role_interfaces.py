"""Every role's contract: defaults/main.yml and meta/argument_specs.yml say the same thing.

Role variables apply from defaults/main.yml; argument_specs.yml is what users read and what
validates their input. dev-sec's hardening roles drift between the two without such a test.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.django_deploy.stack.plugins.module_utils import plan, stack

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").is_file())


def _load(path: Path):
    return yaml.safe_load(path.read_text()) if path.is_file() else None


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_has_the_common_skeleton(role):
    assert (role / "meta" / "argument_specs.yml").is_file(), "every role documents its variables"
    assert (role / "defaults" / "main.yml").is_file()
    assert not (role / "meta" / "main.yml").is_file() or not (
        _load(role / "meta" / "main.yml") or {}
    ).get("dependencies"), "no meta dependencies: the playbooks order the roles"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_match_argument_specs(role):
    defaults = _load(role / "defaults" / "main.yml") or {}
    options = _load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    problems = [f"{name}: in defaults but not in argument_specs" for name in defaults if name not in options]
    for name, spec in options.items():
        if name in stack.PUBLIC_DEFAULTS:
            # The stack model holds the default; the role reads the value from the model.
            if spec.get("default") != stack.PUBLIC_DEFAULTS[name]:
                problems.append(f"{name}: spec default {spec.get('default')!r} != stack model's "
                                f"{stack.PUBLIC_DEFAULTS[name]!r}")
            if name in defaults and "{{" not in str(defaults[name]):
                problems.append(f"{name}: the role's default must read the stack model")
            continue
        if name in stack.DERIVED and "default" in spec:
            problems.append(f"{name}: its default follows another value: state it in the description")
        if name not in defaults and (name in stack.DERIVED or name in plan.OVERRIDE_VARS + plan.SIZE_VARS):
            continue  # unset: derived by the stack model
        if name not in defaults:
            if not spec.get("required"):
                problems.append(f"{name}: documented but has no default")
            continue
        templated = "{{" in str(defaults[name])
        if templated and "default" in spec:
            problems.append(f"{name}: templated default must not state a literal default in the spec")
        if not templated and spec.get("default") != defaults[name]:
            problems.append(f"{name}: default {defaults[name]!r} != spec {spec.get('default')!r}")
        if "description" not in spec:
            problems.append(f"{name}: no description")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_public_variables_carry_the_role_prefix(role):
    defaults = _load(role / "defaults" / "main.yml") or {}
    assert all(name.startswith(f"{role.name}_") for name in defaults), sorted(defaults)


def test_handler_names_are_unique_across_the_collection():
    # Two handlers with the same name shadow each other silently (style.md, E5).
    seen: dict[str, str] = {}
    clashes = []
    for role in ROLES:
        for handler in _load(role / "handlers" / "main.yml") or []:
            name = handler["name"]
            if name in seen:
                clashes.append(f"{name}: {seen[name]} and {role.name}")
            seen[name] = role.name
    assert not clashes, clashes
