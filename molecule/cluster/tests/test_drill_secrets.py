"""Issue 8, drill 6: a verbose run with --diff prints no secret. Runs last: it rotates them.

site.yml runs with -vvv --diff and a new, distinctive value ("canary") for every secret, passed as
extra vars from a file. Every consumer re-renders (so the run really handles them: its diffs and
module arguments are printed at this verbosity) and none of the canaries may appear in the output,
neither as they are nor URL- or base64-encoded. Then the cluster must work with the new secrets.
"""
import base64
import json
import secrets
import urllib.parse
import uuid

import pytest

from conftest import HOST_NAMES, SITE_PLAYBOOK, note_is_counted, page
from scenario_testing import recap, report

SECRETS = ("django_app_secret_key", "postgresql_app_password", "postgresql_replication_password",
           "rabbitmq_app_password", "pgbouncer_auth_password")
# Hosts that hold some secret: each must change when every secret does.
HOLDERS = ("web1", "web2", "db1", "db2", "mq1", "worker1")


def spellings(value: str) -> set[str]:
    """The value, URL-encoded, and the base64 text it yields at any of the three byte alignments
    (without the characters its neighbours would change)."""
    found = {value, urllib.parse.quote(value, safe="")}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + value.encode()).decode().rstrip("=")
        found.add(encoded[4 if shift else 0:-4])
    return found


@pytest.fixture(scope="module")
def rotation(playbook, tmp_path_factory):
    canaries = {name: f"canary-{name.replace('_', '-')}-{secrets.token_hex(12)}" for name in SECRETS}
    extra = tmp_path_factory.mktemp("canaries") / "canaries.json"
    extra.write_text(json.dumps(canaries))
    run = playbook(SITE_PLAYBOOK, "-vvv", "--diff", "-e", f"@{extra}")
    return canaries, run


def test_verbose_diff_run_prints_no_secret(rotation):
    canaries, run = rotation
    assert run.returncode == 0, run.stdout[-4000:]
    lines = run.stdout.splitlines()
    leaks = [f"{name} at line {number}: {line[:300]}"
             for number, line in enumerate(lines, 1)
             for name, value in canaries.items()
             if any(spelling in line for spelling in spellings(value))]
    report(f"secrets: scanned {len(lines)} lines ({len(run.stdout)} characters) of site.yml -vvv --diff"
           f" for {len(canaries)} canaries (plain, URL-encoded, base64): {len(leaks)} found")
    assert not leaks, "\n".join(leaks[:20])
    counts = recap(run.stdout)
    assert set(counts) == set(HOST_NAMES)
    unchanged = [name for name in HOLDERS if counts[name]["changed"] == 0]
    assert not unchanged, f"the new secrets did not reach {unchanged}: the scan proves nothing there"


def test_cluster_works_with_the_rotated_secrets(rotation, http, hosts):
    assert {page(http).get("status") for _ in range(4)} == {200}
    missing = note_is_counted(http, hosts, f"after rotation {uuid.uuid4().hex}")
    assert not missing, missing
