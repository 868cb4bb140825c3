"""gunicorn_replace_workers against a scripted gunicorn master (no processes, no signals, no Ansible run)."""
from __future__ import annotations

import signal

import pytest

from ansible_collections.django_deploy.stack.plugins.modules import gunicorn_replace_workers as mod

MASTER = 100


class FakeGunicorn:
    """A master with workers, as gunicorn's arbiter handles TTIN and TTOU: TTIN forks a worker one
    tick later, which is loaded (writes its ready file) load_ticks later; TTOU stops the oldest
    worker, which exits exit_ticks later. Signals sent in the same tick reach it as one, as with
    real signals the master has not handled yet. Every sleep is a tick."""

    def __init__(self, workers=3, load_ticks=5, exit_ticks=2, running=True, forks=True):
        self.now = 0.0
        self.next_pid = 200
        self.workers = {}  # pid -> age
        self.ready_files = set()
        self.events = []  # (tick, action, pid)
        self.pending = set()
        self.sent = []
        self.load_ticks, self.exit_ticks, self.running, self.forks = load_ticks, exit_ticks, running, forks
        self.num_workers = workers
        for _count in range(workers):
            pid = self._fork()
            self.ready_files.add(pid)
        self.events.clear()
        self.ready_files.add(999)  # a worker that died without removing its file

    def _fork(self):
        self.next_pid += 1
        self.workers[self.next_pid] = self.next_pid
        self.events.append((self.now + self.load_ticks, "ready", self.next_pid))
        return self.next_pid

    def tick(self):
        self.now += 1
        for sig in sorted(self.pending):
            if sig == signal.SIGTTIN:
                self.num_workers += 1
            else:
                self.num_workers -= 1
        self.pending.clear()
        while len(self.workers) < self.num_workers and self.forks:
            self._fork()
        alive = [pid for pid in self.workers if ("exit", pid) not in {(a, p) for _tick, a, p in self.events}]
        for pid in sorted(alive, key=self.workers.get)[:max(0, len(alive) - self.num_workers)]:
            self.events.append((self.now + self.exit_ticks, "exit", pid))
        for event in [e for e in self.events if e[0] <= self.now]:
            self.events.remove(event)
            _tick, action, pid = event
            if action == "ready" and pid in self.workers:
                self.ready_files.add(pid)
            elif action == "exit":
                self.workers.pop(pid, None)
                self.ready_files.discard(pid)

    # System's interface
    def main_pid(self, unit):
        return MASTER if self.running else 0

    def children(self, pid):
        return sorted(self.workers) if pid == MASTER else []

    def signal(self, pid, sig):
        assert pid == MASTER
        self.sent.append(sig)
        self.pending.add(sig)

    def ready(self):
        return set(self.ready_files)

    def forget(self, pids):
        self.ready_files -= set(pids)

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.tick()


def test_new_workers_are_loaded_before_any_old_one_stops():
    fake = FakeGunicorn(workers=3)
    old = fake.children(MASTER)
    result = mod.run(fake, "gunicorn-demo.service", timeout=60)
    assert result["changed"] and result["master"] == MASTER
    assert result["replaced"] == old
    assert len(result["workers"]) == 3 and not set(result["workers"]) & set(old)
    assert fake.num_workers == 3
    assert fake.sent == [signal.SIGTTIN] * 3 + [signal.SIGTTOU] * 3
    # Stale ready files (999) and the old workers' are gone; the new workers' remain.
    assert fake.ready_files == set(result["workers"])


def test_never_fewer_loaded_workers_than_before():
    fake = FakeGunicorn(workers=2, load_ticks=8)
    loaded = []
    original = fake.tick

    def tick():
        original()
        loaded.append(len(set(fake.workers) & fake.ready_files))

    fake.tick = tick
    mod.run(fake, "gunicorn-demo.service", timeout=60)
    assert min(loaded) >= 2


def test_one_signal_at_a_time_so_none_is_merged():
    fake = FakeGunicorn(workers=4, load_ticks=1, exit_ticks=1)
    result = mod.run(fake, "gunicorn-demo.service", timeout=60)
    assert len(result["workers"]) == 4 and fake.num_workers == 4


def test_check_mode_sends_nothing():
    fake = FakeGunicorn(workers=2)
    result = mod.run(fake, "gunicorn-demo.service", timeout=60, check_mode=True)
    assert result["changed"] and fake.sent == [] and result["replaced"] == []


def test_a_stopped_service_fails_naming_it_except_in_check_mode():
    with pytest.raises(mod.ReplaceError, match="gunicorn-demo.service is not running"):
        mod.run(FakeGunicorn(running=False), "gunicorn-demo.service", timeout=60)
    # In check mode the role's service task only said it would start the unit.
    assert not mod.run(FakeGunicorn(running=False), "gunicorn-demo.service", timeout=60, check_mode=True)["changed"]


def test_new_workers_that_never_load_leave_the_old_ones_serving():
    fake = FakeGunicorn(workers=2, load_ticks=10_000)
    old = fake.children(MASTER)
    with pytest.raises(mod.ReplaceError, match="had not all loaded the application; the old ones still serve") as error:
        mod.run(fake, "gunicorn-demo.service", timeout=20)
    assert set(old) <= set(fake.workers) and signal.SIGTTOU not in fake.sent
    assert error.value.args[1]["replaced"] == []


def test_a_master_that_forks_nothing_fails_after_the_signal_timeout():
    fake = FakeGunicorn(workers=2, forks=False)
    with pytest.raises(mod.ReplaceError, match=r"had not forked new worker 1 of 2 \(SIGTTIN\)"):
        mod.run(fake, "gunicorn-demo.service", timeout=60)
    assert fake.now >= mod.SIGNAL_TIMEOUT
