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
  only wheels of their CPython ABI and manylinux tags. A requirement with no such wheel is built
  here from its source distribution when the result is pure Python; otherwise (a C extension such
  as psycopg-c, or a build this controller cannot do) its source is kept for an app host to build:
  pip resolves the rest with a placeholder wheel of its metadata (never shipped), and the wheels
  of its build requirements ([build-system] requires) are fetched for the hosts, so that the host
  builds without an index. A requirement given by URL (git+https://..., an archive) is built here,
  pure Python only; local directories are refused. Done once per set of requirements and hosts'
  target, packed with a requirements.lock pinning every wheel into <build_dir>/<name>/wheels-<key>.tar,
  which the hosts install without an index.
- with sources left to build, keeps <build_dir>/<name>/pending-<key>/ instead (the resolved wheels,
  sources.tar: sources/ and build/ for the host, to_build.json) and answers complete: false with
  to_build, sources_archive and host_built_dir (where release.yml fetches the host's wheels);
  run again with "host_built_wheels": <that directory>, it checks those wheels (the sources' names
  and versions, the hosts' Python and machine) and writes the wheelhouse archive, which later runs
  find in the cache.
Every pip run is bounded in time (STEP_TIMEOUT, TOTAL_TIMEOUT). Prints one JSON object: changed,
release, archive, wheelhouse_key, wheels_archive, complete, to_build, sources_archive,
host_built_dir. Errors go to stderr with exit status 1. The pure
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


def _built_here(sdist, requirement, into, deadline):
    """Builds a source distribution here (pip wheel --no-deps) and moves its wheels into `into`
    when they are all pure Python; False when the build fails or makes more than pure Python (a C
    extension, or a build this controller lacks the headers or tools of): an app host builds it."""
    work = tempfile.mkdtemp(prefix="build-", dir=os.path.dirname(into))
    try:
        ok, _output = _pip(["wheel", "--no-deps", "--ignore-requires-python", "--wheel-dir", work, sdist],
                           "pip wheel of %s on the controller" % requirement, deadline)
        wheels = sorted(name for name in os.listdir(work) if name.endswith(".whl"))
        if not ok or not wheels or not all(da.is_pure_wheel(wheel) for wheel in wheels):
            return False
        for wheel in wheels:
            shutil.move(os.path.join(work, wheel), os.path.join(into, wheel))
        return True
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _sdist_names(sdist):
    """The member names of a source distribution (.tar.gz or .zip)."""
    if sdist.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            return archive.namelist()
    with tarfile.open(sdist) as tar:
        return tar.getnames()


def _sdist_member(sdist, member):
    """The text of <top directory>/<member> of a source distribution (.tar.gz or .zip), or None."""
    if sdist.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            for name in archive.namelist():
                if name.count("/") == 1 and name.endswith("/" + member):
                    return archive.read(name).decode("utf-8", "replace")
        return None
    with tarfile.open(sdist) as tar:
        for info in tar:
            if info.isfile() and info.name.lstrip("./").count("/") == 1 and info.name.endswith("/" + member):
                return tar.extractfile(info).read().decode("utf-8", "replace")
    return None


def _placeholder_metadata(sdist, requirement, deadline):
    """The METADATA of a source's placeholder wheel: its PKG-INFO when that is static (PEP 643),
    else what pip prepares from it (its installation report, without installing anything)."""
    metadata = da.pkg_info_metadata(_sdist_member(sdist, "PKG-INFO") or "")
    if metadata:
        return metadata
    work = tempfile.mkdtemp(prefix="report-", dir=os.path.dirname(sdist))
    try:
        report = os.path.join(work, "report.json")
        ok, output = _pip(["install", "--dry-run", "--ignore-installed", "--no-deps", "--ignore-requires-python",
                           "--quiet", "--report", report, sdist],
                          "pip's metadata of the source of %s" % requirement, deadline)
        if not ok or not os.path.isfile(report):
            raise BundleError("%s: pip cannot read the metadata of its source distribution %s\n%s"
                              % (requirement, os.path.basename(sdist), da.pip_detail(output)))
        with open(report, encoding="utf-8") as handle:
            items = json.load(handle).get("install") or [{}]
        return da.report_metadata(items[0].get("metadata"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _placeholder(directory, metadata):
    """Writes a pure placeholder wheel of METADATA into directory (pip download resolves with it,
    no host ever gets it); returns its file name."""
    name, version = da.metadata_name_version(metadata)
    filename = da.placeholder_wheel_name(name, version)
    dist_info = "%s-%s.dist-info" % (filename.split("-")[0], version)
    files = [(dist_info + "/METADATA", metadata.encode()),
             (dist_info + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: django_app_bundle\nRoot-Is-Purelib: true\n"
                                    b"Tag: py3-none-any\n")]
    with zipfile.ZipFile(os.path.join(directory, filename), "w") as archive:
        for path, data in files:
            archive.writestr(path, data)
        archive.writestr(dist_info + "/RECORD", "".join("%s,,\n" % path for path, _data in files)
                         + dist_info + "/RECORD,,\n")
    return filename


def _without_wheel(requirement, built, sources, target, deadline, detail):
    """pip found no wheel of a requirement for the hosts. When one exists that only their Python's
    version excludes, says so (BundleError); else fetches its source distribution and builds it
    here into built when it is pure Python (not tried when it has C, Cython or Rust sources).
    Otherwise the source is kept in sources, for an app host to build, and a placeholder wheel of
    its metadata in built lets pip resolve the rest: returns {name, version, sdist, placeholder}
    then, else None."""
    probe = tempfile.mkdtemp(prefix="probe-", dir=os.path.dirname(built))
    try:
        ok, _output = _pip(["download", "--no-deps", "--ignore-requires-python", "--dest", probe]
                           + target["options"] + [requirement],
                           "pip download of %s for the hosts" % requirement, deadline, target["environment"])
        requires = ok and next((_requires_python(w) for w in glob.glob(os.path.join(probe, "*.whl"))), None)
        if requires:
            message = da.requires_python_message(requirement, requires, target["python_version"],
                                                 target["newer_pythons"])
            raise BundleError("%s\n%s" % (message, detail))
        shutil.rmtree(probe)
        os.makedirs(probe)
        ok, output = _pip(["download", "--no-deps", "--ignore-requires-python", "--no-binary",
                           da.requirement_name(requirement), "--dest", probe, requirement],
                          "pip download of the source of %s" % requirement, deadline)
        found = sorted(os.listdir(probe))
        if not ok or len(found) != 1 or found[0].endswith(".whl"):
            raise BundleError("%s\n%s" % (da.no_wheel_message(requirement, target["python_version"],
                                                              target["platforms"]), da.pip_detail(output)))
        sdist = os.path.join(probe, found[0])
        # Compiled sources would only build a wheel for this controller's Python: not tried here.
        if not da.compiles_code(_sdist_names(sdist)) and _built_here(sdist, requirement, built, deadline):
            return None
        metadata = _placeholder_metadata(sdist, requirement, deadline)
        name, version = da.metadata_name_version(metadata)
        shutil.move(sdist, os.path.join(sources, found[0]))
        return dict(name=name, version=version, sdist=found[0], placeholder=_placeholder(built, metadata))
    finally:
        shutil.rmtree(probe, ignore_errors=True)


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
    """Into wheel_dir/wheels, the wheels for the hosts of the requirements and all they depend on.
    First wheels only; each requirement pip then finds no wheel for is built here when pure Python,
    else kept as its source in wheel_dir/sources for an app host to build, with a placeholder wheel
    of its metadata; either is offered to the next attempt (--find-links), until pip resolves them
    all or one cannot be had. A requirement given by URL (git+https://..., an archive) pip takes
    from its source, whatever --only-binary says: it is built here (pure Python only).
    Returns (the wheels' directory, the sources left to build: [{name, version, sdist}])."""
    deadline = time.monotonic() + TOTAL_TIMEOUT
    args = []
    for req in requirements:
        args += ["-r", os.path.join(src, req)]
    args += list(extra)
    built = os.path.join(wheel_dir, "built")
    dest = os.path.join(wheel_dir, "wheels")
    sources = os.path.join(wheel_dir, "sources")
    os.makedirs(built)
    os.makedirs(sources)
    tried = set()
    to_build = []
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
        kept = _without_wheel(missing, built, sources, target, deadline, da.pip_detail(output))
        if kept:
            to_build.append(kept)
    for source in sorted(name for name in os.listdir(dest) if not name.endswith(".whl")):
        _build_pure_wheel(source, [os.path.join(dest, source)], dest, target, deadline)
        os.unlink(os.path.join(dest, source))
    absent = da.pip_downloaded_without_wheel(output, os.listdir(dest))
    if absent:
        raise BundleError(da.local_directory_message(absent))
    for item in to_build:  # what resolved with a placeholder is built on a host
        placeholder = os.path.join(dest, item.pop("placeholder"))
        if not os.path.isfile(placeholder):  # resolved to another version: not needed after all
            os.unlink(os.path.join(sources, item["sdist"]))
            item.clear()
            continue
        os.unlink(placeholder)
    return dest, [item for item in to_build if item]


def _fetch_build_requirements(into, sources, to_build, target, deadline):
    """Into `into`, the wheels for the hosts of what building each source needs (its pyproject.toml's
    [build-system] requires, markers evaluated for the hosts): an app host builds them without an
    index. Dependencies a build backend asks for only while it runs are not known here."""
    requirements = []
    for item in to_build:
        text = _sdist_member(os.path.join(sources, item["sdist"]), "pyproject.toml")
        try:
            needed = da.build_requirements(_toml(text) if text is not None else None)
        except ValueError as exc:
            raise BundleError("%s %s: pyproject.toml: %s" % (item["name"], item["version"], exc)) from None
        item["build_requires"] = needed
        requirements += [req for req in needed if req not in requirements]
    if not requirements:
        return
    ok, output = _pip(["download", "--dest", into] + target["options"] + requirements,
                      "pip download of the build requirements for the hosts", deadline, target["environment"])
    if not ok:
        raise BundleError("The build requirements of %s (%s) have no wheels for the hosts (%s); a host builds "
                          "without an index, from wheels only.\n%s"
                          % (da.to_build_text(to_build), ", ".join(requirements),
                             da.hosts_text(target["python_version"], target["platforms"]), da.pip_detail(output)))


def _toml(text):
    try:
        import tomllib
    except ImportError:  # Python < 3.11: the copy pip vendors
        from pip._vendor import tomli as tomllib
    try:
        return tomllib.loads(text)
    except ValueError as exc:
        raise ValueError("not valid TOML (%s)" % exc) from None


def _write_wheelhouse(path, wheel_paths):
    """The wheelhouse archive: the wheels (paths), then requirements.lock pinning each one."""
    wheels = sorted(wheel_paths, key=os.path.basename)
    names = [os.path.basename(wheel) for wheel in wheels]
    try:
        lock = da.lock_text(names).encode()
    except ValueError as exc:
        raise BundleError("The wheelhouse cannot be installed as is: %s (%s)" % (exc, ", ".join(names))) from exc

    def write(tmp):
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            for wheel in wheels:
                with open(wheel, "rb") as handle:
                    _add(tar, os.path.basename(wheel), handle.read(), 0o644)
            _add(tar, da.LOCK_FILE, lock, 0o644)  # last: the hosts' "extracted" marker
    _write_atomically(path, write)


def _build_wheels(path, pending, target, src, requirements, extra):
    """The wheelhouse archive at path; or, when sources are left to build on a host, the pending
    directory: wheels/ (the rest, resolved), sources.tar (the sources and the wheels of their build
    requirements, what the host gets), to_build.json."""
    work = tempfile.mkdtemp(prefix="django-app-wheels-")
    try:
        wheel_dir, to_build = _fetch_wheels(work, target, src, requirements, extra)
        wheels = sorted(glob.glob(os.path.join(wheel_dir, "*.whl")))
        if not to_build:
            _write_wheelhouse(path, wheels)
            return
        names = [os.path.basename(wheel) for wheel in wheels]
        try:  # the lock the host's wheels will complete must hold
            da.lock_text(names + [da.placeholder_wheel_name(item["name"], item["version"]) for item in to_build])
        except ValueError as exc:
            raise BundleError("The wheelhouse cannot be installed as is: %s (%s)" % (exc, ", ".join(names))) from exc
        sources = os.path.join(work, "sources")
        build = os.path.join(work, "build")
        os.makedirs(build)
        _fetch_build_requirements(build, sources, to_build, target, time.monotonic() + TOTAL_TIMEOUT)
        stage = tempfile.mkdtemp(prefix=".tmp-pending-", dir=os.path.dirname(path))
        try:
            shutil.move(wheel_dir, os.path.join(stage, "wheels"))
            with tarfile.open(os.path.join(stage, "sources.tar"), "w", format=tarfile.PAX_FORMAT) as tar:
                for directory in ("sources", "build"):
                    for name in sorted(os.listdir(os.path.join(work, directory))):
                        with open(os.path.join(work, directory, name), "rb") as handle:
                            _add(tar, "%s/%s" % (directory, name), handle.read(), 0o644)
            with open(os.path.join(stage, "to_build.json"), "w", encoding="utf-8") as handle:
                json.dump(to_build, handle, indent=1, sort_keys=True)
            os.chmod(stage, 0o755)
            os.rename(stage, pending)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _finish(path, pending, built_dir, target):
    """The wheelhouse archive at path from the pending directory's wheels and the wheels an app host
    built of its sources (in built_dir); then the pending directory goes."""
    with open(os.path.join(pending, "to_build.json"), encoding="utf-8") as handle:
        to_build = json.load(handle)
    try:
        built = da.host_built_wheels(to_build, os.listdir(built_dir), target["python_version"], target["machine"])
    except (OSError, ValueError) as exc:
        raise BundleError("The wheels built on the app host cannot complete the wheelhouse: %s" % exc) from None
    _write_wheelhouse(path, glob.glob(os.path.join(pending, "wheels", "*.whl"))
                      + [os.path.join(built_dir, name) for name in built])
    shutil.rmtree(pending, ignore_errors=True)


def _target(params):
    """What the wheels are fetched for: the hosts' full Python version, platform tags, pip's options
    and marker environment for them."""
    python_version, machine = params["python_version"], params["machine"]
    platforms = da.manylinux_tags(params["glibc"], machine)
    return dict(python_version=python_version, machine=machine, platforms=platforms,
                newer_pythons=params.get("newer_pythons") or {},
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
    pending = os.path.join(out_dir, "pending-%s" % key)
    host_built = params.get("host_built_wheels")
    changed = False
    os.makedirs(out_dir, mode=0o755, exist_ok=True)
    if not os.path.isfile(archive):
        _source_archive(archive, entries, release)
        changed = True
    if not os.path.isfile(wheels) and not os.path.isfile(os.path.join(pending, "to_build.json")):
        _build_wheels(wheels, pending, target, src, requirements, extra)
        changed = True
    if not os.path.isfile(wheels) and host_built:
        _finish(wheels, pending, os.path.expanduser(host_built), target)
        changed = True
    result = dict(changed=changed, release=release, archive=archive, wheelhouse_key=key, wheels_archive=wheels,
                  complete=os.path.isfile(wheels), to_build=[], sources_archive=None, host_built_dir=None)
    if not result["complete"]:
        # What an app host builds (release.yml), and where the controller takes its wheels back.
        with open(os.path.join(pending, "to_build.json"), encoding="utf-8") as handle:
            result["to_build"] = json.load(handle)
        result["sources_archive"] = os.path.join(pending, "sources.tar")
        result["host_built_dir"] = os.path.join(pending, "host-built")
        shutil.rmtree(result["host_built_dir"], ignore_errors=True)  # none left from a run cut short
        os.makedirs(result["host_built_dir"])
    return result


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
