"""roles/django_app/files/django_app_bundle.py: the wheels fetched for the hosts, not the controller.

Runs the real script's pip (this Python's) offline against a directory of tiny wheels written
here (--no-index --find-links, no pip configuration): the requirements' markers are evaluated with
the hosts' Python and machine (3.11.2 and 3.11.7 get different sets on the same controller), the
wheels of the hosts' ABI are taken, and a requirement the hosts' Python cannot have, or that has
no wheel and no source, fails with one short message. Requirements with a source only (on the
index or by URL) are built here and kept when pure Python; one that builds a C extension, or is a
local directory, fails with one message. Their sources have an in-tree PEP 517 backend with no
build requirements, so that pip's isolated builds need no index. Also: every pip run is bounded in
time, and a controller Python without pip is named.
"""
import base64
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import time
import venv
import zipfile
from pathlib import Path

import pytest
from ansible_collections.django_deploy.stack.plugins.module_utils import stack

_PATH = Path(__file__).resolve().parents[4] / "roles" / "django_app" / "files" / "django_app_bundle.py"
_SPEC = importlib.util.spec_from_file_location("django_app_bundle", _PATH)
bundle = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bundle)


def _wheel(directory, name, requires=(), requires_python=None, tag="py3-none-any", version="1.0"):
    """A minimal valid wheel of an empty package."""
    dist_info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += f"Requires-Python: {requires_python}\n" if requires_python else ""
    metadata += "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
    files = {
        f"{name}/__init__.py": b"",
        f"{dist_info}/METADATA": metadata.encode(),
        f"{dist_info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n".encode(),
    }
    record = []
    with zipfile.ZipFile(directory / f"{name}-{version}-{tag}.whl", "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record + [f"{dist_info}/RECORD,,"]) + "\n")


# A PEP 517 backend in the source tree: builds a wheel of an empty package, named, versioned and
# tagged as wheel.txt says.
_BACKEND = """\
import base64, hashlib, os, zipfile

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open("wheel.txt") as handle:
        name, version, tag = handle.read().split()
    dist_info = "%s-%s.dist-info" % (name, version)
    files = {name + "/__init__.py": b"",
             dist_info + "/METADATA": ("Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n" % (name, version)).encode(),
             dist_info + "/WHEEL": ("Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: %s\\n" % tag).encode()}
    filename = "%s-%s-%s.whl" % (name, version, tag)
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append("%s,sha256=%s,%d" % (path, digest, len(data)))
        archive.writestr(dist_info + "/RECORD", "\\n".join(record + [dist_info + "/RECORD,,"]) + "\\n")
    return filename
"""


def _source_tree(directory, name, tag="py3-none-any", version="1.0", build_requires=(), pkg_info=None):
    tree = directory / f"{name}-{version}"
    tree.mkdir(parents=True)
    (tree / "pyproject.toml").write_text(f'[build-system]\nrequires = {json.dumps(list(build_requires))}\n'
                                         'build-backend = "backend"\nbackend-path = ["."]\n')
    if pkg_info is not None:
        (tree / "PKG-INFO").write_text(pkg_info)
    (tree / "backend.py").write_text(_BACKEND)
    (tree / "wheel.txt").write_text(f"{name} {version} {tag}")
    return tree


def _sdist(directory, name, tag="py3-none-any", version="1.0", build_requires=(), pkg_info=None):
    """A source distribution name-version.tar.gz in directory, built by _BACKEND."""
    tree = _source_tree(directory / "trees", name, tag, version, build_requires, pkg_info)
    with tarfile.open(directory / f"{name}-{version}.tar.gz", "w:gz") as tar:
        tar.add(tree, arcname=tree.name)
    return directory / f"{name}-{version}.tar.gz"


@pytest.fixture
def index(tmp_path, monkeypatch):
    """A directory of wheels, pip's only source (no index, no configuration, no PIP_* variables)."""
    for variable in [name for name in os.environ if name.startswith("PIP_")]:
        monkeypatch.delenv(variable)
    wheels = tmp_path / "index"
    wheels.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    _wheel(wheels, "ddtest_app", requires=['ddtest_dep; python_full_version < "3.11.3"',
                                           'ddtest_arm; platform_machine == "aarch64"', "ddtest_bin"])
    _wheel(wheels, "ddtest_dep")
    _wheel(wheels, "ddtest_arm")
    for tag in ("cp311-cp311-manylinux_2_17_x86_64", "cp313-cp313-manylinux_2_17_x86_64",
                "cp313-cp313-manylinux_2_39_aarch64", "cp311-cp311-manylinux_2_17_aarch64"):
        _wheel(wheels, "ddtest_bin", tag=tag)
    _wheel(wheels, "ddtest_new", requires_python=">=3.12")
    _wheel(wheels, "ddtest_needs_source", requires=["ddtest_source"])
    _sdist(wheels, "ddtest_source")
    _sdist(wheels, "ddtest_cext", tag="cp311-cp311-linux_x86_64")
    return wheels


def _project(tmp_path, requirements):
    src = tmp_path / "project"
    src.mkdir(exist_ok=True)
    (src / "manage.py").write_text("")
    (src / "requirements.txt").write_text(requirements)
    return src


def _params(tmp_path, src, python_version, machine="x86_64", debian_release="12"):
    """What release.yml passes for hosts of this Debian release: the stack model's platform facts."""
    platform = stack._platform({}, {"distribution_major_version": debian_release})
    return {"src": str(src), "name": "demo", "build_dir": str(tmp_path / "build"), "python_version": python_version,
            "machine": machine, "glibc": platform["glibc"], "newer_pythons": platform["newer_pythons"]}


def _members(archive):
    with tarfile.open(archive) as tar:
        return tar.getnames()


@pytest.mark.parametrize("python_version, machine, debian_release, wheels", [
    ("3.11.2", "x86_64", "12", ["ddtest_app-1.0-py3-none-any.whl", "ddtest_bin-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
                                "ddtest_dep-1.0-py3-none-any.whl"]),
    ("3.11.7", "x86_64", "12", ["ddtest_app-1.0-py3-none-any.whl", "ddtest_bin-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"]),
    ("3.13.5", "x86_64", "13", ["ddtest_app-1.0-py3-none-any.whl", "ddtest_bin-1.0-cp313-cp313-manylinux_2_17_x86_64.whl"]),
    ("3.13.5", "aarch64", "13", ["ddtest_app-1.0-py3-none-any.whl", "ddtest_arm-1.0-py3-none-any.whl",
                                 "ddtest_bin-1.0-cp313-cp313-manylinux_2_39_aarch64.whl"]),
])
def test_the_wheels_are_those_of_the_hosts(tmp_path, index, python_version, machine, debian_release, wheels):
    """Markers, ABI and platform are the hosts' whatever the controller runs (here Python 3.11.x)."""
    src = _project(tmp_path, "ddtest_app\n")
    result = bundle.bundle(_params(tmp_path, src, python_version, machine, debian_release))
    assert result["changed"] is True
    assert _members(result["wheels_archive"]) == wheels + ["requirements.lock"]
    again = bundle.bundle(_params(tmp_path, src, python_version, machine, debian_release))
    assert again == dict(result, changed=False)


def test_the_projects_pins_win_over_the_deployments_additions(tmp_path, index):
    """The project requires ddtest_dep itself (here through an included file): the deployment's own
    pin of it is left out, instead of pip refusing two pins of one project."""
    _wheel(index, "ddtest_dep", version="2.0")
    src = _project(tmp_path, "-r base.txt\n")
    (src / "base.txt").write_text("ddtest_dep==1.0\n")
    params = dict(_params(tmp_path, src, "3.11.7"), extra_requirements=["ddtest_dep==2.0", "ddtest_arm"])
    result = bundle.bundle(params)
    assert _members(result["wheels_archive"]) == ["ddtest_arm-1.0-py3-none-any.whl", "ddtest_dep-1.0-py3-none-any.whl",
                                                  "requirements.lock"]


def test_a_requirement_change_is_a_new_release_and_wheelhouse(tmp_path, index):
    """An included requirements file counts too: the release and its wheels follow what is required."""
    src = _project(tmp_path, "-r base.txt\n")
    (src / "base.txt").write_text("ddtest_dep\n")
    first = bundle.bundle(_params(tmp_path, src, "3.11.7"))
    (src / "base.txt").write_text("ddtest_dep\nddtest_arm\n")
    second = bundle.bundle(_params(tmp_path, src, "3.11.7"))
    assert second["release"] != first["release"] and second["wheelhouse_key"] != first["wheelhouse_key"]
    (src / "base.txt").write_text("ddtest_dep\n")
    assert bundle.bundle(_params(tmp_path, src, "3.11.7")) == dict(first, changed=False)


def test_a_real_conflict_is_one_message_naming_both(tmp_path, index):
    _wheel(index, "ddtest_dep", version="2.0")
    _wheel(index, "ddtest_pins", requires=["ddtest_dep==2.0"])
    src = _project(tmp_path, "ddtest_dep==1.0\nddtest_pins\n")
    with pytest.raises(bundle.BundleError) as caught:
        bundle.bundle(_params(tmp_path, src, "3.11.7"))
    first = str(caught.value).splitlines()[0]
    assert first.startswith("The requirements conflict: pip cannot install ")
    assert "requirements.txt (line 2) and ddtest_dep==1.0 together" in first
    assert "(The user requested ddtest_dep==1.0; ddtest-pins 1.0 depends on ddtest_dep==2.0)" in first


def test_a_missing_included_file_is_named(tmp_path, index):
    src = _project(tmp_path, "-r missing.txt\n")
    with pytest.raises(bundle.BundleError, match="has no missing.txt"):
        bundle.bundle(_params(tmp_path, src, "3.11.7"))


def test_a_glibc_older_than_the_wheels_platform_gets_no_wheel(tmp_path, index):
    src = _project(tmp_path, "ddtest_bin\n")
    params = dict(_params(tmp_path, src, "3.13.5", "aarch64"), glibc="2.36")  # the wheel needs 2.39
    with pytest.raises(bundle.BundleError, match=r"^ddtest_bin has no wheel for the hosts "
                                                 r"\(CPython 3\.13\.5 on manylinux_2_36_aarch64\)"):
        bundle.bundle(params)


def test_a_requirement_for_a_newer_python_names_it_and_the_way_out(tmp_path, index):
    src = _project(tmp_path, "ddtest_new\n")
    with pytest.raises(bundle.BundleError) as failure:
        bundle.bundle(_params(tmp_path, src, "3.11.2"))
    first, *detail = str(failure.value).splitlines()
    assert first == ("ddtest-new requires Python >=3.12 and the hosts run Python 3.11.2: require a version of it "
                     "that supports Python 3.11, or deploy to hosts with a newer Python (Debian 13 hosts run "
                     "Python 3.13).")
    assert detail == ["ERROR: Package 'ddtest-new' requires a different Python: 3.11.2 not in '>=3.12'"]
    assert bundle.bundle(_params(tmp_path, src, "3.13.5", debian_release="13"))["changed"] is True


def test_a_requirement_with_neither_wheel_nor_source_is_named(tmp_path, index):
    src = _project(tmp_path, "ddtest_app\nddtest-nowhere==2.0\n")
    with pytest.raises(bundle.BundleError) as failure:
        bundle.bundle(_params(tmp_path, src, "3.11.2"))
    first, *detail = str(failure.value).splitlines()
    assert first == ("ddtest-nowhere==2.0 has no wheel for the hosts (CPython 3.11.2 on manylinux_2_36_x86_64) and "
                     "no source distribution pip could fetch to build one from.")
    assert detail[-1] == "ERROR: No matching distribution found for ddtest-nowhere==2.0"


def test_a_dependency_with_only_a_source_gets_a_pure_wheel_built_here(tmp_path, index):
    src = _project(tmp_path, "ddtest_needs_source\n")
    result = bundle.bundle(_params(tmp_path, src, "3.13.5", debian_release="13"))
    assert _members(result["wheels_archive"]) == ["ddtest_needs_source-1.0-py3-none-any.whl",
                                                  "ddtest_source-1.0-py3-none-any.whl", "requirements.lock"]


def _build_on_a_host(result, tmp_path):
    """What release.yml does on the app host, here: pip wheel --no-index of the sources, from the
    wheels of their build requirements only; returns the directory of the wheels built."""
    host = tmp_path / "host"
    with tarfile.open(result["sources_archive"]) as tar:
        tar.extractall(host)
    out = tmp_path / "host-built"
    sources = sorted(str(path) for path in (host / "sources").iterdir())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-index", "--find-links", str(host / "build"),
                    "--no-deps", "--wheel-dir", str(out)] + sources, check=True,
                   env=dict(os.environ, PIP_FIND_LINKS=""))
    return out


def test_a_source_that_builds_a_c_extension_is_left_for_an_app_host(tmp_path, index):
    """The source of a C extension without a wheel is kept, resolved through a placeholder (its
    dependencies from PKG-INFO are fetched), shipped with the wheels of its build requirements; the
    wheels a host builds of it complete the wheelhouse, which the next runs take from the cache."""
    _wheel(index, "ddtest_buildreq")
    _sdist(index, "ddtest_cext13", tag="cp313-cp313-linux_x86_64", build_requires=["ddtest_buildreq"],
           pkg_info="Metadata-Version: 2.2\nName: ddtest_cext13\nVersion: 1.0\nRequires-Dist: ddtest_dep\n")
    src = _project(tmp_path, "ddtest_app\nddtest_cext13==1.0\n")
    params = _params(tmp_path, src, "3.13.5", debian_release="13")
    first = bundle.bundle(params)
    assert first["changed"] is True and first["complete"] is False
    assert first["to_build"] == [{"name": "ddtest-cext13", "version": "1.0", "sdist": "ddtest_cext13-1.0.tar.gz",
                                  "build_requires": ["ddtest_buildreq"]}]
    assert not os.path.exists(first["wheels_archive"])
    assert _members(first["sources_archive"]) == ["sources/ddtest_cext13-1.0.tar.gz",
                                                  "build/ddtest_buildreq-1.0-py3-none-any.whl"]
    # Again before a host built it (check mode, a run that failed there): the same answer, no new pip run.
    assert bundle.bundle(params) == dict(first, changed=False)
    built = _build_on_a_host(first, tmp_path)
    assert sorted(os.listdir(built)) == ["ddtest_cext13-1.0-cp313-cp313-linux_x86_64.whl"]
    done = bundle.bundle(dict(params, host_built_wheels=str(built)))
    assert done == dict(first, changed=True, complete=True, to_build=[], sources_archive=None, host_built_dir=None)
    assert _members(done["wheels_archive"]) == [
        "ddtest_app-1.0-py3-none-any.whl", "ddtest_bin-1.0-cp313-cp313-manylinux_2_17_x86_64.whl",
        "ddtest_cext13-1.0-cp313-cp313-linux_x86_64.whl", "ddtest_dep-1.0-py3-none-any.whl", "requirements.lock"]
    with tarfile.open(done["wheels_archive"]) as tar:
        assert tar.extractfile("requirements.lock").read().decode().splitlines() == [
            "ddtest-app==1.0", "ddtest-bin==1.0", "ddtest-cext13==1.0", "ddtest-dep==1.0"]
    assert not os.path.exists(first["host_built_dir"])  # the pending sources went with it
    assert bundle.bundle(params) == dict(done, changed=False)


def test_a_source_without_static_metadata_gets_pips(tmp_path, index):
    """No PKG-INFO to trust (here none at all): the placeholder has the metadata pip prepares."""
    _sdist(index, "ddtest_cext13", tag="cp313-cp313-linux_x86_64")
    src = _project(tmp_path, "ddtest_cext13\n")
    result = bundle.bundle(_params(tmp_path, src, "3.13.5", debian_release="13"))
    assert [item["name"] for item in result["to_build"]] == ["ddtest-cext13"]
    assert _members(result["sources_archive"]) == ["sources/ddtest_cext13-1.0.tar.gz"]


def test_wheels_the_host_did_not_build_for_the_sources_are_refused(tmp_path, index):
    _sdist(index, "ddtest_cext13", tag="cp313-cp313-linux_x86_64")
    src = _project(tmp_path, "ddtest_cext13\n")
    params = _params(tmp_path, src, "3.13.5", debian_release="13")
    result = bundle.bundle(params)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    _wheel(wrong, "ddtest_cext13", tag="cp311-cp311-linux_x86_64")
    with pytest.raises(bundle.BundleError, match=r"cannot complete the wheelhouse: ddtest_cext13-1\.0-cp311-cp311-"
                                                 r"linux_x86_64\.whl is not for the hosts \(CPython 3\.13 on x86_64\)"):
        bundle.bundle(dict(params, host_built_wheels=str(wrong)))
    assert bundle.bundle(params)["to_build"] == result["to_build"]


def test_build_requirements_without_wheels_for_the_hosts_are_named(tmp_path, index):
    """ddtest_bin has wheels for the controller (the build here can try) but not for these hosts."""
    _sdist(index, "ddtest_cext13", tag="cp313-cp313-linux_aarch64", build_requires=["ddtest_bin"])
    src = _project(tmp_path, "ddtest_cext13\n")
    params = dict(_params(tmp_path, src, "3.13.5", "aarch64", debian_release="13"), glibc="2.36")
    with pytest.raises(bundle.BundleError, match=r"^The build requirements of ddtest-cext13 1\.0 \(ddtest_bin\) have "
                                                 r"no wheels for the hosts \(CPython 3\.13\.5 on manylinux_2_36_aarch64\)"):
        bundle.bundle(params)


def test_a_c_extension_given_by_url_is_refused(tmp_path, index):
    archive = _sdist(tmp_path / "elsewhere", "ddtest_urlc", tag="cp311-cp311-linux_x86_64")
    src = _project(tmp_path, f"ddtest_urlc @ {archive.as_uri()}\n")
    with pytest.raises(bundle.BundleError, match=r"^ddtest_urlc-1\.0\.tar\.gz has no wheel for the hosts .* a "
                                                 r"requirement given by URL is built on the controller, pure Python "
                                                 r"only\. Require ddtest-urlc from a package index"):
        bundle.bundle(_params(tmp_path, src, "3.13.5", debian_release="13"))


def test_a_requirement_by_url_is_built_here(tmp_path, index):
    archive = _sdist(tmp_path / "elsewhere", "ddtest_url")
    src = _project(tmp_path, f"ddtest_url @ {archive.as_uri()}\nddtest_app\n")
    result = bundle.bundle(_params(tmp_path, src, "3.11.7"))
    assert _members(result["wheels_archive"]) == ["ddtest_app-1.0-py3-none-any.whl",
                                                  "ddtest_bin-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
                                                  "ddtest_url-1.0-py3-none-any.whl", "requirements.lock"]


def test_a_local_directory_requirement_is_refused(tmp_path, index):
    tree = _source_tree(tmp_path / "elsewhere", "ddtest_dir")
    for requirements in (f"{tree}\nddtest_app\n", f"{tree}\n"):
        src = _project(tmp_path, requirements)
        with pytest.raises(bundle.BundleError, match=r"^ddtest-dir: required as a local directory"):
            bundle.bundle(_params(tmp_path, src, "3.11.7"))


def test_main_reports_bad_host_facts(tmp_path, capsys):
    src = _project(tmp_path, "ddtest_app\n")
    assert bundle.main(["bundle", json.dumps(_params(tmp_path, src, "3.13"))]) == 1
    assert "full version like 3.13.5" in capsys.readouterr().err
    assert bundle.main(["bundle", json.dumps(dict(_params(tmp_path, src, "3.13.5"), glibc="3.1"))]) == 1
    assert "glibc version must look like 2.36" in capsys.readouterr().err


def test_a_pip_run_that_does_not_finish_is_stopped(monkeypatch):
    monkeypatch.setattr(bundle, "STEP_TIMEOUT", 1)
    monkeypatch.setattr(bundle, "_PIP_FOR_HOSTS", "import time; time.sleep(60)")
    started = time.monotonic()
    with pytest.raises(bundle.BundleError, match=r"^pip download of the wheels for the hosts did not finish within "
                                                 r"1 s and was stopped"):
        bundle._pip(["download"], "pip download of the wheels for the hosts", time.monotonic() + 60, {})
    assert time.monotonic() - started < 10


def test_no_time_left_is_an_error():
    with pytest.raises(bundle.BundleError, match="took more than"):
        bundle._pip(["download"], "pip download", time.monotonic() - 1)


def test_a_controller_python_without_pip_is_named(tmp_path, monkeypatch):
    venv.create(tmp_path / "nopip", with_pip=False)
    python = str(tmp_path / "nopip" / "bin" / "python")
    monkeypatch.setattr(sys, "executable", python)
    with pytest.raises(bundle.BundleError, match=f"the controller's Python {python} has no pip"):
        bundle._pip(["--version"], "pip", time.monotonic() + 60)
    with pytest.raises(bundle.BundleError, match="has no pip"):
        bundle._pip(["--version"], "pip", time.monotonic() + 60, {})
