"""The release bundle helpers of the django_app role."""
import pytest
from hypothesis import given, strategies as st
from packaging import _manylinux
from packaging.markers import Marker, default_environment

from ansible_collections.django_deploy.stack.plugins.module_utils import django_app as da

X86_236 = da.manylinux_tags("2.36", "x86_64")


@pytest.mark.parametrize("path, excluded", [
    ("manage.py", False),
    ("demo/settings.py", False),
    ("demo/__pycache__/settings.cpython-311.pyc", True),
    (".git/config", True),
    ("notes/static/notes/site.css", False),
    ("staticfiles/x.css", True),
    ("db.sqlite3", True),
    ("venv/bin/python", True),
])
def test_is_excluded(path, excluded):
    assert da.is_excluded(path) is excluded


def test_tree_digest_is_order_and_time_independent():
    a = [("manage.py", True, b"x"), ("demo/settings.py", False, b"y")]
    assert da.tree_digest(a) == da.tree_digest(list(reversed(a)))


@pytest.mark.parametrize("change", [
    [("manage.py", False, b"x"), ("demo/settings.py", False, b"y")],   # executable bit
    [("manage.py", True, b"x"), ("demo/settings.py", False, b"z")],    # content
    [("manage.py", True, b"x"), ("demo/other.py", False, b"y")],       # name
    [("manage.py", True, b"x")],                                        # a file less
])
def test_tree_digest_sees_every_change(change):
    base = [("manage.py", True, b"x"), ("demo/settings.py", False, b"y")]
    assert da.tree_digest(base) != da.tree_digest(change)


def test_tree_digest_rejects_bad_entries():
    with pytest.raises(TypeError):
        da.tree_digest([("a", False, "text")])


@pytest.mark.parametrize("version, expected", [
    ("1.0.0", "1.0.0-0123456789ab"),
    (" 2.1\n", "2.1-0123456789ab"),
    (None, "r-0123456789ab"),
    ("", "r-0123456789ab"),
    ("../etc", "r-0123456789ab"),
    ("has space", "r-0123456789ab"),
])
def test_release_id(version, expected):
    assert da.release_id("0123456789abcdef", version) == expected


def test_a_requirement_change_is_a_new_release():
    tree = da.tree_digest([("manage.py", True, b"x")])
    base = da.release_digest(tree, ["Django==6.0\n"], ["gunicorn==26.1.0"])
    assert base == da.release_digest(tree, ["Django==6.0\n"], ["gunicorn==26.1.0"])
    assert base != da.release_digest(tree, ["Django==6.0.1\n"], ["gunicorn==26.1.0"])
    assert base != da.release_digest(tree, ["Django==6.0\n"], ["gunicorn==26.1.0", "redis==6.4.0"])
    assert base != da.release_digest(tree, ["Django==6.0\n", ""], ["gunicorn==26.1.0"])
    assert base != tree
    with pytest.raises(ValueError, match="tree must be a tree_digest"):
        da.release_digest("abc", [], [])


def test_release_id_needs_hex():
    with pytest.raises(ValueError):
        da.release_id("not-hex")


def test_wheelhouse_key_changes_with_every_input():
    base = da.wheelhouse_key(["Django==5.2"], ["gunicorn"], "3.11.2", X86_236)
    assert len(base) == 16
    assert base == da.wheelhouse_key(["Django==5.2"], ["gunicorn"], "3.11.2", list(X86_236))
    assert base != da.wheelhouse_key(["Django==5.1"], ["gunicorn"], "3.11.2", X86_236)
    assert base != da.wheelhouse_key(["Django==5.2"], [], "3.11.2", X86_236)
    assert base != da.wheelhouse_key(["Django==5.2"], ["gunicorn"], "3.11.7", X86_236)  # markers may compare it
    assert base != da.wheelhouse_key(["Django==5.2"], ["gunicorn"], "3.13.5", X86_236)
    assert base != da.wheelhouse_key(["Django==5.2"], ["gunicorn"], "3.11.2", da.manylinux_tags("2.41", "x86_64"))
    assert base != da.wheelhouse_key(["Django==5.2"], ["gunicorn"], "3.11.2", da.manylinux_tags("2.36", "aarch64"))


@pytest.mark.parametrize("python, platforms", [
    ("3.11", X86_236), ("3", X86_236), ("python3.11.2", X86_236), ("3.11.2", []), ("3.11.2", ["linux x86"]),
])
def test_wheelhouse_key_rejects_bad_targets(python, platforms):
    with pytest.raises(ValueError):
        da.wheelhouse_key([], [], python, platforms)


def test_manylinux_tags_of_debian_12_on_x86_64():
    assert X86_236[:2] == ["manylinux_2_36_x86_64", "manylinux_2_35_x86_64"]
    assert X86_236[X86_236.index("manylinux_2_17_x86_64") + 1] == "manylinux2014_x86_64"
    assert X86_236[X86_236.index("manylinux_2_12_x86_64") + 1] == "manylinux2010_x86_64"
    assert X86_236[-2:] == ["manylinux_2_5_x86_64", "manylinux1_x86_64"]
    assert len(X86_236) == 32 + 3


def test_manylinux_tags_of_debian_13_on_aarch64():
    tags = da.manylinux_tags("2.41", "aarch64")
    assert tags[0] == "manylinux_2_41_aarch64"
    assert tags[-2:] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    assert len(tags) == 25 + 1


@given(minor=st.integers(min_value=17, max_value=99), machine=st.sampled_from(sorted(da.MANYLINUX_MACHINES)))
def test_manylinux_tags_are_those_pip_uses_on_such_a_host(minor, machine):
    """The same tags, in the same order, as packaging (pip's) on a host of that glibc and machine."""
    saved = (_manylinux._get_glibc_version, _manylinux._have_compatible_abi, _manylinux._get_manylinux_module)
    _manylinux._get_glibc_version = lambda: (2, minor)
    _manylinux._have_compatible_abi = lambda executable, archs: True
    _manylinux._get_manylinux_module = lambda: None
    try:
        expected = list(_manylinux.platform_tags([machine]))
    finally:
        _manylinux._get_glibc_version, _manylinux._have_compatible_abi, _manylinux._get_manylinux_module = saved
    assert da.manylinux_tags(f"2.{minor}", machine) == expected


@given(minor=st.integers(min_value=17, max_value=99), machine=st.sampled_from(sorted(da.MANYLINUX_MACHINES)))
def test_manylinux_tags_go_down_from_the_hosts_glibc_without_repeats(minor, machine):
    tags = da.manylinux_tags(f"2.{minor}", machine)
    assert len(set(tags)) == len(tags)
    assert all(tag.endswith("_" + machine) for tag in tags)
    versions = [int(tag.split("_")[2]) for tag in tags if tag.startswith("manylinux_2_")]
    assert versions == list(range(minor, da.MANYLINUX_MACHINES[machine] - 1, -1))


@pytest.mark.parametrize("glibc, machine", [
    ("2.36", "amd64"), ("2.36", ""), ("2.36", "armv5tel"), ("236", "x86_64"), ("3.1", "x86_64"), (None, "x86_64"),
    ("2.16", "aarch64"), ("2.4", "x86_64"),
])
def test_manylinux_tags_rejects(glibc, machine):
    with pytest.raises(ValueError):
        da.manylinux_tags(glibc, machine)


@pytest.mark.parametrize("python, marker, expected", [
    ("3.11.2", 'python_full_version < "3.11.3"', True),
    ("3.11.7", 'python_full_version < "3.11.3"', False),
    ("3.13.5", 'python_version < "3.13"', False),
    ("3.11.2", 'python_version < "3.13"', True),
    ("3.13.5", 'sys_platform == "linux" and platform_system == "Linux" and os_name == "posix"', True),
    ("3.13.5", 'platform_machine == "aarch64"', False),
    ("3.13.5", 'implementation_name == "cpython" and platform_python_implementation == "CPython"', True),
    ("3.13.5", 'implementation_version >= "3.13.5"', True),
])
def test_marker_environment_is_the_hosts(python, marker, expected):
    environment = da.marker_environment(python, "x86_64")
    assert set(environment) == set(default_environment())
    assert Marker(marker).evaluate(environment) is expected


def test_marker_environment_needs_a_full_version():
    with pytest.raises(ValueError, match="full version like 3.13.5"):
        da.marker_environment("3.13", "x86_64")


def test_pip_target_options():
    tags = da.manylinux_tags("2.41", "x86_64")
    options = da.pip_target_options("3.13.5", tags)
    assert options[:7] == ["--only-binary=:all:", "--python-version", "3.13.5", "--implementation", "cp",
                           "--abi", "cp313"]
    assert options[7:] == [word for tag in tags for word in ("--platform", tag)]


@pytest.mark.parametrize("filename, pure", [
    ("Django-5.2.19-py3-none-any.whl", True),
    ("six-1.17.0-py2.py3-none-any.whl", True),
    ("docopt-0.6.2-py2.py3-none-any.whl", True),
    ("crcmod-1.7-cp311-cp311-linux_x86_64.whl", False),
    ("wcwidth-0.9.4-cp310-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", False),
    ("old-1.0-py2-none-any.whl", False),
    ("odd-1.0-py3-none-linux_x86_64.whl", False),
])
def test_is_pure_wheel(filename, pure):
    assert da.is_pure_wheel(filename) is pure


@pytest.mark.parametrize("requirement, name", [
    ("psycopg[binary]==3.3.9", "psycopg"), ("Django>=6", "Django"), ("zope.interface", "zope.interface"),
    ("docopt==0.6.2", "docopt"),
])
def test_requirement_name(requirement, name):
    assert da.requirement_name(requirement) == name


DJANGO_6_ON_311 = """\
Collecting django-celery-beat==2.9.0
ERROR: Ignored the following yanked versions: 4.2.12, 5.0.5
ERROR: Ignored the following versions that require a different python version: 6.0 Requires-Python >=3.12
ERROR: Could not find a version that satisfies the requirement Django>=6 (from versions: %s)
ERROR: No matching distribution found for Django>=6
""" % ", ".join("5.2.%d" % n for n in range(200))


def test_pip_missing_requirement():
    assert da.pip_missing_requirement(DJANGO_6_ON_311) == "Django>=6"
    assert da.pip_missing_requirement("ERROR: ResolutionImpossible: for help visit ...") is None


def test_pip_requires_python_error():
    output = "Processing ./x.whl\nERROR: Package 'ddtest-new' requires a different Python: 3.11.2 not in '>=3.12'\n"
    assert da.pip_requires_python_error(output) == ("ddtest-new", ">=3.12")
    assert da.pip_requires_python_error(DJANGO_6_ON_311) is None


def test_pip_downloaded_without_wheel():
    output = "Saved ./x.whl\nSuccessfully downloaded Django celery lp zope.interface\n"
    files = ["django-5.2.19-py3-none-any.whl", "celery-5.7.0-py3-none-any.whl",
             "zope_interface-7.0-cp313-cp313-manylinux_2_17_x86_64.whl", "other-1.0.tar.gz"]
    assert da.pip_downloaded_without_wheel(output, files) == ["lp"]
    assert da.pip_downloaded_without_wheel(output, files + ["lp-1.0-py3-none-any.whl"]) == []
    assert da.pip_downloaded_without_wheel("", files) == []  # pip said nothing (quiet): nothing to check


def test_local_directory_message():
    message = da.local_directory_message(["lp", "other"])
    assert message.startswith("lp, other: required as a local directory") and "not supported yet" in message


def test_pip_detail_keeps_the_last_error_lines_short():
    detail = da.pip_detail(DJANGO_6_ON_311)
    assert detail.splitlines()[-1] == "ERROR: No matching distribution found for Django>=6"
    assert "Collecting" not in detail and len(detail.splitlines()) == 4
    assert all(len(line) <= 200 for line in detail.splitlines())
    assert da.pip_detail("a\nb\n\nc\n", lines=2) == "b\nc"  # no ERROR lines: the last ones


@pytest.mark.parametrize("metadata, expected", [
    ("Metadata-Version: 2.1\nName: django\nRequires-Python: >=3.12\n\nRequires-Python: no\n", ">=3.12"),
    ("Metadata-Version: 2.1\r\nrequires-python:  >=3.8, <4 \r\n", ">=3.8, <4"),
    ("Metadata-Version: 2.1\nName: x\n\nRequires-Python: >=3.12 (in the description)\n", None),
])
def test_metadata_requires_python(metadata, expected):
    assert da.metadata_requires_python(metadata) == expected


def test_requires_python_message_names_the_requirement_and_the_way_out():
    message = da.requires_python_message("Django>=6", ">=3.12", "3.11.2", {"13": "3.13"})
    assert message.startswith("Django>=6 requires Python >=3.12 and the hosts run Python 3.11.2: ")
    assert "supports Python 3.11" in message
    assert "Debian 13 hosts run Python 3.13" in message and "Debian 12" not in message
    assert "\n" not in message


def test_requires_python_message_on_the_newest_release_has_no_newer_hosts():
    message = da.requires_python_message("future-thing==1.0", ">=3.14", "3.13.5", {})
    assert "supports Python 3.13." in message and "Debian" not in message


def test_c_extension_message():
    tags = da.manylinux_tags("2.41", "x86_64")
    message = da.c_extension_message("crcmod @ https://example.com/crcmod-1.7.tar.gz",
                                     "crcmod-1.7-cp313-cp313-linux_x86_64.whl", "3.13.5", tags)
    for part in ("crcmod @ https://example.com/crcmod-1.7.tar.gz", "CPython 3.13.5 on manylinux_2_41_x86_64",
                 "crcmod-1.7-cp313-cp313-linux_x86_64.whl", "a requirement given by URL is built on the controller",
                 "Require crcmod from a package index"):
        assert part in message


def test_no_wheel_message():
    message = da.no_wheel_message("nothing==1.0", "3.11.2", X86_236)
    assert message == ("nothing==1.0 has no wheel for the hosts (CPython 3.11.2 on manylinux_2_36_x86_64) and no "
                       "source distribution pip could fetch to build one from.")


# --- sources built on an app host ---------------------------------------------------------------

_PKG_INFO = ("Metadata-Version: 2.4\nName: psycopg-c\nVersion: 3.2.9\nSummary: C optimisation\n"
             "Requires-Python: >=3.8\nProvides-Extra: test\nRequires-Dist: typing-extensions>=4.6; "
             "python_version < \"3.13\"\nRequires-Dist: pytest; extra == \"test\"\nDynamic: license-file\n"
             "\nRequires-Dist: in the description, not a header\n")


def test_pkg_info_metadata_keeps_what_resolving_needs():
    assert da.pkg_info_metadata(_PKG_INFO) == (
        "Metadata-Version: 2.1\nName: psycopg-c\nVersion: 3.2.9\nRequires-Python: >=3.8\nProvides-Extra: test\n"
        "Requires-Dist: typing-extensions>=4.6; python_version < \"3.13\"\nRequires-Dist: pytest; extra == \"test\"\n")


@pytest.mark.parametrize("pkg_info", [
    "Metadata-Version: 2.1\nName: x\nVersion: 1.0\n",                       # before PEP 643: may be computed
    "Metadata-Version: 2.2\nName: x\nVersion: 1.0\nDynamic: Requires-Dist\n",
    "Metadata-Version: 2.3\nName: x\nVersion: 1.0\nDynamic: requires-python\n",
    "Metadata-Version: 2.2\nName: x\n",                                      # no version
    "Metadata-Version: two\nName: x\nVersion: 1.0\n",
    "",
])
def test_pkg_info_metadata_refuses_what_it_cannot_trust(pkg_info):
    assert da.pkg_info_metadata(pkg_info) is None


def test_report_metadata_is_pips_json_as_headers():
    metadata = {"metadata_version": "2.1", "name": "crcmod", "version": "1.7", "requires_dist": ["six; extra == 'x'"],
                "provides_extra": ["x"]}
    assert da.report_metadata(metadata) == ("Metadata-Version: 2.1\nName: crcmod\nVersion: 1.7\nProvides-Extra: x\n"
                                            "Requires-Dist: six; extra == 'x'\n")
    with pytest.raises(ValueError):
        da.report_metadata({"name": "crcmod"})


def test_metadata_name_version_and_the_placeholders_name():
    assert da.metadata_name_version(_PKG_INFO) == ("psycopg-c", "3.2.9")
    assert da.placeholder_wheel_name("Psycopg_C", "3.2.9") == "psycopg_c-3.2.9-py3-none-any.whl"
    with pytest.raises(ValueError):
        da.metadata_name_version("Name: x\n")


@pytest.mark.parametrize("pyproject, expected", [
    (None, ["setuptools>=40.8.0", "wheel"]),
    ({"project": {"name": "x"}}, ["setuptools>=40.8.0", "wheel"]),
    ({"build-system": {"requires": ["setuptools >= 49.2.0", "tomli; python_version < '3.11'"]}},
     ["setuptools >= 49.2.0", "tomli; python_version < '3.11'"]),
    ({"build-system": {"requires": []}}, []),
])
def test_build_requirements(pyproject, expected):
    assert da.build_requirements(pyproject) == expected


def test_build_requirements_must_be_a_list():
    with pytest.raises(ValueError, match="must be a list"):
        da.build_requirements({"build-system": {"requires": "setuptools"}})


_TO_BUILD = [{"name": "psycopg-c", "version": "3.2.9", "sdist": "psycopg_c-3.2.9.tar.gz"}]


@pytest.mark.parametrize("filenames", [
    ["psycopg_c-3.2.9-cp313-cp313-linux_x86_64.whl"],
    ["psycopg_c-3.2.9-cp313-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "build.log"],
])
def test_host_built_wheels_are_those_of_the_sources(filenames):
    assert da.host_built_wheels(_TO_BUILD, filenames, "3.13.5", "x86_64") == [filenames[0]]


@pytest.mark.parametrize("filenames, problem", [
    ([], "no wheel of psycopg-c 3.2.9 was built"),
    (["psycopg_c-3.2.8-cp313-cp313-linux_x86_64.whl"], "is not one of the sources built (psycopg-c 3.2.9)"),
    (["psycopg_c-3.2.9-cp311-cp311-linux_x86_64.whl"], "is not for the hosts (CPython 3.13 on x86_64)"),
    (["psycopg_c-3.2.9-cp313-cp313-linux_aarch64.whl"], "is not for the hosts (CPython 3.13 on x86_64)"),
    (["psycopg_c-3.2.9-cp313-cp313-linux_x86_64.whl", "psycopg_c-3.2.9-cp313-abi3-linux_x86_64.whl"], "two wheels"),
])
def test_host_built_wheels_refuses_others(filenames, problem):
    with pytest.raises(ValueError) as caught:
        da.host_built_wheels(_TO_BUILD, filenames, "3.13.5", "x86_64")
    assert problem in str(caught.value)


@pytest.mark.parametrize("filename, expected", [
    ("Django-5.2.19-py3-none-any.whl", ("django", "5.2.19")),
    ("psycopg_binary-3.3.9-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", ("psycopg-binary", "3.3.9")),
    ("zope.interface-7.0-1-cp311-cp311-linux_x86_64.whl", ("zope-interface", "7.0")),
])
def test_parse_wheel(filename, expected):
    assert da.parse_wheel(filename) == expected


def test_lock_text_pins_every_wheel_sorted():
    text = da.lock_text(["kombu-5.5.0-py3-none-any.whl", "Django-5.2.19-py3-none-any.whl"])
    assert text == "django==5.2.19\nkombu==5.5.0\n"


@pytest.mark.parametrize("names", [[], ["README.txt"], ["a-1-py3-none-any.whl", "a-2-py3-none-any.whl"]])
def test_lock_text_rejects(names):
    with pytest.raises(ValueError):
        da.lock_text(names)


# --- the project's requirements and the deployment's additions ----------------------------------

def test_parse_requirements_reads_what_pip_reads():
    text = ("# base\nDjango==6.0  # pinned\n-r base.txt\n--requirement=other.txt\n-rthird.txt\n-c constraints.txt\n"
            "--index-url https://example.com/simple\npsycopg[c]==3.3.4 \\\n    --hash=sha256:abc\n"
            "gunicorn==26.1.0 ; python_version >= \"3.12\"\n./local\nhttps://example.com/x.tar.gz\n"
            "Foo_Bar @ https://example.com/foo.whl\n-e .\n")
    requirements, includes, constraints = da.parse_requirements(text)
    assert includes == ["base.txt", "other.txt", "third.txt"] and constraints == ["constraints.txt"]
    assert da.requirement_names(requirements) == {"django", "psycopg", "gunicorn", "foo-bar"}


@pytest.mark.parametrize("project, added", [
    (set(), ["gunicorn==27.0.1", "psycopg[binary]==3.3.9", "pymemcache==4.0.0"]),
    ({"gunicorn", "psycopg"}, ["pymemcache==4.0.0"]),                  # psycopg[c] and the project's gunicorn
    ({"psycopg2-binary"}, ["gunicorn==27.0.1", "pymemcache==4.0.0"]),  # another driver of the same job
    ({"Gunicorn", "PyMemcache"}, ["psycopg[binary]==3.3.9"]),          # names compare as PEP 503 says
])
def test_the_deployment_adds_only_what_the_project_does_not_require(project, added):
    extra = ["gunicorn==27.0.1", "psycopg[binary]==3.3.9", "pymemcache==4.0.0"]
    assert da.deployment_additions(extra, project) == added


@given(st.lists(st.sampled_from(["gunicorn", "psycopg", "psycopg2", "pymemcache", "redis", "django"]), unique=True))
def test_an_addition_is_kept_exactly_when_the_project_lacks_its_job(project):
    extra = ["gunicorn==27.0.1", "psycopg[binary]==3.3.9", "pymemcache==4.0.0", "redis==6.4.0"]
    added = da.deployment_additions(extra, project)
    assert set(added) <= set(extra)
    for requirement in extra:
        name = da.requirement_name(requirement)
        have = bool({name} & set(project)) or (name == "psycopg" and "psycopg2" in project)
        assert (requirement in added) != have


def test_pips_conflict_is_one_message():
    output = ("ERROR: Cannot install gunicorn==26.1.0 and gunicorn==27.0.1 because these package versions have "
              "conflicting dependencies.\n\nThe conflict is caused by:\n    The user requested gunicorn==26.1.0\n"
              "    The user requested gunicorn==27.0.1\n\nTo fix this you could try to:\n")
    assert da.pip_conflict_message(output) == (
        "The requirements conflict: pip cannot install gunicorn==26.1.0 and gunicorn==27.0.1 together (The user "
        "requested gunicorn==26.1.0; The user requested gunicorn==27.0.1). Change one of them, in the project's "
        "requirements or django_app_extra_requirements.")
    assert da.pip_conflict_message("ERROR: No matching distribution found for x") is None


@pytest.mark.parametrize("names, compiled", [
    (["psycopg_c-3.2.9/PKG-INFO", "psycopg_c-3.2.9/psycopg_c/pq.c"], True),
    (["x-1.0/src/x.PYX"], True),
    (["x-1.0/Cargo.toml", "x-1.0/pyproject.toml"], True),
    (["x-1.0/x/__init__.py", "x-1.0/docs/conf.py", "x-1.0/x/cli.py"], False),
])
def test_compiles_code(names, compiled):
    assert da.compiles_code(names) is compiled
