#!/usr/bin/env bash
# make bench, throughput part: requests per second and latency of the demo, tuned against stock
# defaults, and static files from nginx against the app server, all in ONE run on the SAME
# containers (bench-tp-*), so compare the ratios, not the absolute numbers (the load generator and
# every server share this machine's cores). Printed and written to bench/results/throughput-*.
#   (a) page_tuned        the demo's DB-backed page through HAProxy, deployed by site.yml as is
#   (b) page_stock        the same page after site.yml again with tools/bench-throughput/stock.yml:
#                         one sync gunicorn worker, PostgreSQL's stock settings, no cache
#   (c) static_nginx      a hashed static file of the page, from nginx on the web host
#   (d) static_appserver  the same file from gunicorn (same release and tuned config) on TCP,
#                         Django serving it with WhiteNoise (tools/bench-throughput.yml)
#   (e) page_pooled       the page of (a) after site.yml again with postgresql_pooler: pgbouncer
#                         (the app through PgBouncer on db1); for (a) and (e), the primary's peak
#                         server connections of the app, at the same concurrency
# Environment: BENCH_DURATION (s, 20), BENCH_WARMUP (s, 5), BENCH_CONNECTIONS (16),
# BENCH_THREADS (2), BENCH_TIMEOUT (wrk's per-request timeout, s, 10), BENCH_STEP_TIMEOUT
# (bound of each ansible-playbook, s, 1200), BENCH_KEEP=1 (leave the containers up),
# BENCH_REUSE=1 (run on the containers a BENCH_KEEP=1 run left, instead of fresh ones).
# URLs carry their port: the client's minimal image has no /etc/services for wrk to read "http".
set -euo pipefail
cd "$(dirname "$0")/.."

inventory=tools/bench-throughput/hosts.yml
duration=${BENCH_DURATION:-20}
warmup=${BENCH_WARMUP:-5}
connections=${BENCH_CONNECTIONS:-16}
threads=${BENCH_THREADS:-2}
req_timeout=${BENCH_TIMEOUT:-10}
step_timeout=${BENCH_STEP_TIMEOUT:-1200}
app=demo
host_header=localhost  # a name of django_app_allowed_hosts: nginx and Django refuse others
client=bench-tp-client

work=.cache/bench-throughput
logs=$work/logs
out_dir=bench/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
rm -rf "$logs" "$work/m"
[ "${BENCH_REUSE:-0}" = 1 ] || rm -rf "$work/facts"
mkdir -p "$logs" "$work/m" "$out_dir"
# Own fact cache: the bench hosts share names (web1, db1) with the demo and molecule hosts, and
# site.yml's smart gathering would otherwise take their cached addresses for these hosts.
export ANSIBLE_CACHE_PLUGIN_CONNECTION=$PWD/$work/facts
# Each task's wall time in the logs, to see where a slow run spent it.
export ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks
start=$(date +%s)

play() {  # play LOG ARGS...: ansible-playbook, bounded in time, its output in $logs/LOG
  local log=$logs/$1; shift
  if ! timeout "$step_timeout" ansible-playbook -i "$inventory" "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "bench-throughput: ansible-playbook $* failed; whole log: $log" >&2
    return 1
  fi
}

hosts_down() { play down.log tools/bench-throughput.yml -e bench_step=down; }
cleanup() {
  local status=$?
  if [ "${BENCH_KEEP:-0}" != 1 ] && [ -z "${cleaned:-}" ]; then
    echo "==> removing the bench-tp-* containers"
    hosts_down || echo "bench-throughput: could not remove the bench-tp-* containers" >&2
  fi
  exit "$status"
}
trap cleanup EXIT

client_exec() { timeout $((duration + warmup + 60)) docker exec "$client" "$@"; }

# fetch URL: the body on stdout; fails unless the answer is HTTP 200.
fetch() { client_exec curl -sS --fail --max-time 10 -H "Host: $host_header" "$1"; }

status_of() { client_exec curl -s -o /dev/null --max-time 10 -w '%{http_code}' -H "Host: $host_header" "$1" || true; }

wait_for_200() {  # exactly 200 (wrk counts only >= 400 as errors); the stack may still be restarting
  local url=$1 code=
  for _ in $(seq 60); do
    code=$(status_of "$url")
    [ "$code" = 200 ] && return 0
    sleep 1
  done
  echo "bench-throughput: $url answers HTTP ${code:-nothing}, not 200" >&2
  return 1
}

measure() {  # measure KEY LABEL URL: a warm-up, then the measured wrk run, parsed
  local key=$1 label=$2 url=$3
  wait_for_200 "$url"
  echo "==> $label: $url (warm-up ${warmup}s, then ${duration}s)"
  client_exec wrk -t"$threads" -c"$connections" -d"${warmup}s" --timeout "${req_timeout}s" \
    -H "Host: $host_header" "$url" >"$logs/wrk-$key-warmup.txt"
  client_exec wrk -t"$threads" -c"$connections" -d"${duration}s" --timeout "${req_timeout}s" --latency \
    -s /root/bench-report.lua -H "Host: $host_header" "$url" >"$logs/wrk-$key.txt"
  python3 tools/bench_throughput.py parse "$logs/wrk-$key.txt" "$key" "$label" "$url" >"$work/m/$key.json"
  python3 - "$work/m/$key.json" <<'EOF'
import json, sys
w = json.load(open(sys.argv[1]))["wrk"]
print(f"    {w['rps']:.1f} req/s, p50 {w['latency_ms']['p50']:.2f} ms, p99 {w['latency_ms']['p99']:.2f} ms, "
      f"{w['requests']} requests, socket errors {w['socket_errors']}, HTTP >= 400: {w['errors']['status']}")
EOF
}

peak_connections() {  # peak_connections SECONDS: the most server connections of the app on db1, sampled twice a second
  local until=$(( $(date +%s) + $1 )) peak=0 now
  while [ "$(date +%s)" -lt "$until" ]; do
    now=$(timeout 10 docker exec bench-tp-db1 runuser -u postgres -- psql -XAtc \
      "SELECT count(*) FROM pg_stat_activity WHERE usename = '$app' AND backend_type = 'client backend'" 2>/dev/null || echo 0)
    [ "${now:-0}" -gt "$peak" ] && peak=$now
    sleep 0.5
  done
  echo "$peak"
}

measure_db() {  # measure_db KEY LABEL URL: measure, with the primary's peak server connections meanwhile
  local key=$1 sampler
  peak_connections $((warmup + duration + 5)) >"$work/m/$key.peak" &
  sampler=$!
  measure "$@"
  wait "$sampler"
  python3 - "$work/m/$key.json" "$(cat "$work/m/$key.peak")" <<'EOF'
import json, sys
path, peak = sys.argv[1], int(sys.argv[2])
data = json.load(open(path))
data["db_peak_server_connections"] = peak
json.dump(data, open(path, "w"))
print(f"    the primary's peak server connections of the app: {peak}")
EOF
}

profile() {  # what is deployed now, read from the hosts: one line for the report
  local gunicorn pg cache maxconn
  gunicorn=$(docker exec bench-tp-web1 sh -c "grep -E '^(workers|threads|worker_class) =' /etc/$app/gunicorn.conf.py" |
    tr -d '"' | awk '{printf "%s%s=%s", (NR > 1 ? " " : ""), $1, $3}')
  pg=$(docker exec bench-tp-db1 runuser -u postgres -- psql -XAtc "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name)
    FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost', 'max_connections')")
  cache=$(fetch "http://lb1:80/" | sed -n 's/.*id="cache-backend">\([A-Za-z]*\)<.*/\1/p')
  maxconn=$(docker exec bench-tp-lb1 sh -c "grep -E '^ *server web1 ' /etc/haproxy/haproxy.cfg" | sed -n 's/.* maxconn \([0-9]*\).*/\1/p')
  echo "gunicorn $gunicorn; postgresql $pg; page cache $cache; haproxy server maxconn ${maxconn:-none}"
}

echo "==> bench hosts: bench-tp-{lb1,web1,db1,cache1} and the load generator bench-tp-client"
if [ "${BENCH_REUSE:-0}" = 1 ]; then
  docker exec "$client" true
else
  # Leftovers of an interrupted run (same names) go first; start.yml then makes fresh hosts.
  if [ -n "$(docker ps -aq --filter name='^bench-tp-')" ] || docker network inspect django-bench-tp >/dev/null 2>&1; then
    hosts_down
  fi
  play up.log tools/bench-throughput.yml -e bench_step=up
fi
# "wrk 4.1.0 [epoll] Copyright ...": wrk -v prints its version and exits non-zero.
wrk_version=$(docker exec "$client" sh -c 'wrk -v 2>&1 | head -n 1 | cut -d" " -f1-3' || true)

echo "==> site.yml, the collection's tuned settings"
play site-tuned.log site.yml
tuned_profile=$(profile)
echo "    $tuned_profile"
case $tuned_profile in *"page cache PyMemcacheCache"*) ;; *) echo "bench-throughput: the tuned page does not use memcached" >&2; exit 1 ;; esac

measure_db page_tuned "(a) page via HAProxy, tuned" "http://lb1:80/"

static_path=$(fetch "http://lb1:80/" | grep -o '/static/[^"]*\.[0-9a-f]\{12\}\.css' | head -n 1)
[ -n "$static_path" ] || { echo "bench-throughput: no hashed stylesheet on the page" >&2; exit 1; }
measure static_nginx "(c) static file from nginx (web1:80)" "http://web1:80$static_path"

echo "==> gunicorn with WhiteNoise on web1:8001 (same release and config, Django serves /static/)"
play appserver.log tools/bench-throughput.yml -e bench_step=appserver
nginx_sum=$(fetch "http://web1:80$static_path" | sha256sum)
app_sum=$(fetch "http://web1:8001$static_path" | sha256sum)
[ "$nginx_sum" = "$app_sum" ] || { echo "bench-throughput: nginx and the app server serve different bytes" >&2; exit 1; }
measure static_appserver "(d) static file from gunicorn (web1:8001)" "http://web1:8001$static_path"
docker exec bench-tp-web1 systemctl stop bench-appserver

echo "==> site.yml again with the pooler (postgresql_pooler: pgbouncer): the app through PgBouncer on db1"
play site-pooled.log site.yml -e postgresql_pooler=pgbouncer
measure_db page_pooled "(e) page via HAProxy, tuned, through PgBouncer" "http://lb1:80/"

echo "==> site.yml again with stock defaults (tools/bench-throughput/stock.yml)"
play site-stock.log site.yml -e @tools/bench-throughput/stock.yml
stock_profile=$(profile)
echo "    $stock_profile"
case $stock_profile in *"page cache DummyCache"*) ;; *) echo "bench-throughput: the stock page still caches" >&2; exit 1 ;; esac

measure page_stock "(b) page via HAProxy, stock defaults" "http://lb1:80/"

if [ "${BENCH_KEEP:-0}" != 1 ]; then
  echo "==> removing the bench-tp-* containers"
  hosts_down
  cleaned=1
fi
wall=$(( $(date +%s) - start ))

BENCH_STAMP=$stamp BENCH_INVENTORY=$inventory BENCH_TUNED=$tuned_profile BENCH_STOCK=$stock_profile \
BENCH_DURATION=$duration BENCH_WARMUP=$warmup BENCH_CONNECTIONS=$connections BENCH_THREADS=$threads \
BENCH_TIMEOUT=$req_timeout BENCH_WALL=$wall BENCH_WRK=$wrk_version \
python3 - >"$work/context.json" <<'EOF'
import json, os
e = os.environ
print(json.dumps({
    "stamp": e["BENCH_STAMP"], "inventory": e["BENCH_INVENTORY"], "cores": os.cpu_count(),
    "wall_s": int(e["BENCH_WALL"]),
    "load": {"tool": e["BENCH_WRK"], "threads": int(e["BENCH_THREADS"]), "connections": int(e["BENCH_CONNECTIONS"]),
             "duration_s": int(e["BENCH_DURATION"]), "warmup_s": int(e["BENCH_WARMUP"]),
             "timeout_s": int(e["BENCH_TIMEOUT"])},
    "profiles": {"tuned": e["BENCH_TUNED"], "stock": e["BENCH_STOCK"]},
}))
EOF
out=$out_dir/throughput-$stamp
python3 tools/bench_throughput.py report "$work/context.json" "$out.txt" "$out.json" \
  "$work/m/page_tuned.json" "$work/m/page_stock.json" "$work/m/static_nginx.json" "$work/m/static_appserver.json" \
  "$work/m/page_pooled.json"
echo "written to $out.txt and $out.json"
