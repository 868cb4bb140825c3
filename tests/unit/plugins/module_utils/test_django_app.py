"""The release bundle helpers of the django_app role."""
import pytest

from ansible_collections.django_deploy.stack.plugins.module_utils import django_app as da


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


def test_release_id_needs_hex():
    with pytest.raises(ValueError):
        da.release_id("not-hex")


def test_wheelhouse_key_changes_with_every_input():
    base = da.wheelhouse_key(["Django==5.2"], ["gunicorn"], "3.11", "x86_64")
    assert len(base) == 16
    assert base == da.wheelhouse_key(["Django==5.2"], ["gunicorn"], "3.11", "x86_64")
    assert base != da.wheelhouse_key(["Django==5.1"], ["gunicorn"], "3.11", "x86_64")
    assert base != da.wheelhouse_key(["Django==5.2"], [], "3.11", "x86_64")
    assert base != da.wheelhouse_key(["Django==5.2"], ["gunicorn"], "3.12", "x86_64")
    assert base != da.wheelhouse_key(["Django==5.2"], ["gunicorn"], "3.11", "aarch64")


@pytest.mark.parametrize("python, machine", [("3", "x86_64"), ("python3.11", "x86_64"), ("3.11", "")])
def test_wheelhouse_key_rejects_bad_targets(python, machine):
    with pytest.raises(ValueError):
        da.wheelhouse_key([], [], python, machine)


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
