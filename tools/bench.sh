#!/usr/bin/env bash
# make bench: deploy-speed figures of the reference topology, printed and written to
# bench/results/. Timings are wall-clock on this machine; compare them as ratios of one run.
#   cold      bare demo containers -> site.yml converged (the hosts are started fresh first)
#   warm      site.yml again on the converged demo, nothing to change: three runs, the median
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

echo "==> warm: site.yml again, nothing to change (three runs: this machine is noisy)"
warm_runs=() warm_changed=0
for run in 1 2 3; do
  t=$(date +%s); ansible-playbook -i "$inventory" site.yml >".cache/bench-warm-$run.log"; warm_runs+=("$(seconds "$t")")
  warm_changed=$(( warm_changed + $(awk '/PLAY RECAP/{r=1;next} r && /changed=/{sub(/.*changed=/,"");sum+=$1} END{print sum+0}' ".cache/bench-warm-$run.log") ))
done
warm_s=$(printf '%s\n' "${warm_runs[@]}" | sort -n | sed -n 2p)

echo "==> baseline: the packages the deploy installed, in bare containers, nothing else"
# What each converged host has that the bare image does not.
image_pkgs=$(docker run --rm "${DJANGO_DEPLOY_IMAGE:-django-deploy/debian:bookworm}" apt-mark showmanual | sort)
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
{
  echo "django_deploy.stack deploy benchmark ($stamp, $inventory, $(nproc) cores)"
  echo "  hosts started (containers booted):    ${hosts_s}s"
  echo "  (a) cold site.yml, bare hosts:        ${cold_s}s"
  echo "  (b) warm site.yml, no change:         ${warm_s}s median of ${warm_runs[*]} s (changed tasks: $warm_changed)"
  echo "  (c) package-install baseline:         ${baseline_s}s (includes starting its bare hosts)"
  echo "  (a)/(c): $ratio"
  for h in $(printf '%s\n' "${!host_pkgs[@]}" | sort); do echo "    $h packages: ${host_pkgs[$h]}"; done
} | tee "$out"
echo "written to $out"
