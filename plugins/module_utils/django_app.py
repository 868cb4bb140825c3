"""Release bundles of a Django project, built on the controller (role django_app).

Pure helpers over plain values (names, bytes, text): which files belong to a release, the
release's identity (a digest of its files and requirements, so an unchanged project is the same
release and a re-run changes nothing, and a changed requirement is a new release), the hosts' target (their exact Python, their platform tags and marker
environment, what pip is told to resolve for), the wheelhouse key (the requirements and that
target), the lock file that installs exactly the fetched wheels on hosts without PyPI, and the
messages of the ways pip can fail for the hosts.
The I/O (walking the tree, pip, tar) is in roles/django_app/files/django_app_bundle.py.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from typing import Iterable, Mapping

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


def release_digest(tree: str, requirements: Iterable[str], extra: Iterable[str]) -> str:
    """sha256 over the project's files (tree_digest) and what it requires (the requirements files'
    texts, then the deployment's extra requirements): changing a requirement makes a new release,
    with a virtualenv of its own. The hosts' Python and platform do not count (the wheelhouse key
    has them): the same project is the same release on every host."""
    if not re.fullmatch(r"[0-9a-f]{64}", tree or ""):
        raise ValueError(f"tree must be a tree_digest, got {tree!r}")
    digest = hashlib.sha256(tree.encode("ascii") + b"\n")
    for part in [*requirements, "\0extra", *sorted(extra)]:
        digest.update(part.encode("utf-8") + b"\n")
    return digest.hexdigest()


def release_id(digest: str, version: str | None = None) -> str:
    """The release directory's name: '<version>-<12 hex>' (the project's VERSION file when it
    has a usable one) or 'r-<12 hex>'."""
    if not re.fullmatch(r"[0-9a-f]{12,}", digest or ""):
        raise ValueError(f"digest must be hexadecimal, got {digest!r}")
    version = (version or "").strip()
    prefix = version if _VERSION.match(version) and "/" not in version else "r"
    return f"{prefix}-{digest[:12]}"


# The hosts' machine (uname -m, Ansible's fact machine) -> the oldest glibc (2.N) of its manylinux
# tags (PEP 600): 2.5 on x86, where manylinux1 began; 2.17 (manylinux2014) elsewhere.
MANYLINUX_MACHINES = {"x86_64": 5, "i686": 5, "aarch64": 17, "armv7l": 17, "ppc64le": 17, "s390x": 17,
                      "riscv64": 17}
# The legacy names of some manylinux_2_N tags (PEP 513, 571, 599).
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
_PYTHON_VERSION = re.compile(r"(3)\.(\d{1,2})\.(\d{1,3})")
_PLATFORM_TAG = re.compile(r"[a-z0-9_]+")
_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_WHEEL_TAGS = re.compile(r"-(?P<python>[^-]+)-(?P<abi>[^-]+)-(?P<platform>[^-]+)\.whl$")


def _python_version(version: str) -> tuple[int, int, int]:
    match = _PYTHON_VERSION.fullmatch(version or "") if isinstance(version, str) else None
    if not match:
        raise ValueError(f"the hosts' Python version must be a full version like 3.13.5, got {version!r}")
    major, minor, micro = (int(part) for part in match.groups())
    return major, minor, micro


def manylinux_tags(glibc: str, machine: str) -> list[str]:
    """Every manylinux platform tag of wheels that run on a host of this glibc ('2.36') and machine,
    most specific first: manylinux_2_36_x86_64 ... manylinux_2_17_x86_64, manylinux2014_x86_64 ...
    manylinux1_x86_64. pip's --platform takes each one it may use: it infers no older ones."""
    match = re.fullmatch(r"2\.(\d{1,3})", glibc or "") if isinstance(glibc, str) else None
    if not match:
        raise ValueError(f"the hosts' glibc version must look like 2.36, got {glibc!r}")
    if machine not in MANYLINUX_MACHINES:
        raise ValueError(f"the hosts' machine must be one of {', '.join(sorted(MANYLINUX_MACHINES))} (wheels are "
                         f"fetched for their manylinux platform), got {machine!r}")
    oldest, newest = MANYLINUX_MACHINES[machine], int(match.group(1))
    if newest < oldest:
        raise ValueError(f"glibc {glibc} is older than every manylinux platform of {machine} (2.{oldest})")
    tags = []
    for minor in range(newest, oldest - 1, -1):
        tags.append(f"manylinux_2_{minor}_{machine}")
        if minor in _LEGACY_MANYLINUX:
            tags.append(f"{_LEGACY_MANYLINUX[minor]}_{machine}")
    return tags


def marker_environment(python_version: str, machine: str) -> dict[str, str]:
    """The hosts' PEP 508 marker environment: what the requirements' markers are evaluated with
    (redis requires async-timeout on Python 3.11.2, not on 3.11.7). The kernel's release and version
    are not known on the controller: empty."""
    major, minor, _micro = _python_version(python_version)
    return {
        "implementation_name": "cpython",
        "implementation_version": python_version,
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": python_version,
        "python_version": f"{major}.{minor}",
        "sys_platform": "linux",
    }


def pip_target_options(python_version: str, platforms: Iterable[str]) -> list[str]:
    """pip download's options that take only wheels for the hosts: their CPython ABI (cp313; abi3
    and none follow), their platform tags (pure wheels, any, always match), Requires-Python checked
    against their full version."""
    major, minor, _micro = _python_version(python_version)
    options = ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
               "--abi", f"cp{major}{minor}"]
    for tag in platforms:
        options += ["--platform", tag]
    return options


def wheelhouse_key(requirements: Iterable[str], extra: Iterable[str], python_version: str,
                   platforms: Iterable[str]) -> str:
    """16 hex digits naming a wheelhouse: what is required and for which Python (the full version:
    markers may compare it) and platform tags."""
    _python_version(python_version)
    platforms = list(platforms)
    if not platforms or not all(isinstance(tag, str) and _PLATFORM_TAG.fullmatch(tag) for tag in platforms):
        raise ValueError(f"platforms must be the hosts' platform tags, e.g. manylinux_2_36_x86_64, got {platforms!r}")
    digest = hashlib.sha256()
    for part in [*requirements, "\0extra", *sorted(extra), "\0", python_version, *platforms]:
        digest.update(part.encode("utf-8") + b"\n")
    return digest.hexdigest()[:16]


def is_pure_wheel(filename: str) -> bool:
    """Whether a wheel runs on any Python 3 and platform (py3-none-any, py2.py3-none-any)."""
    parse_wheel(filename)
    tags = _WHEEL_TAGS.search(filename)
    return (tags.group("abi") == "none" and tags.group("platform") == "any"
            and "py3" in tags.group("python").split("."))


def requirement_name(requirement: str) -> str:
    """The project of a requirement as pip reports it: 'psycopg[binary]==3.3.9' -> 'psycopg'."""
    match = _REQUIREMENT_NAME.match(requirement or "")
    if not match:
        raise ValueError(f"not a requirement: {requirement!r}")
    return match.group(1)


def canonical_name(name: str) -> str:
    """A project's name as PEP 503 compares them: 'Psycopg_Binary' -> 'psycopg-binary'."""
    return re.sub(r"[-_.]+", "-", name).lower()


_INCLUDE = re.compile(r"^(?:-r|--requirement)(?:\s*=\s*|\s+|(?=[^\s-]))(?P<path>\S+)")
_CONSTRAINT = re.compile(r"^(?:-c|--constraint)(?:\s*=\s*|\s+|(?=[^\s-]))(?P<path>\S+)")


def parse_requirements(text: str) -> tuple[list[str], list[str], list[str]]:
    """(the requirements, the files it includes with -r, the constraints files of -c) of a pip
    requirements file's text. Comments, blank lines and other options are left out; a line ending
    in a backslash continues on the next. Local paths and bare URLs are requirements without a
    name (requirement_names leaves them out)."""
    if not isinstance(text, str):
        raise TypeError("text must be the requirements file's text")
    requirements: list[str] = []
    includes: list[str] = []
    constraints: list[str] = []
    for line in re.sub(r"\\\r?\n", " ", text).splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not line:
            continue
        include, constraint = _INCLUDE.match(line), _CONSTRAINT.match(line)
        if include:
            includes.append(include.group("path"))
        elif constraint:
            constraints.append(constraint.group("path"))
        elif not line.startswith("-"):
            requirements.append(line)
    return requirements, includes, constraints


def requirement_names(requirements: Iterable[str]) -> set[str]:
    """The canonical project names of requirements ('Django>=6.0', 'psycopg[c]==3.3.4', 'x @ https://...');
    local paths and bare URLs name none."""
    names = set()
    for requirement in requirements:
        if "://" in requirement.split(" @ ")[0] or requirement.startswith((".", "/", "~")):
            continue
        names.add(canonical_name(requirement_name(requirement)))
    return names


# Projects that do one job: a project requiring any of them has what the deployment would add.
_ALTERNATIVES = ({"psycopg", "psycopg-binary", "psycopg-c", "psycopg2", "psycopg2-binary"},)


def deployment_additions(extra: Iterable[str], project_names: Iterable[str]) -> list[str]:
    """The deployment's extra requirements (its app server, database driver, cache client) the
    project does not already require: the project's own pins win. A project requiring psycopg2 has
    its database driver too."""
    have = {canonical_name(name) for name in project_names}
    added = []
    for requirement in extra:
        name = canonical_name(requirement_name(requirement))
        group = next((g for g in _ALTERNATIVES if name in g), {name})
        if not group & have:
            added.append(requirement)
    return added


def pip_conflict_message(output: str) -> str | None:
    """One message for pip's ResolutionImpossible ('Cannot install A and B because these package
    versions have conflicting dependencies', then 'The conflict is caused by:' and its lines), or
    None when pip failed otherwise."""
    found = re.findall(r"Cannot install (.+?) because these package versions have conflicting dependencies",
                       output or "")
    if not found:
        return None
    causes = re.search(r"The conflict is caused by:\n((?:[ \t]+\S.*\n?)+)", output or "")
    cause = "; ".join(line.strip() for line in causes.group(1).splitlines()) if causes else ""
    return (f"The requirements conflict: pip cannot install {found[-1]} together"
            + (f" ({cause})" if cause else "")
            + ". Change one of them, in the project's requirements or django_app_extra_requirements.")


def pip_missing_requirement(output: str) -> str | None:
    """The requirement pip found no distribution for ('No matching distribution found for X'), or
    None when pip failed otherwise."""
    found = re.findall(r"No matching distribution found for (\S+)", output or "")
    return found[-1] if found else None


def pip_requires_python_error(output: str) -> tuple[str, str] | None:
    """(project, Requires-Python) when pip refused a wheel it had chosen for the hosts' Python
    ("Package 'x' requires a different Python: 3.11.2 not in '>=3.12'"), else None."""
    found = re.findall(r"Package '([^']+)' requires a different Python: \S+ not in '([^']*)'", output or "")
    return found[-1] if found else None


def pip_downloaded_without_wheel(output: str, filenames: Iterable[str]) -> list[str]:
    """The projects pip download reports ("Successfully downloaded a b") that have no wheel among
    filenames: pip saves nothing for a requirement given as a local directory."""
    found = re.findall(r"^Successfully downloaded (.+)$", output or "", re.MULTILINE)
    names = [re.sub(r"[-_.]+", "-", name).lower() for name in (found[-1].split() if found else [])]
    wheels = {parse_wheel(name)[0] for name in filenames if name.endswith(".whl")}
    return sorted(set(names) - wheels)


def local_directory_message(names: Iterable[str]) -> str:
    """Requirements given as local directories (pip download saves nothing for them)."""
    return (f"{', '.join(names)}: required as a local directory, which pip download cannot fetch a wheel of for "
            f"the hosts; this is not supported yet. Require it from an index, or by URL (git+https://..., an "
            f"archive): those are built here when they are pure Python.")


def pip_detail(output: str, lines: int = 4, width: int = 200) -> str:
    """pip's last relevant lines, for an error message: its last ERROR lines (else its last lines),
    each cut to width characters (pip lists every version it found on one line)."""
    text = [line.rstrip() for line in (output or "").splitlines() if line.strip()]
    chosen = ([line for line in text if line.startswith("ERROR:")] or text)[-lines:]
    return "\n".join(line if len(line) <= width else line[:width - 3] + "..." for line in chosen)


def metadata_requires_python(metadata: str) -> str | None:
    """The Requires-Python of a wheel's METADATA (RFC 822 headers, up to the first blank line)."""
    headers = re.split(r"\r?\n\r?\n", metadata or "", maxsplit=1)[0]
    match = re.search(r"^Requires-Python:[ \t]*(\S.*?)\s*$", headers, re.MULTILINE | re.IGNORECASE)
    return match.group(1) if match else None


def hosts_text(python_version: str, platforms: Iterable[str]) -> str:
    """The hosts in a message: 'CPython 3.13.5 on manylinux_2_41_x86_64' (their newest tag)."""
    return f"CPython {python_version} on {next(iter(platforms), '?')}"


def requires_python_message(requirement: str, requires_python: str, python_version: str,
                            newer_pythons: Mapping[str, str] | None = None) -> str:
    """A requirement whose versions all exclude the hosts' Python, and the ways out.
    newer_pythons: {Debian release: its Python} of the supported releases newer than the hosts'."""
    major, minor, _micro = _python_version(python_version)
    newer = [f"Debian {name} hosts run Python {python}" for name, python in sorted((newer_pythons or {}).items())]
    way_out = f", or deploy to hosts with a newer Python ({'; '.join(newer)})" if newer else ""
    return (f"{requirement} requires Python {requires_python} and the hosts run Python {python_version}: require "
            f"a version of it that supports Python {major}.{minor}{way_out}.")


def c_extension_message(requirement: str, wheel: str, python_version: str, platforms: Iterable[str]) -> str:
    """A requirement given by URL whose source builds more than pure Python (only the sources of an
    index's requirements are built on an app host)."""
    return (f"{requirement} has no wheel for the hosts ({hosts_text(python_version, platforms)}) and its source "
            f"builds {wheel}, not a pure-Python wheel: a requirement given by URL is built on the controller, "
            f"pure Python only. Require {parse_wheel(wheel)[0]} from a package index, whose source "
            f"distributions are built on an app host when they have no wheel for the hosts.")


def no_wheel_message(requirement: str, python_version: str, platforms: Iterable[str]) -> str:
    """A requirement with no wheel for the hosts and no source that builds one on the controller."""
    return (f"{requirement} has no wheel for the hosts ({hosts_text(python_version, platforms)}) and no source "
            f"distribution pip could fetch to build one from.")


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


# --- sources built on an app host ---------------------------------------------------------------
# A requirement with no wheel for the hosts whose source does not build a pure-Python wheel on the
# controller (a C extension such as psycopg-c) is kept as its source distribution and built on one
# app host (release.yml). To resolve the rest for the hosts, pip download is offered a placeholder:
# a pure wheel with the source's name, version and dependencies, which never reaches a host.

# PEP 517's default when a source has no [build-system] table (pip's own).
DEFAULT_BUILD_REQUIREMENTS = ("setuptools>=40.8.0", "wheel")
_METADATA_FIELDS = ("Requires-Python", "Requires-Dist", "Provides-Extra")


def _headers(text: str) -> list[tuple[str, str]]:
    """The (field, value) pairs of RFC 822 headers (up to the first blank line), continuations joined."""
    pairs: list[tuple[str, str]] = []
    for line in re.split(r"\r?\n\r?\n", text or "", maxsplit=1)[0].splitlines():
        if line[:1] in (" ", "\t") and pairs:
            pairs[-1] = (pairs[-1][0], pairs[-1][1] + " " + line.strip())
        elif ":" in line:
            field, value = line.split(":", 1)
            pairs.append((field.strip(), value.strip()))
    return pairs


def _metadata_text(name: str, version: str, requires_python: str | None, requires_dist: Iterable[str],
                   extras: Iterable[str]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Python: {requires_python}"] if requires_python else []
    lines += [f"Provides-Extra: {extra}" for extra in extras]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires_dist]
    return "\n".join(lines) + "\n"


def pkg_info_metadata(pkg_info: str) -> str | None:
    """A placeholder wheel's METADATA from a source distribution's PKG-INFO, or None when PKG-INFO
    cannot be trusted for its dependencies: before Metadata-Version 2.2 (PEP 643) they may be
    computed at build time, and from 2.2 on when Requires-Dist, Requires-Python or Provides-Extra
    is Dynamic."""
    headers = _headers(pkg_info)
    fields: dict[str, list[str]] = {}
    for field, value in headers:
        fields.setdefault(field.lower(), []).append(value)
    try:
        version = tuple(int(part) for part in fields.get("metadata-version", [""])[0].split("."))
    except ValueError:
        return None
    dynamic = {value.lower() for value in fields.get("dynamic", [])}
    if version < (2, 2) or dynamic & {field.lower() for field in _METADATA_FIELDS}:
        return None
    if not fields.get("name") or not fields.get("version"):
        return None
    return _metadata_text(fields["name"][0], fields["version"][0], (fields.get("requires-python") or [None])[0],
                          fields.get("requires-dist", []), fields.get("provides-extra", []))


def report_metadata(metadata: Mapping) -> str:
    """A placeholder wheel's METADATA from the metadata pip prepared from a source (the "metadata"
    of an item of pip's installation report, PEP 566's JSON form)."""
    if not isinstance(metadata, Mapping) or not metadata.get("name") or not metadata.get("version"):
        raise ValueError(f"pip's report has no name and version: {metadata!r}")
    return _metadata_text(str(metadata["name"]), str(metadata["version"]), metadata.get("requires_python"),
                          [str(r) for r in metadata.get("requires_dist") or []],
                          [str(e) for e in metadata.get("provides_extra") or []])


def metadata_name_version(metadata: str) -> tuple[str, str]:
    """(name as PEP 503 normalizes it, version) of METADATA or PKG-INFO text."""
    fields = {field.lower(): value for field, value in reversed(_headers(metadata))}
    if not fields.get("name") or not fields.get("version"):
        raise ValueError("the metadata names no Name and Version")
    return canonical_name(fields["name"]), fields["version"]


_COMPILED_SOURCES = (".c", ".cc", ".cpp", ".cxx", ".pyx", ".rs", ".f90", "/cargo.toml")


def compiles_code(member_names: Iterable[str]) -> bool:
    """Whether a source distribution (its archive's member names) has C, C++, Cython, Rust or Fortran
    sources: its wheel is not pure Python, so it goes to an app host without a build here."""
    return any(name.lower().endswith(_COMPILED_SOURCES) for name in member_names)


def placeholder_wheel_name(name: str, version: str) -> str:
    """The file name of the placeholder wheel of a source: psycopg-c 3.2.9 -> psycopg_c-3.2.9-py3-none-any.whl."""
    filename = f"{canonical_name(name).replace('-', '_')}-{version}-py3-none-any.whl"
    parse_wheel(filename)
    return filename


def build_requirements(pyproject: Mapping | None) -> list[str]:
    """What building a source needs (PEP 518): its pyproject.toml's [build-system] requires (the
    parsed TOML), setuptools and wheel when it has no [build-system] (or no pyproject.toml)."""
    system = (pyproject or {}).get("build-system")
    if not isinstance(system, Mapping):
        return list(DEFAULT_BUILD_REQUIREMENTS)
    requires = system.get("requires", list(DEFAULT_BUILD_REQUIREMENTS))
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise ValueError(f"[build-system] requires must be a list of requirements, got {requires!r}")
    return list(requires)


def to_build_text(to_build: Iterable[Mapping]) -> str:
    """The sources left to build in a message: 'psycopg-c 3.2.9, other 1.0'."""
    return ", ".join(f"{item['name']} {item['version']}" for item in to_build)


def host_built_wheels(to_build: Iterable[Mapping], filenames: Iterable[str], python_version: str,
                      machine: str) -> list[str]:
    """The wheels built on an app host for the sources left to build ({name, version}), one per
    source, checked: exactly the sources' names and versions, for the hosts' CPython (cpXY or abi3
    or pure) and machine (linux_<machine>, manylinux or any). ValueError says what is wrong."""
    major, minor, _micro = _python_version(python_version)
    to_build = list(to_build)
    wanted = {canonical_name(item["name"]): str(item["version"]) for item in to_build}
    found: dict[str, str] = {}
    problems = []
    for filename in sorted(name for name in filenames if name.endswith(".whl")):
        name, version = parse_wheel(filename)
        tags = _WHEEL_TAGS.search(filename)
        abi, platform = tags.group("abi"), tags.group("platform")
        if name not in wanted or wanted[name] != version:
            problems.append(f"{filename} is not one of the sources built ({to_build_text(to_build)})")
        elif name in found:
            problems.append(f"two wheels of {name}: {found[name]} and {filename}")
        elif abi not in (f"cp{major}{minor}", "abi3", "none") or not all(
                p == "any" or p == f"linux_{machine}" or (p.startswith("manylinux") and p.endswith("_" + machine))
                for p in platform.split(".")):
            problems.append(f"{filename} is not for the hosts (CPython {major}.{minor} on {machine})")
        else:
            found[name] = filename
    problems += [f"no wheel of {name} {version} was built" for name, version in sorted(wanted.items())
                 if name not in found]
    if problems:
        raise ValueError("; ".join(problems))
    return [found[name] for name in sorted(found)]
