#!/usr/bin/env bash
# DNS benchmark: switchyard's nameserver against dnsmasq, unbound and knot, all serving the same
# records (N ClusterIP services in cluster.local, TTL 5) on loopback, measured with dnsperf.
#
#   benches/dns/run.sh [--services N] [--seconds S] [--latency-qps Q] [--out DIR] [servers...]
#
# servers: any of switchyard dnsmasq unbound knot (default: all that are installed).
# Two runs per server: throughput (dnsperf flat out, 4 clients, 200 outstanding) and latency
# (a fixed --latency-qps load, every reply timed; p50/p99 from dnsperf -v). Servers are pinned to
# SERVER_CPUS (default 1), dnsperf to CLIENT_CPUS (default 0), every server runs one worker.
# Results: DIR/results.md (ratios are switchyard / peer) and DIR/results.tsv. Needs dnsperf and
# dig (Debian: dnsperf dnsutils; peers: dnsmasq-base unbound knot). Everything listens on
# 127.0.0.1 and is stopped, by pid, when the script exits.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/sbin:/sbin"

services=1000 seconds=10 latency_qps=2000 out=target/bench-dns
servers=()
while [ $# -gt 0 ]; do
  case "$1" in
    --services) services=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --latency-qps) latency_qps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    switchyard|dnsmasq|unbound|knot) servers+=("$1"); shift ;;
    *) echo "benches/dns/run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#servers[@]} -gt 0 ] || servers=(switchyard dnsmasq unbound knot)
server_cpus=${SERVER_CPUS:-1}
client_cpus=${CLIENT_CPUS:-0}
for tool in dnsperf dig taskset python3; do
  command -v "$tool" >/dev/null || { echo "benches/dns/run.sh: $tool is required" >&2; exit 1; }
done

work=$(mktemp -d /tmp/switchyard-dns-bench.XXXXXX)
pid=
stop_server() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT

cargo build --release -p dns --example bench_fixture
fixture=target/release/examples/bench_fixture
"$fixture" zone "$services" >"$work/cluster.local.zone"
"$fixture" queries "$services" >"$work/queries.txt"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() { # name port
  local name=$1 port=$2
  case "$name" in
    switchyard)
      taskset -c "$server_cpus" "$fixture" serve "$services" "127.0.0.1:$port" 2>"$work/$name.log" &
      ;;
    dnsmasq)
      command -v dnsmasq >/dev/null || return 1
      { echo "local=/cluster.local/"; "$fixture" dnsmasq "$services"; } >"$work/dnsmasq.conf"
      taskset -c "$server_cpus" dnsmasq --keep-in-foreground --conf-file="$work/dnsmasq.conf" \
        --port="$port" --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
        --pid-file= --user="$(id -un)" 2>"$work/$name.log" &
      ;;
    unbound)
      command -v unbound >/dev/null || return 1
      {
        printf 'server:\n  interface: 127.0.0.1@%s\n  port: %s\n  num-threads: 1\n' "$port" "$port"
        printf '  do-daemonize: no\n  chroot: ""\n  username: ""\n  use-syslog: no\n  logfile: ""\n'
        printf '  directory: "%s"\n  pidfile: ""\n  access-control: 127.0.0.0/8 allow\n' "$work"
        printf '  local-zone: "cluster.local." static\n'
        "$fixture" unbound "$services"
        printf 'remote-control:\n  control-enable: no\n'
      } >"$work/unbound.conf"
      taskset -c "$server_cpus" unbound -d -c "$work/unbound.conf" 2>"$work/$name.log" &
      ;;
    knot)
      command -v knotd >/dev/null || return 1
      mkdir -p "$work/knot"
      cat >"$work/knot.conf" <<KNOT
server:
    rundir: "$work/knot"
    listen: 127.0.0.1@$port
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$work/knot"
log:
  - target: stderr
    any: warning
zone:
  - domain: cluster.local
    storage: "$work"
    file: "cluster.local.zone"
KNOT
      taskset -c "$server_cpus" knotd -c "$work/knot.conf" 2>"$work/$name.log" &
      ;;
  esac
  pid=$!
  for _ in $(seq 1 100); do
    if dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" svc-0.bench.svc.cluster.local A 2>/dev/null \
        | grep -qx 10.96.0.1; then
      return 0
    fi
    sleep 0.1
  done
  echo "benches/dns/run.sh: $name did not answer on port $port; log:" >&2
  cat "$work/$name.log" >&2 || true
  return 1
}

# Prints: qps lost noerror nxdomain p50_ms p99_ms
measure() { # port
  local port=$1
  taskset -c "$client_cpus" dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" \
    -l "$seconds" -c 4 -q 200 >"$work/throughput.txt" 2>&1 || true
  taskset -c "$client_cpus" dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" \
    -l "$seconds" -Q "$latency_qps" -c 1 -q 100 -v >"$work/latency.txt" 2>&1 || true
  python3 - "$work/throughput.txt" "$work/latency.txt" <<'PY'
import re, sys
throughput = open(sys.argv[1]).read()
def grab(pattern, text, default="0"):
    m = re.search(pattern, text)
    return m.group(1) if m else default
qps = grab(r"Queries per second:\s+([\d.]+)", throughput)
lost = grab(r"Queries lost:\s+(\d+)", throughput)
noerror = grab(r"NOERROR (\d+)", throughput)
nxdomain = grab(r"NXDOMAIN (\d+)", throughput)
# dnsperf -v prints one line per reply: "> RCODE name type latency-seconds"
latencies = sorted(float(m.group(1)) for m in re.finditer(r"^> \S+ \S+ \S+ ([\d.]+)$", open(sys.argv[2]).read(), re.M))
def pct(p):
    if not latencies:
        return float("nan")
    return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000
print(qps, lost, noerror, nxdomain, f"{pct(50):.3f}", f"{pct(99):.3f}")
PY
}

mkdir -p "$out"
printf 'server\tqps\tlost\tnoerror\tnxdomain\tp50_ms\tp99_ms\n' >"$out/results.tsv"
for name in "${servers[@]}"; do
  port=$(free_port)
  if ! start_server "$name" "$port"; then
    echo "benches/dns/run.sh: $name not measured" >&2
    stop_server
    continue
  fi
  echo "benches/dns/run.sh: $name on 127.0.0.1:$port ($services services, ${seconds}s per run)" >&2
  printf '%s\t%s\n' "$name" "$(measure "$port" | tr ' ' '\t')" >>"$out/results.tsv"
  stop_server
done

python3 - "$out/results.tsv" "$services" "$seconds" "$latency_qps" >"$out/results.md" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
ours = next((r for r in rows if r["server"] == "switchyard"), None)
def ratio(a, b):
    try:
        return f"{float(a) / float(b):.2f}"
    except (ValueError, ZeroDivisionError):
        return "n/a"
print(f"# DNS: {sys.argv[2]} services, {sys.argv[3]} s per run, latency at {sys.argv[4]} qps\n")
print("| server | QPS | lost | NOERROR | NXDOMAIN | p50 ms | p99 ms | QPS ratio | p50 ratio | p99 ratio |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    q = ratio(ours["qps"], r["qps"]) if ours else "n/a"
    p50 = ratio(ours["p50_ms"], r["p50_ms"]) if ours else "n/a"
    p99 = ratio(ours["p99_ms"], r["p99_ms"]) if ours else "n/a"
    print(f"| {r['server']} | {float(r['qps']):.0f} | {r['lost']} | {r['noerror']} | {r['nxdomain']} | {r['p50_ms']} | {r['p99_ms']} | {q} | {p50} | {p99} |")
print("\nRatios are switchyard / peer: QPS above 1 and latency below 1 favour switchyard.")
PY
cat "$out/results.md"
