#!/usr/bin/env bash
# make demo / make demo-down. Usage: demo.sh up|down INVENTORY
set -euo pipefail
action=$1
inventory=${2:-inventories/local}

if [ "$action" = down ]; then
  ansible-playbook -i "$inventory" tools/demo.yml -e demo_state=absent
  exit 0
fi

start=$(date +%s)
echo "==> starting the hosts of $inventory as local containers"
ansible-playbook -i "$inventory" tools/demo.yml
echo "==> ansible-playbook -i $inventory site.yml"
ansible-playbook -i "$inventory" site.yml
echo "==> the plan: what each host runs and how it is sized"
ansible-playbook -i "$inventory" plan.yml
elapsed=$(( $(date +%s) - start ))

url=http://127.0.0.1:8080/
echo
echo "django_deploy.stack demo ($inventory) converged in ${elapsed}s"
docker ps --filter label=network=django-demo --format '  {{.Names}}\t{{.Status}}'
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" || true)
if [ "$code" != 200 ]; then
  echo "The site does not answer at $url (HTTP ${code:-no answer}): see the site.yml output above" >&2
  exit 1
fi
echo "The site answers at $url"
