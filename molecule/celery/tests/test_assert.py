"""Two hosts in celery_beat fail the role's first check, naming the group, before any change."""
import os
import re
import subprocess
import sys
from pathlib import Path

testinfra_hosts = ["worker2"]

SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", Path(__file__).parents[1]))


def test_two_beat_hosts_fail_before_anything_changes(host, inventory, tmp_path):
    extra = tmp_path / "two-beats.yml"
    extra.write_text("all:\n  children:\n    celery_beat:\n      hosts:\n        worker2: {}\n")
    units = host.check_output("ls /etc/systemd/system")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, "-i", str(extra),
           str(SCENARIO / "two-beats.yml")]
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "false", "ANSIBLE_NOCOLOR": "true"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, env=env)
    assert result.returncode != 0
    output = " ".join((result.stdout + result.stderr).split())
    assert "the celery_beat group has 2 hosts (worker1, worker2)" in output, output[-3000:]
    assert set(re.findall(r"changed=(\d+)", result.stdout)) == {"0"}, result.stdout[-2000:]
    assert host.check_output("ls /etc/systemd/system") == units
    assert not host.file("/etc/systemd/system/celery-demo-beat.service").exists
