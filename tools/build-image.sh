#!/usr/bin/env bash
# Build the Debian host image (systemd as PID 1, sshd, a sudo user) with debootstrap from Debian's
# own mirror, once: the image carries a hash of its build inputs, and a matching image is reused.
# DEBIAN=13 (trixie, the default) or 12 (bookworm): the image django-deploy/debian:$DEBIAN, which
# tools/hosts/start.yml starts for the same DEBIAN.
set -euo pipefail

DEBIAN=${DEBIAN:-13}
case "$DEBIAN" in
  12) SUITE=bookworm ;;
  13) SUITE=trixie ;;
  *) echo "DEBIAN must be 12 or 13, not '${DEBIAN}'" >&2; exit 2 ;;
esac
IMAGE="django-deploy/debian:$DEBIAN"
# What the hosts need before Ansible can manage them: python3 for modules, systemd as init, and
# what a real host is reached by: sshd and sudo (the unprivileged user `deploy`, see below).
PACKAGES=python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,procps,sudo,ca-certificates,locales,openssh-server
inputs_hash=$(printf '%s\n' "$SUITE" "$PACKAGES" "$(sed -n '/^# build-inputs-start/,/^# build-inputs-end/p' "$0")" | sha256sum | cut -c1-16)

if [ "$(docker image inspect -f '{{ index .Config.Labels "inputs" }}' "$IMAGE" 2>/dev/null || true)" = "$inputs_hash" ]; then
  exit 0
fi

MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
echo "==> debootstrap $SUITE from $MIRROR (about 30-60 s)"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$MIRROR" >/tmp/debootstrap.log 2>&1 \
  || { tail -n 30 /tmp/debootstrap.log >&2; exit 1; }
# build-inputs-start
# A container has no consoles or hardware to wait for: mask the units that would hang or fail.
for unit in getty.target systemd-udevd.service systemd-udev-trigger.service \
            systemd-remount-fs.service sys-kernel-debug.mount sys-kernel-tracing.mount; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
# The user production inventories connect as: no password, sudo without one. Its authorized key
# is put in at container start (tools/hosts/start.yml), so the image holds no key. Host keys are
# made per container at its first boot (below), not shared by every container of the image.
chroot "$rootfs" useradd --create-home --shell /bin/bash deploy
echo 'deploy ALL=(ALL) NOPASSWD:ALL' > "$rootfs/etc/sudoers.d/deploy"
chmod 0440 "$rootfs/etc/sudoers.d/deploy"
rm -f "$rootfs"/etc/ssh/ssh_host_*
mkdir -p "$rootfs/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' > "$rootfs/etc/systemd/system/ssh.service.d/host-keys.conf"
rm -f "$rootfs"/etc/machine-id "$rootfs"/var/lib/dbus/machine-id
: > "$rootfs/etc/machine-id"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
# build-inputs-end
tar -C "$rootfs" -c . | docker import \
  --change 'CMD ["/sbin/init"]' \
  --change "LABEL inputs=$inputs_hash" - "$IMAGE" >/dev/null
echo "==> built $IMAGE (inputs $inputs_hash)"
