#!/usr/bin/env bash
# make bench: deploy-speed figures of the reference topology, printed and written to
# bench/results/. Timings are wall-clock on this machine; compare them as ratios of one run.
#   cold      bare demo containers -> site.yml converged (the hosts are started fresh first)
#   warm      site.yml again on the converged demo, nothing to change: three runs, the median, with
#             Mitogen's strategy (ansible.cfg) and with Ansible's own linear one
#   baseline  the same Debian packages installed in the same kind of bare containers with
#             nothing else: the floor a deploy cannot go below
set -euo pipefail
inventory=${1:-inventories/local}
out_dir=bench/results
mkdir -p "$out_dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$out_dir/deploy-$stamp.txt"

seconds() { local start=$1; echo $(( $(date +%s) - start )); }

echo "==> cold: fresh demo hosts, then site.yml"
ansible-playbook -i "$inventory" tools/demo.yml -e demo_state=absent >/dev/null
t=$(date +%s); ansible-playbook -i "$inventory" tools/demo.yml >/dev/null; hosts_s=$(seconds "$t")
t=$(date +%s); ansible-playbook -i "$inventory" site.yml >.cache/bench-cold.log; cold_s=$(seconds "$t")

# Warm runs, three of each strategy (this machine is noisy; the median counts): Mitogen's (what
# ansible.cfg selects) and Ansible's own linear, both over SSH with sudo, as the demo hosts are reached.
declare -A warm_s warm_all warm_changed
for strategy in mitogen_linear linear; do
  echo "==> warm ($strategy): site.yml again, nothing to change, three runs"
  runs=() changed=0
  for run in 1 2 3; do
    log=".cache/bench-warm-$strategy-$run.log"
    t=$(date +%s); ANSIBLE_STRATEGY=$strategy ansible-playbook -i "$inventory" site.yml >"$log"; runs+=("$(seconds "$t")")
    changed=$(( changed + $(awk '/PLAY RECAP/{r=1;next} r && /changed=/{sub(/.*changed=/,"");sum+=$1} END{print sum+0}' "$log") ))
  done
  warm_s[$strategy]=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)
  warm_all[$strategy]="${runs[*]}"
  warm_changed[$strategy]=$changed
done

echo "==> baseline: the packages the deploy installed, in bare containers, nothing else"
# What each converged host has that the bare image does not.
image_pkgs=$(docker run --rm "django-deploy/debian:${DEBIAN:-13}" apt-mark showmanual | sort)
declare -A host_pkgs
for host in $(ansible -i "$inventory" all --list-hosts | tail -n +2); do
  host_pkgs[$host]=$(comm -13 <(echo "$image_pkgs") <(docker exec "demo-$host" apt-mark showmanual | sort) | tr '\n' ' ')
done
packages_json=$(for h in "${!host_pkgs[@]}"; do printf '%s\t%s\n' "$h" "${host_pkgs[$h]}"; done |
  python3 -c 'import json,sys; print(json.dumps({h: p.split() for h, p in (l.rstrip("\n").split("\t") for l in sys.stdin)}))')
t=$(date +%s)
ansible-playbook -i "$inventory" tools/bench-baseline.yml -e "{\"bench_packages\": $packages_json}" >.cache/bench-baseline.log
baseline_s=$(seconds "$t")

ratio=$(python3 -c "print(f'{$cold_s / max($baseline_s, 1):.2f}')")
warm_ratio=$(python3 -c "print(f'{${warm_s[linear]} / max(${warm_s[mitogen_linear]}, 1):.2f}')")
{
  echo "django_deploy.stack deploy benchmark ($stamp, $inventory, Debian ${DEBIAN:-13} hosts over SSH as deploy with sudo, $(nproc) cores)"
  echo "  hosts started (containers booted):    ${hosts_s}s"
  echo "  (a) cold site.yml, bare hosts:        ${cold_s}s"
  echo "  (b) warm site.yml, no change, Mitogen: ${warm_s[mitogen_linear]}s median of ${warm_all[mitogen_linear]} s (changed tasks: ${warm_changed[mitogen_linear]})"
  echo "  (b') warm site.yml, no change, linear:  ${warm_s[linear]}s median of ${warm_all[linear]} s (changed tasks: ${warm_changed[linear]})"
  echo "  (c) package-install baseline:         ${baseline_s}s (includes starting its bare hosts)"
  echo "  (a)/(c): $ratio   (b')/(b): $warm_ratio"
  for h in $(printf '%s\n' "${!host_pkgs[@]}" | sort); do echo "    $h packages: ${host_pkgs[$h]}"; done
} | tee "$out"
echo "written to $out"
