"""What the common role promises, checked on the converged hosts."""
import pytest


def test_systemd_is_pid_1_and_running(host):
    # The bench's promise: a real systemd host, every unit up.
    assert host.check_output("systemctl is-system-running") == "running"
    assert host.process.get(pid=1).comm == "systemd"


@pytest.mark.parametrize("package", ["acl", "locales", "tzdata"])
def test_base_packages_installed(host, package):
    assert host.package(package).is_installed


def test_locale_generated_and_default(host):
    assert "en_US.utf8" in host.check_output("locale -a").split()
    assert host.file("/etc/default/locale").contains("^LANG=en_US.UTF-8$")


def test_timezone(host):
    expected = "Europe/Paris" if host.backend.get_hostname() == "db1" else "Etc/UTC"
    assert host.file("/etc/localtime").linked_to == f"/usr/share/zoneinfo/{expected}"


def test_kernel_parameters_file(host):
    conf = host.file("/etc/sysctl.d/60-django-deploy.conf")
    assert conf.user == "root" and conf.mode == 0o644
    assert conf.contains("^net.core.somaxconn = 4096$")
    assert conf.contains("^net.ipv4.ip_local_port_range = 10240 65535$")
    extra = conf.contains("^net.core.netdev_max_backlog = 2000$")
    assert extra == (host.backend.get_hostname() == "db1")


def test_app_account(host):
    user = host.user("demo")
    assert user.exists and user.uid < 1000, "a system account"
    assert user.shell == "/usr/sbin/nologin"
    assert user.home == "/srv/demo"
    home = host.file("/srv/demo")
    assert home.is_directory and home.user == "demo" and home.mode == 0o750
