"""Two hosts in celery_beat fail the stack model's check, naming the group, before any change."""
import re

testinfra_hosts = ["worker2"]


def test_two_beat_hosts_fail_before_anything_changes(host, playbook, tmp_path):
    extra = tmp_path / "two-beats.yml"
    extra.write_text("all:\n  children:\n    celery_beat:\n      hosts:\n        worker2: {}\n")
    units = host.check_output("ls /etc/systemd/system")
    result = playbook("two-beats.yml", extra_inventories=[extra], timeout=300)
    assert result.returncode != 0
    output = " ".join(result.stdout.split())
    assert "Rule 'at most one Celery beat': group celery_beat has beat1, worker2;" in output, output[-3000:]
    assert set(re.findall(r"changed=(\d+)", result.stdout)) == {"0"}, result.stdout[-2000:]
    assert host.check_output("ls /etc/systemd/system") == units
    assert not host.file("/etc/systemd/system/celery-demo-beat.service").exists
