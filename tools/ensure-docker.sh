#!/usr/bin/env bash
# Make a Docker engine answer on this machine: install Debian's docker.io and debootstrap when
# absent, start dockerd when nothing answers. Reuses whatever is already there.
set -euo pipefail

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  echo "==> installing docker.io and debootstrap from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io debootstrap >/dev/null
fi

# Every systemd container takes inotify instances from the machine's shared pool; the default
# of 128 runs out at about twenty containers and their systemd then hangs at boot.
if [ "$(sysctl -n fs.inotify.max_user_instances 2>/dev/null || echo 0)" -lt 1024 ]; then
  sysctl -q -w fs.inotify.max_user_instances=1024 || echo "warning: could not raise fs.inotify.max_user_instances" >&2
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

# No systemd on the machine itself: start the engine directly (docs/developing.md: no systemd, no --privileged here).
echo "==> starting dockerd"
mkdir -p /var/log
# In a session of its own: a Ctrl-C on make, or the end of the job that started it, must not stop
# the engine (and every scenario's hosts with it).
setsid nohup dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2
tail -n 20 /var/log/dockerd.log >&2 || true
exit 1
