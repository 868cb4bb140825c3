"""roles/django_app/files/django_deploy_publish_static.py: publishing a release's static files.

Covers the first publish (nested directories too, mode 0644), a second run that publishes
nothing, a changed file republished, files only in TARGET never deleted, the top-level
staticfiles.json skipped, --check writing nothing yet listing what a real run would publish
(also with TARGET or a sub-directory missing), and main()'s usage error for wrong arguments.
"""
import importlib.util
import json
import os
import pwd
import stat
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "roles" / "django_app" / "files" / "django_deploy_publish_static.py"
_SPEC = importlib.util.spec_from_file_location("django_deploy_publish_static", _PATH)
publish_static = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(publish_static)

OWNER = pwd.getpwuid(os.getuid()).pw_name  # chown to oneself works as root or not


@pytest.fixture
def source(tmp_path):
    src = tmp_path / "release" / "static"
    (src / "css").mkdir(parents=True)
    (src / "js" / "vendor").mkdir(parents=True)
    (src / "css" / "app.css").write_text("body{}")
    (src / "js" / "app.js").write_text("run()")
    (src / "js" / "vendor" / "lib.js").write_text("lib()")
    (src / "staticfiles.json").write_text('{"paths": {}}')
    (src / ".django_deploy_collected").write_text("")  # prepare.yml's marker: not a static file
    return src


@pytest.fixture
def target(tmp_path):
    dst = tmp_path / "shared"
    dst.mkdir()
    return dst


ALL = ["css/app.css", "js/app.js", "js/vendor/lib.js"]


def run(capsys, *argv):
    code = publish_static.main(["django_deploy_publish_static.py", *map(str, argv)])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else captured.err)


def snapshot(directory):
    return {str(p.relative_to(directory)): (p.read_bytes() if p.is_file() else None) for p in directory.rglob("*")}


def test_first_publish_copies_every_file_with_mode_0644(source, target, capsys):
    code, result = run(capsys, source, target, OWNER)
    assert code == 0
    assert result == {"published": ALL, "unchanged": 0}
    for rel in ALL:
        assert (target / rel).read_bytes() == (source / rel).read_bytes()
        assert stat.S_IMODE((target / rel).stat().st_mode) == 0o644
    assert not list(target.rglob(".publish-*"))


def test_second_run_publishes_nothing_and_counts_unchanged(source, target, capsys):
    run(capsys, source, target, OWNER)
    assert run(capsys, source, target, OWNER) == (0, {"published": [], "unchanged": 3})


def test_a_changed_file_is_republished(source, target, capsys):
    run(capsys, source, target, OWNER)
    (source / "js" / "app.js").write_text("run(2)")
    assert run(capsys, source, target, OWNER) == (0, {"published": ["js/app.js"], "unchanged": 2})
    assert (target / "js" / "app.js").read_text() == "run(2)"


def test_files_only_in_target_are_never_deleted(source, target, capsys):
    (target / "css").mkdir()
    (target / "css" / "old.abc123.css").write_text("old release")
    (target / "gone.txt").write_text("older release")
    run(capsys, source, target, OWNER)
    assert (target / "css" / "old.abc123.css").read_text() == "old release"
    assert (target / "gone.txt").read_text() == "older release"


def test_top_level_manifest_is_skipped_but_a_nested_one_is_not(source, target, capsys):
    (source / "css" / "staticfiles.json").write_text("{}")
    code, result = run(capsys, source, target, OWNER)
    assert "staticfiles.json" not in result["published"]
    assert not (target / "staticfiles.json").exists()
    assert "css/staticfiles.json" in result["published"]


def test_check_writes_nothing_yet_lists_what_would_be_published(source, target, capsys):
    run(capsys, source, target, OWNER)
    (source / "js" / "app.js").write_text("run(2)")
    (source / "img").mkdir()
    (source / "img" / "logo.svg").write_text("<svg/>")
    before = snapshot(target)
    code, result = run(capsys, source, target, OWNER, "--check")
    assert (code, result) == (0, {"published": ["img/logo.svg", "js/app.js"], "unchanged": 2})
    assert snapshot(target) == before
    assert not (target / "img").exists()
    # and a real run then publishes exactly that
    assert run(capsys, source, target, OWNER)[1]["published"] == result["published"]


def test_check_accepts_a_missing_target_and_creates_nothing(source, tmp_path, capsys):
    missing = tmp_path / "not-yet"
    assert run(capsys, source, missing, OWNER, "--check") == (0, {"published": ALL, "unchanged": 0})
    assert not missing.exists()


@pytest.mark.parametrize("args", [
    [],
    ["{source}", "{target}"],                                # no OWNER
    ["{source}", "{target}", OWNER, "--force"],              # unknown flag
    ["{source}", "{target}", OWNER, "--check", "extra"],
    ["--check", "{source}", "{target}", OWNER],              # --check must come last
    ["{tmp}/no-source", "{target}", OWNER],
    ["{source}", "{tmp}/no-target", OWNER],                  # TARGET must exist for a real run
], ids=["none", "no-owner", "unknown-flag", "extra", "check-first", "no-source", "no-target"])
def test_main_returns_2_with_usage_for_wrong_arguments(args, source, target, tmp_path, capsys):
    argv = [a.format(source=source, target=target, tmp=tmp_path) for a in args]
    code, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("usage: django_deploy_publish_static.py SOURCE_DIR TARGET_DIR OWNER [--check]")
    assert not (tmp_path / "no-target").exists()
    assert list(target.iterdir()) == []
