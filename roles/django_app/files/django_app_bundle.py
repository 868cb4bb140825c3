# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build a Django project's release bundle on the controller (role django_app, release.yml).

Run by Ansible's own Python on the controller, once per play (delegate_to: localhost, run_once):
    python django_app_bundle.py '{"src": ..., "name": ..., "build_dir": ..., "requirements": [...],
                                  "extra_requirements": [...], "python_version": "3.13.5",
                                  "machine": "x86_64", "glibc": "2.41", "newer_pythons": {}}'
(the hosts' full Python version, uname -m and glibc, which gives their manylinux platform; and the
supported Debian releases with a newer Python, {"13": "3.13"}, named when a requirement needs one).
- names the release after a digest of the project's files and requirements (an unchanged
  project is the same release on every run, so re-runs change nothing; a changed requirement is
  a new release, with its own virtualenv);
- writes a reproducible source archive <build_dir>/<name>/<release>.tar.gz;
- fetches the wheels of the requirements plus extra_requirements for the hosts, whatever Python
  and platform the controller has: `pip download` of this Python (Ansible's, which has pip)
  resolves for the hosts' exact Python - Requires-Python and markers such as python_full_version
  are evaluated with their values (pip alone would use this Python's: _PIP_FOR_HOSTS) - and takes
  only wheels of their CPython ABI and manylinux tags. A requirement with no such wheel, or given
  by URL (git+https://..., an archive), is built here from its source and kept only when the
  result is pure Python (C extensions without a wheel for the hosts are refused, and so are
  requirements given as local directories). Done once per set of requirements and hosts' target,
  packed with a requirements.lock pinning every wheel into <build_dir>/<name>/wheels-<key>.tar,
  which the hosts install without an index.
Every pip run is bounded in time (STEP_TIMEOUT, TOTAL_TIMEOUT). Prints one JSON object: changed,
release, archive, wheelhouse_key, wheels_archive. Errors go to stderr with exit status 1. The pure
parts are plugins/module_utils/django_app.py (unit-tested); the bounded runs are
plugins/module_utils/bounded_command.py's.
"""

from __future__ import annotations

import glob
import io
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import zipfile

import importlib.util
import json
from pathlib import Path

# Seconds one pip run may take (a download, a build), and all of them together: less than the
# 1800 s release.yml gives this script, so that its own message says what did not finish.
STEP_TIMEOUT = 900
TOTAL_TIMEOUT = 1500

# pip evaluates the requirements' markers with the values of the Python it runs on, even under
# --python-version. pip has no API: this runs its command line with the hosts' marker environment
# (argv[1], JSON) as the one packaging's markers default to.
_PIP_FOR_HOSTS = """\
import json, sys
from pip._vendor.packaging import markers
environment = json.loads(sys.argv[1])
markers.default_environment = lambda: dict(environment)
from pip._internal.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def _load(name):
    """plugins/module_utils/<name>.py of this collection, by path (no Ansible import needed)."""
    path = Path(__file__).resolve().parents[3] / "plugins" / "module_utils" / (name + ".py")
    spec = importlib.util.spec_from_file_location("django_deploy_" + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


da = _load("django_app")
bounded = _load("bounded_command")


class BundleError(Exception):
    """A problem the user must fix; its message is printed as is."""


def _project_files(src, exclude):
    """[(relpath, executable, bytes)] of every regular file of the project, not excluded."""
    entries = []
    for root, dirs, files in os.walk(src):
        rel_root = os.path.relpath(root, src)
        rel_root = "" if rel_root == "." else rel_root + "/"
        dirs[:] = sorted(d for d in dirs if not da.is_excluded(rel_root + d, exclude))
        for name in sorted(files):
            rel = rel_root + name
            path = os.path.join(root, name)
            if da.is_excluded(rel, exclude) or not os.path.isfile(path) or os.path.islink(path):
                continue
            with open(path, "rb") as handle:
                entries.append((rel, os.access(path, os.X_OK), handle.read()))
    return entries


def _add(tar, name, data, mode):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.uid, info.gid = len(data), mode, 0, 0, 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))


def _write_atomically(path, writer):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    os.close(fd)
    try:
        writer(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _source_archive(path, entries, release):
    def write(tmp):
        # Files in path order, owned by root, mtime 0; the release marker last, so a host whose
        # extraction was cut short has no marker and extracts again.
        with tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as tar:
            for rel, executable, data in sorted(entries, key=lambda entry: entry[0]):
                _add(tar, rel, data, 0o755 if executable else 0o644)
            _add(tar, da.RELEASE_MARKER, (release + "\n").encode(), 0o644)
    _write_atomically(path, write)


def _pip(args, what, deadline, environment=None):
    """Run pip of this Python (with the hosts' marker environment when given), bounded in time;
    returns (succeeded, output). Raises BundleError when it timed out or there is no pip."""
    timeout = min(STEP_TIMEOUT, round(deadline - time.monotonic()))
    if timeout <= 0:
        raise BundleError("%s: the wheels for the hosts took more than %d s" % (what, TOTAL_TIMEOUT))
    if environment is None:
        argv = [sys.executable, "-m", "pip", "--disable-pip-version-check"] + args
    else:
        argv = [sys.executable, "-c", _PIP_FOR_HOSTS, json.dumps(environment), "--disable-pip-version-check"] + args
    result = bounded.run(argv, what, timeout)
    output = result["stdout"] + result["stderr"]
    if result["timed_out"]:
        raise BundleError("%s did not finish within %d s and was stopped (is the package index reachable from the "
                          "controller?)\n%s" % (what, timeout, da.pip_detail(output)))
    if result["rc"] != 0 and re.search(r"No module named '?pip\b", output):
        raise BundleError("%s: the controller's Python %s has no pip; install it there (python -m ensurepip)"
                          % (what, sys.executable))
    return result["rc"] == 0, output


def _requires_python(wheel):
    """The Requires-Python of a wheel file's METADATA, or None."""
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.count("/") == 1 and name.endswith(".dist-info/METADATA"):
                return da.metadata_requires_python(archive.read(name).decode("utf-8", "replace"))
    return None


def _build_pure_wheel(requirement, pip_args, into, target, deadline):
    """Into `into`, the wheel of a requirement built here from its source (pip wheel --no-deps
    pip_args) with this Python; BundleError unless the result is pure Python."""
    python_version, platforms = target["python_version"], target["platforms"]
    work = tempfile.mkdtemp(prefix="build-", dir=os.path.dirname(into))
    try:
        ok, output = _pip(["wheel", "--no-deps", "--ignore-requires-python", "--wheel-dir", work] + pip_args,
                          "pip wheel of %s on the controller" % requirement, deadline)
        wheels = sorted(name for name in os.listdir(work) if name.endswith(".whl"))
        if not ok or not wheels:
            raise BundleError("%s\n%s" % (da.no_wheel_message(requirement, python_version, platforms),
                                          da.pip_detail(output)))
        for wheel in wheels:
            if not da.is_pure_wheel(wheel):
                raise BundleError(da.c_extension_message(requirement, wheel, python_version, platforms))
            shutil.move(os.path.join(work, wheel), os.path.join(into, wheel))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _without_wheel(requirement, built, target, deadline, detail):
    """pip found no wheel of a requirement for the hosts. When one exists that only their Python's
    version excludes, says so (BundleError); else builds one here from the requirement's source
    distribution into built (pure Python only)."""
    probe = tempfile.mkdtemp(prefix="probe-", dir=os.path.dirname(built))
    try:
        ok, _output = _pip(["download", "--no-deps", "--ignore-requires-python", "--dest", probe]
                           + target["options"] + [requirement],
                           "pip download of %s for the hosts" % requirement, deadline, target["environment"])
        requires = ok and next((_requires_python(w) for w in glob.glob(os.path.join(probe, "*.whl"))), None)
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    if requires:
        message = da.requires_python_message(requirement, requires, target["python_version"], target["newer_pythons"])
        raise BundleError("%s\n%s" % (message, detail))
    _build_pure_wheel(requirement, ["--no-binary", da.requirement_name(requirement), requirement], built, target,
                      deadline)


def _read_requirements(src, requirements):
    """The texts of the requirements files (in order, with the files they include by -r and -c,
    relative to the including file as pip reads them) and the names of the projects they require."""
    texts, names, seen = [], set(), set()

    def read(path, shown, names_count):
        real = os.path.realpath(path)
        if real in seen:
            return
        seen.add(real)
        if not os.path.isfile(real):
            raise BundleError("django_app_source %s has no %s" % (src, shown))
        with open(real, encoding="utf-8") as handle:
            text = handle.read()
        texts.append(text)
        reqs, includes, constraints = da.parse_requirements(text)
        if names_count:
            try:
                names.update(da.requirement_names(reqs))
            except ValueError as exc:
                raise BundleError("%s: %s" % (shown, exc)) from None
        base = os.path.dirname(real)
        for include in includes:
            read(os.path.join(base, include), include, names_count)
        for constraint in constraints:  # they pin, they do not require
            read(os.path.join(base, constraint), constraint, False)

    for req in requirements:
        read(os.path.join(src, req), req, True)
    return texts, names


def _fetch_wheels(wheel_dir, target, src, requirements, extra):
    """Into wheel_dir, the wheels for the hosts of the requirements and all they depend on. First
    wheels only; each requirement pip then finds no wheel for is built here (pure Python only) and
    offered to the next attempt (--find-links), until pip resolves them all or one cannot be had.
    A requirement given by URL (git+https://..., an archive) pip takes from its source, whatever
    --only-binary says: it is built here too (pure Python only)."""
    deadline = time.monotonic() + TOTAL_TIMEOUT
    args = []
    for req in requirements:
        args += ["-r", os.path.join(src, req)]
    args += list(extra)
    built = os.path.join(wheel_dir, "built")
    dest = os.path.join(wheel_dir, "wheels")
    os.makedirs(built)
    tried = set()
    while True:
        shutil.rmtree(dest, ignore_errors=True)  # nothing left from an attempt that failed
        os.makedirs(dest)
        ok, output = _pip(["download", "--find-links", built, "--dest", dest] + target["options"] + args,
                          "pip download of the wheels for the hosts", deadline, target["environment"])
        if ok:
            break
        refused = da.pip_requires_python_error(output)
        if refused:
            message = da.requires_python_message(refused[0], refused[1], target["python_version"],
                                                 target["newer_pythons"])
            raise BundleError("%s\n%s" % (message, da.pip_detail(output)))
        conflict = da.pip_conflict_message(output)
        if conflict:
            raise BundleError("%s\n%s" % (conflict, da.pip_detail(output)))
        missing = da.pip_missing_requirement(output)
        if missing is None or missing in tried:
            raise BundleError("pip cannot resolve the requirements for the hosts (%s):\n%s"
                              % (da.hosts_text(target["python_version"], target["platforms"]), da.pip_detail(output)))
        tried.add(missing)
        _without_wheel(missing, built, target, deadline, da.pip_detail(output))
    for source in sorted(name for name in os.listdir(dest) if not name.endswith(".whl")):
        _build_pure_wheel(source, [os.path.join(dest, source)], dest, target, deadline)
        os.unlink(os.path.join(dest, source))
    absent = da.pip_downloaded_without_wheel(output, os.listdir(dest))
    if absent:
        raise BundleError(da.local_directory_message(absent))
    return dest


def _build_wheels(path, target, src, requirements, extra):
    work = tempfile.mkdtemp(prefix="django-app-wheels-")
    try:
        wheel_dir = _fetch_wheels(work, target, src, requirements, extra)
        wheels = sorted(os.path.basename(p) for p in glob.glob(os.path.join(wheel_dir, "*.whl")))
        try:
            lock = da.lock_text(wheels).encode()
        except ValueError as exc:
            raise BundleError("The wheelhouse cannot be installed as is: %s (%s)" % (exc, ", ".join(wheels))) from exc

        def write(tmp):
            with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
                for wheel in wheels:
                    with open(os.path.join(wheel_dir, wheel), "rb") as handle:
                        _add(tar, wheel, handle.read(), 0o644)
                _add(tar, da.LOCK_FILE, lock, 0o644)  # last: the hosts' "extracted" marker
        _write_atomically(path, write)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _target(params):
    """What the wheels are fetched for: the hosts' full Python version, platform tags, pip's options
    and marker environment for them."""
    python_version, machine = params["python_version"], params["machine"]
    platforms = da.manylinux_tags(params["glibc"], machine)
    return dict(python_version=python_version, platforms=platforms, newer_pythons=params.get("newer_pythons") or {},
                options=da.pip_target_options(python_version, platforms),
                environment=da.marker_environment(python_version, machine))


def bundle(params):
    """Build what is missing; returns the result printed as JSON."""
    src = os.path.realpath(os.path.expanduser(params["src"]))
    build_dir = os.path.expanduser(params["build_dir"])
    requirements = params.get("requirements") or ["requirements.txt"]
    extra = params.get("extra_requirements") or []
    if not os.path.isfile(os.path.join(src, "manage.py")):
        raise BundleError("django_app_source %s has no manage.py: it must be the project directory" % src)
    requirement_texts, project_names = _read_requirements(src, requirements)
    # The project's own pins win: the deployment adds its app server, driver and cache client
    # only when the project does not require them.
    extra = da.deployment_additions(extra, project_names)
    target = _target(params)
    exclude = tuple(params["exclude"]) if params.get("exclude") is not None else da.DEFAULT_EXCLUDES
    entries = _project_files(src, exclude)
    version = next((data.decode("utf-8", "replace") for rel, _executable, data in entries if rel == "VERSION"), None)
    release = da.release_id(da.release_digest(da.tree_digest(entries), requirement_texts, extra), version)
    key = da.wheelhouse_key(requirement_texts, extra, target["python_version"], target["platforms"])
    out_dir = os.path.join(build_dir, params["name"])
    archive = os.path.join(out_dir, release + ".tar.gz")
    wheels = os.path.join(out_dir, "wheels-%s.tar" % key)
    todo = [path for path in (archive, wheels) if not os.path.isfile(path)]
    if todo:
        os.makedirs(out_dir, mode=0o755, exist_ok=True)
        if archive in todo:
            _source_archive(archive, entries, release)
        if wheels in todo:
            _build_wheels(wheels, target, src, requirements, extra)
    return dict(changed=bool(todo), release=release, archive=archive, wheelhouse_key=key, wheels_archive=wheels)


def main(argv):
    try:
        result = bundle(json.loads(argv[1]))
    except (BundleError, KeyError, TypeError, ValueError, OSError) as exc:
        print("django_app_bundle: %s" % exc, file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
