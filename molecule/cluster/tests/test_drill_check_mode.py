"""Issue 8, drill 5: site.yml in check mode on the converged cluster tells the truth.

Nothing has changed since the converge, so a --check --diff run must predict no change and fail
nowhere: a task that only reads must really read in check mode (check_mode: false, or a read-only
form such as collectstatic --dry-run), and a task that would change something must say so only
when it would.
"""
from conftest import HOST_NAMES, SITE_PLAYBOOK
from scenario_testing import changed_tasks, recap, report, tasks_reporting


def test_check_mode_predicts_no_change_and_no_failure_on_any_host(playbook):
    run = playbook(SITE_PLAYBOOK, "--check", "--diff")
    counts = recap(run.stdout)
    assert set(counts) == set(HOST_NAMES), run.stdout[-3000:]
    changed, failed = changed_tasks(run.stdout), tasks_reporting(run.stdout, "fatal")
    predicted = {name: (row["changed"], row["failed"], row["unreachable"]) for name, row in counts.items()}
    report(f"check mode: site.yml --check --diff, {sum(row['ok'] for row in counts.values())} tasks ok over"
           f" {len(counts)} hosts, changed {sum(row['changed'] for row in counts.values())},"
           f" failed {sum(row['failed'] for row in counts.values())}, rc {run.returncode}")
    assert predicted == {name: (0, 0, 0) for name in HOST_NAMES}, (
        f"{predicted}\nchanged: {changed}\nfailed: {failed}\n{run.stdout[-4000:]}")
    assert run.returncode == 0, run.stdout[-3000:]
