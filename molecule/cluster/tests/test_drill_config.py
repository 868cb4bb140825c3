"""A setting nginx or HAProxy rejects fails before the reload, and the site keeps answering (formerly
the webtier scenario's drill).

broken-config.yml applies the role on one host (web1's nginx, then lb1's HAProxy) with a setting
its validator rejects, while tools/loadgen.py on db1 sends a constant load through lb1: the play
must fail on the validation, change nothing, reload nothing, and no request may fail. Runs after
the check-mode drill (which needs the cluster as site.yml left it) and leaves it so.
"""
import re

import pytest

from conftest import page


@pytest.mark.parametrize("name, role, path", [
    ("web1", "nginx", "/etc/nginx/nginx.conf"),
    ("lb1", "haproxy", "/etc/haproxy/haproxy.cfg"),
])
def test_broken_setting_fails_before_the_reload_and_the_site_keeps_answering(hosts, http, playbook, loadgen,
                                                                             name, role, path):
    host = hosts[name]

    def state():
        # The file, the master and its workers: a reload would replace the workers.
        master = host.check_output(f"systemctl show -P MainPID {role}")
        return host.file(path).sha256sum, master, sorted(host.check_output(f"pgrep -P {master}").split())

    before = state()
    with loadgen(f"broken-{role}", min_requests=200) as load:
        run = playbook("broken-config.yml", "-e", f"broken_host={name}", "-e", f"broken_role={role}")
    assert run.returncode != 0
    output = run.stdout
    assert "failed to validate" in output and "bogus" in output, output[-3000:]
    assert re.search(rf"{name} +: .*changed=0 .*failed=1", run.stdout), run.stdout[-1500:]
    assert state() == before, "the file on disk and the running processes are the old ones: no reload happened"
    assert not host.file(path).contains("bogus")
    assert load["total"] >= 200 and load["failed"] == 0, load
    assert {page(http)["status"] for request in range(4)} == {200}
