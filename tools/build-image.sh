#!/usr/bin/env bash
# Build the Debian 12 host image (systemd as PID 1) with debootstrap from Debian's own mirror,
# once: the image carries a hash of its build inputs, and a matching image is reused.
set -euo pipefail

IMAGE="${DJANGO_DEPLOY_IMAGE:-django-deploy/debian:bookworm}"
SUITE=bookworm
# What the hosts need before Ansible can manage them: python3 for modules, systemd as init.
PACKAGES=python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,procps,sudo,ca-certificates,locales
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
rm -f "$rootfs"/etc/machine-id "$rootfs"/var/lib/dbus/machine-id
: > "$rootfs/etc/machine-id"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
# build-inputs-end
tar -C "$rootfs" -c . | docker import \
  --change 'CMD ["/sbin/init"]' \
  --change "LABEL inputs=$inputs_hash" - "$IMAGE" >/dev/null
echo "==> built $IMAGE (inputs $inputs_hash)"
