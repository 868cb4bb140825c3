"""restart_inputs: digests of a consumer's input files in a state directory (a tmp dir here)."""
from __future__ import annotations

import json
import stat
from types import SimpleNamespace

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.django_deploy.stack.plugins.modules import restart_inputs as mod

SECRET = "DJANGO_SECRET_KEY='canary-0123456789'\n"


@pytest.fixture
def inputs(tmp_path):
    """An environment file and a settings module, and the state directory (not created yet)."""
    etc = tmp_path / "etc"
    etc.mkdir()
    environment = etc / "environment"
    environment.write_text(SECRET)
    settings = etc / "settings.py"
    settings.write_text("DEBUG = False\n")
    return SimpleNamespace(environment=environment, settings=settings, state_dir=tmp_path / "state" / "restart-inputs")


def run(consumer, paths, state_dir, check_mode=False, diff=False):
    """The module's (result, warnings)."""
    return mod.run(consumer, [str(path) for path in paths], str(state_dir), check_mode, diff)


def check(consumer, paths, state_dir, check_mode=False, diff=False):
    """The module's result."""
    result, _warnings = run(consumer, paths, state_dir, check_mode, diff)
    return result


def test_first_run_records_the_inputs_and_reports_a_change(inputs):
    environment, settings, state_dir = inputs.environment, inputs.settings, inputs.state_dir
    result, warnings = run("gunicorn-demo-restart", [environment, settings], state_dir)
    assert result["changed"] and warnings == []
    assert result["changed_paths"] == sorted([str(environment), str(settings)])
    assert result["previous_digest"] is None and result["inputs"][str(environment)].startswith("sha256:")
    state_file = state_dir / "gunicorn-demo-restart.json"
    assert result["state_file"] == str(state_file)
    record = json.loads(state_file.read_text())
    assert record["inputs"] == result["inputs"] and record["digest"] == result["digest"]
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert [p.name for p in state_dir.iterdir()] == ["gunicorn-demo-restart.json"], "no temporary file left"


def test_unchanged_inputs_report_nothing_and_leave_the_record_alone(inputs):
    environment, settings, state_dir = inputs.environment, inputs.settings, inputs.state_dir
    first = check("celery-demo-restart", [environment, settings], state_dir)
    state_file = state_dir / "celery-demo-restart.json"
    before = state_file.stat().st_mtime_ns
    # The order of the paths does not matter.
    again = check("celery-demo-restart", [settings, environment], state_dir)
    assert not again["changed"] and again["changed_paths"] == []
    assert again["digest"] == again["previous_digest"] == first["digest"]
    assert state_file.stat().st_mtime_ns == before


def test_a_changed_file_is_a_change_for_each_consumer_that_reads_it_once(inputs):
    environment, settings, state_dir = inputs.environment, inputs.settings, inputs.state_dir
    run("gunicorn-demo-restart", [environment], state_dir)
    run("gunicorn-demo-reload", [settings], state_dir)
    settings.write_text("DEBUG = False\nCACHES = {}\n")
    restart = check("gunicorn-demo-restart", [environment], state_dir)
    reload = check("gunicorn-demo-reload", [settings], state_dir)
    assert not restart["changed"], "the environment did not change: no restart"
    assert reload["changed"] and reload["changed_paths"] == [str(settings)]
    assert not check("gunicorn-demo-reload", [settings], state_dir)["changed"], "recorded: reported once"


def test_check_mode_reports_the_change_and_writes_nothing(inputs):
    environment, settings, state_dir = inputs.environment, inputs.settings, inputs.state_dir
    result = check("mod-wsgi-demo-restart", [environment], state_dir, check_mode=True)
    assert result["changed"] and not state_dir.exists()
    run("mod-wsgi-demo-restart", [environment], state_dir)
    record = (state_dir / "mod-wsgi-demo-restart.json").read_text()
    environment.write_text(SECRET + "EXTRA=1\n")
    # Still a change, twice: check mode recorded nothing.
    assert check("mod-wsgi-demo-restart", [environment], state_dir, check_mode=True)["changed_paths"] == [str(environment)]
    assert check("mod-wsgi-demo-restart", [environment], state_dir, check_mode=True)["changed_paths"] == [str(environment)]
    assert (state_dir / "mod-wsgi-demo-restart.json").read_text() == record
    environment.write_text(SECRET)
    assert not check("mod-wsgi-demo-restart", [environment], state_dir, check_mode=True)["changed"]


def test_a_missing_file_is_recorded_as_absent_and_its_arrival_is_a_change(inputs):
    environment, state_dir = inputs.environment, inputs.state_dir
    later = environment.parent / "later"
    first = check("app-restart", [environment, later], state_dir)
    assert first["inputs"][str(later)] is None
    assert not check("app-restart", [environment, later], state_dir)["changed"]
    later.write_text("x")
    arrived = check("app-restart", [environment, later], state_dir)
    assert arrived["changed"] and arrived["changed_paths"] == [str(later)]
    later.unlink()
    assert check("app-restart", [environment, later], state_dir)["changed_paths"] == [str(later)]


def test_a_dangling_symlink_counts_as_a_missing_file(inputs):
    environment, state_dir = inputs.environment, inputs.state_dir
    link = environment.parent / "link"
    link.symlink_to(environment.parent / "nowhere")
    assert check("app-restart", [link], state_dir)["inputs"] == {str(link): None}


def test_a_different_set_of_inputs_is_a_change(inputs):
    environment, settings, state_dir = inputs.environment, inputs.settings, inputs.state_dir
    run("app-restart", [environment], state_dir)
    result = check("app-restart", [environment, settings], state_dir)
    assert result["changed"] and result["changed_paths"] == [str(settings)]
    result = check("app-restart", [settings], state_dir)
    assert result["changed"] and result["changed_paths"] == [str(environment)]


def test_an_unreadable_record_is_replaced_with_a_warning(inputs):
    environment, state_dir = inputs.environment, inputs.state_dir
    state_dir.mkdir(parents=True)
    (state_dir / "app-restart.json").write_text("{not json")
    result, warnings = run("app-restart", [environment], state_dir)
    assert result["changed"] and result["previous_digest"] is None
    assert len(warnings) == 1 and "ignoring the unreadable state file" in warnings[0]
    assert not check("app-restart", [environment], state_dir)["changed"]
    (state_dir / "app-restart.json").write_text('{"inputs": ["not", "a", "mapping"]}')
    assert run("app-restart", [environment], state_dir)[1] == [
        f"ignoring the state file {state_dir}/app-restart.json: it has no inputs mapping"]


def test_diff_and_result_carry_digests_never_content(inputs):
    environment, state_dir = inputs.environment, inputs.state_dir
    run("app-restart", [environment], state_dir)
    environment.write_text(SECRET.replace("0123", "4567"))
    result = check("app-restart", [environment], state_dir, diff=True)
    diff = result["diff"]
    assert diff["before"] != diff["after"] and diff["after"].startswith(f"{environment}: sha256:")
    assert "canary" not in json.dumps(result)
    assert "canary" not in (state_dir / "app-restart.json").read_text()
    first = check("new-consumer", [environment], state_dir, check_mode=True, diff=True)
    assert first["diff"]["before"] == ""


@pytest.mark.parametrize("consumer", ["", ".hidden", "../escape", "a/b", "gunicorn demo", "x\n"])
def test_consumer_names_stay_inside_the_state_directory(inputs, consumer):
    environment, state_dir = inputs.environment, inputs.state_dir
    with pytest.raises(mod.InputError, match="consumer must be"):
        run(consumer, [environment], state_dir)


def test_paths_must_be_absolute_files(inputs, tmp_path):
    environment, state_dir = inputs.environment, inputs.state_dir
    with pytest.raises(mod.InputError, match="paths must be absolute, got etc/environment"):
        mod.run("app-restart", ["etc/environment"], str(state_dir))
    with pytest.raises(mod.InputError, match="paths must name at least one file"):
        mod.run("app-restart", [], str(state_dir))
    with pytest.raises(mod.InputError, match="is not a regular file"):
        run("app-restart", [environment.parent], state_dir)


def test_an_unreadable_input_fails(inputs, monkeypatch):
    environment, state_dir = inputs.environment, inputs.state_dir
    real_open = open

    def refusing_open(path, *args, **kwargs):
        if str(path) == str(environment):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    # Tests may run as root, who reads any file: refuse this one instead of chmod 0.
    monkeypatch.setattr("builtins.open", refusing_open)
    with pytest.raises(mod.InputError, match=f"cannot read {environment}: Permission denied"):
        run("app-restart", [environment], state_dir)
    assert not state_dir.exists()


def _main(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit):
        mod.main()
    return json.loads(capsys.readouterr().out)


def test_the_module_honours_check_mode_and_diff(inputs, capsys):
    environment, settings, state_dir = inputs.environment, inputs.settings, inputs.state_dir
    args = {"consumer": "gunicorn-demo-reload", "paths": [str(settings)], "state_dir": str(state_dir)}
    checked = _main(capsys, **args, _ansible_check_mode=True, _ansible_diff=True)
    assert checked["changed"] and "diff" in checked and not state_dir.exists()
    applied = _main(capsys, **args)
    assert applied["changed"] and "diff" not in applied and (state_dir / "gunicorn-demo-reload.json").is_file()
    assert not _main(capsys, **args, _ansible_check_mode=True)["changed"]
    failed = _main(capsys, **{**args, "consumer": "../x"})
    assert failed["failed"] and "consumer must be" in failed["msg"]
