"""Release bundles of a Django project, built on the controller (role django_app).

Pure helpers over plain values (names, bytes, text): which files belong to a release, the
release's identity (a digest of its content, so an unchanged project is the same release and a
re-run changes nothing), the wheelhouse key (the requirements and the hosts' Python and
platform) and the lock file that installs exactly the built wheels on hosts without PyPI.
The I/O (walking the tree, pip, tar) is in roles/django_app/files/django_app_bundle.py.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from typing import Iterable

# Never part of a release: VCS data, caches, local virtualenvs and collected files, local DBs.
DEFAULT_EXCLUDES = (
    ".git", ".hg", ".svn", "__pycache__", "*.pyc", "*.pyo", ".venv", "venv", "node_modules",
    ".tox", ".mypy_cache", ".pytest_cache", "staticfiles", "media", "db.sqlite3", "*.egg-info",
)
RELEASE_MARKER = ".django_deploy_release"
LOCK_FILE = "requirements.lock"
_WHEEL = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[A-Za-z0-9_.!+]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,39}$")


def is_excluded(relpath: str, patterns: Iterable[str] = DEFAULT_EXCLUDES) -> bool:
    """True when any component of relpath (a/b/c) matches one of the glob patterns."""
    parts = [p for p in relpath.split("/") if p]
    return any(fnmatch.fnmatchcase(part, pattern) for part in parts for pattern in patterns)


def tree_digest(entries: Iterable[tuple[str, bool, bytes]]) -> str:
    """sha256 over (relative path, executable bit, content) of every file, in path order.

    Timestamps and owners do not count: the same content is the same release on every run.
    """
    digest = hashlib.sha256()
    for relpath, executable, content in sorted(entries, key=lambda entry: entry[0]):
        if not isinstance(relpath, str) or not isinstance(content, bytes):
            raise TypeError("entries must be (str path, bool executable, bytes content)")
        digest.update(relpath.encode("utf-8") + b"\0" + (b"x" if executable else b"-") + b"\0")
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def release_id(digest: str, version: str | None = None) -> str:
    """The release directory's name: '<version>-<12 hex>' (the project's VERSION file when it
    has a usable one) or 'r-<12 hex>'."""
    if not re.fullmatch(r"[0-9a-f]{12,}", digest or ""):
        raise ValueError(f"digest must be hexadecimal, got {digest!r}")
    version = (version or "").strip()
    prefix = version if _VERSION.match(version) and "/" not in version else "r"
    return f"{prefix}-{digest[:12]}"


def wheelhouse_key(requirements: Iterable[str], extra: Iterable[str], python_version: str,
                   machine: str) -> str:
    """16 hex digits naming a wheelhouse: what is required and for which Python and machine."""
    if not re.fullmatch(r"3\.\d{1,2}", python_version or ""):
        raise ValueError(f"python_version must look like 3.11, got {python_version!r}")
    if not machine:
        raise ValueError("machine must name the hosts' architecture, e.g. x86_64")
    digest = hashlib.sha256()
    for part in [*requirements, "\0extra", *sorted(extra), "\0", python_version, machine]:
        digest.update(part.encode("utf-8") + b"\n")
    return digest.hexdigest()[:16]


def parse_wheel(filename: str) -> tuple[str, str]:
    """(distribution, version) of a wheel file name (PEP 427), the name normalized (PEP 503)."""
    match = _WHEEL.match(filename)
    if not match:
        raise ValueError(f"not a wheel file name: {filename!r}")
    name = re.sub(r"[-_.]+", "-", match.group("name")).lower()
    return name, match.group("version")


def lock_text(wheel_filenames: Iterable[str]) -> str:
    """requirements.lock: one 'name==version' per wheel, sorted; pip installs exactly these."""
    pins = {}
    for filename in wheel_filenames:
        name, version = parse_wheel(filename)
        if name in pins and pins[name] != version:
            raise ValueError(f"two versions of {name} in the wheelhouse: {pins[name]} and {version}")
        pins[name] = version
    if not pins:
        raise ValueError("the wheelhouse holds no wheels")
    return "".join(f"{name}=={pins[name]}\n" for name in sorted(pins))
