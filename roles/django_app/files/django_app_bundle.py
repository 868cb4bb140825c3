# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build a Django project's release bundle on the controller (role django_app, release.yml).

Run by Ansible's own Python on the controller, once per play (delegate_to: localhost, run_once):
    python django_app_bundle.py '{"src": ..., "name": ..., "build_dir": ..., "requirements": [...],
                                  "extra_requirements": [...], "python_version": "3.11", "machine": "x86_64"}'
- names the release after a digest of the project's files (an unchanged project is the same
  release on every run, so re-runs change nothing);
- writes a reproducible source archive <build_dir>/<name>/<release>.tar.gz;
- builds the wheels of the requirements plus extra_requirements with `pip wheel` for the hosts'
  Python, once per set of requirements, and packs them with a requirements.lock pinning every
  wheel into <build_dir>/<name>/wheels-<key>.tar, which the hosts install without an index.
Prints one JSON object: changed, release, archive, wheelhouse_key, wheels_archive. Errors go to
stderr with exit status 1. The pure parts are plugins/module_utils/django_app.py (unit-tested).
"""

from __future__ import annotations

import glob
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile

import importlib.util
import json
from pathlib import Path


def _load_helpers():
    """plugins/module_utils/django_app.py of this collection, by path (no Ansible import needed)."""
    path = Path(__file__).resolve().parents[3] / "plugins" / "module_utils" / "django_app.py"
    spec = importlib.util.spec_from_file_location("django_deploy_django_app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


da = _load_helpers()


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


def _runs(python):
    """Whether this interpreter starts (a pyenv shim of a version that is not selected does not)."""
    try:
        return subprocess.run([python, "-c", "import pip"], capture_output=True, timeout=60, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _python_for(version):
    """A Python <version> with pip on the controller: this one, python<version> on PATH, or one
    that pyenv has installed without selecting it (~/.pyenv or PYENV_ROOT)."""
    if "%d.%d" % sys.version_info[:2] == version:
        return sys.executable
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = [shutil.which("python" + version)] + sorted(
        glob.glob(os.path.join(pyenv_root, "versions", version + ".*", "bin", "python" + version)), reverse=True)
    for candidate in candidates:
        if candidate and _runs(candidate):
            return candidate
    raise BundleError("The hosts run Python %s: the controller needs python%s (with pip) on its PATH "
                      "or installed by pyenv to build wheels for them." % (version, version))


def _build_wheels(path, python, src, requirements, extra):
    work = tempfile.mkdtemp(prefix="django-app-wheels-")
    try:
        cmd = [python, "-m", "pip", "wheel", "--disable-pip-version-check", "--quiet", "--wheel-dir", work]
        for req in requirements:
            cmd += ["-r", os.path.join(src, req)]
        cmd += list(extra)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BundleError("pip wheel failed on the controller: %s\n%s%s" % (" ".join(cmd), proc.stdout, proc.stderr))
        wheels = sorted(os.path.basename(p) for p in glob.glob(os.path.join(work, "*.whl")))
        try:
            lock = da.lock_text(wheels).encode()
        except ValueError as exc:
            raise BundleError("The wheelhouse cannot be installed as is: %s (%s)" % (exc, ", ".join(wheels))) from exc

        def write(tmp):
            with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
                for wheel in wheels:
                    with open(os.path.join(work, wheel), "rb") as handle:
                        _add(tar, wheel, handle.read(), 0o644)
                _add(tar, da.LOCK_FILE, lock, 0o644)  # last: the hosts' "extracted" marker
        _write_atomically(path, write)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bundle(params):
    """Build what is missing; returns the result printed as JSON."""
    src = os.path.realpath(os.path.expanduser(params["src"]))
    build_dir = os.path.expanduser(params["build_dir"])
    requirements = params.get("requirements") or ["requirements.txt"]
    extra = params.get("extra_requirements") or []
    if not os.path.isfile(os.path.join(src, "manage.py")):
        raise BundleError("django_app_source %s has no manage.py: it must be the project directory" % src)
    requirement_texts = []
    for req in requirements:
        req_path = os.path.join(src, req)
        if not os.path.isfile(req_path):
            raise BundleError("django_app_source %s has no %s" % (src, req))
        with open(req_path, encoding="utf-8") as handle:
            requirement_texts.append(handle.read())
    if platform.machine() != params["machine"]:
        raise BundleError("The hosts are %s, the controller is %s: wheels built here would not install there."
                          % (params["machine"], platform.machine()))
    exclude = tuple(params["exclude"]) if params.get("exclude") is not None else da.DEFAULT_EXCLUDES
    entries = _project_files(src, exclude)
    version = next((data.decode("utf-8", "replace") for rel, _executable, data in entries if rel == "VERSION"), None)
    release = da.release_id(da.tree_digest(entries), version)
    key = da.wheelhouse_key(requirement_texts, extra, params["python_version"], params["machine"])
    out_dir = os.path.join(build_dir, params["name"])
    archive = os.path.join(out_dir, release + ".tar.gz")
    wheels = os.path.join(out_dir, "wheels-%s.tar" % key)
    todo = [path for path in (archive, wheels) if not os.path.isfile(path)]
    if todo:
        os.makedirs(out_dir, mode=0o755, exist_ok=True)
        if archive in todo:
            _source_archive(archive, entries, release)
        if wheels in todo:
            _build_wheels(wheels, _python_for(params["python_version"]), src, requirements, extra)
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
