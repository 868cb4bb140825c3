"""Offline stand-in for pip's get-pip.py, the script ansible-test runs to put pip in its empty virtualenvs.

ansible-test creates every sanity (and --venv) virtualenv without pip, then downloads get-pip.py from
ci-files.testing.ansible.com, a host this network cannot reach, unless the script is already cached
under ~/.ansible/test/cache/. `make lint` and `make unit` cache this file there instead (in the HOME
they give ansible-test). It does what get-pip.py does with the same arguments (pip options and
requirements such as pip==24.2, plus get-pip's own --no-setuptools/--no-wheel), with the pip that
Python's own ensurepip carries and packages from PyPI.
"""
from __future__ import annotations

import subprocess
import sys

GET_PIP_OPTIONS = ("--no-setuptools", "--no-wheel")


def main() -> None:
    """Install pip with ensurepip, then install the requested packages as get-pip.py would."""
    args = sys.argv[1:]
    pip_args = [arg for arg in args if arg not in GET_PIP_OPTIONS]
    python = sys.executable

    subprocess.run([python, "-m", "ensurepip", "--upgrade", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "--force-reinstall", *pip_args], check=True)

    # Python 3.11's ensurepip also installs setuptools, which get-pip.py leaves out when told to.
    if "--no-setuptools" in args:
        subprocess.run([python, "-m", "pip", "uninstall", "--yes", "--quiet", "setuptools"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
