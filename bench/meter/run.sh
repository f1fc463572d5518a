#!/usr/bin/env bash
# Measures what meter-daemon costs to run: CPU time per wall second and resident memory while it
# samples every sensor at 10 Hz into InfluxDB, beside the same daemon with nothing to do.
#
#   bench/meter/run.sh [--quick] [--window SECONDS] [--warmup SECONDS] [--breakdown | --configs A,B,...]
#                      [--no-build] [--keep]
#
# Window 60 s (BENCH_WINDOW_SECONDS) after 15 s of warm-up (BENCH_WARMUP_SECONDS); --quick: 20 s after 10 s.
# --no-build uses the jar already built; --keep keeps logs and InfluxDB data (always kept on failure).
# Prints a markdown report on stdout, progress on stderr.
#
# Configurations, run one after the other with the same JVM flags (BENCH_JAVA_OPTS, default none):
#   A        nvml + rapl + estimate (WATTLAB_ESTIMATE_MODE=always) every 100 ms, InfluxDB sink on
#   B        the reference: every sensor off, no InfluxDB (JVM and idle gRPC server); A - B is metering
#   C        A with a capped heap (BENCH_CAPPED_JAVA_OPTS, default -Xmx64m -XX:+UseSerialGC)
#   B-capped B with the capped flags, the reference for C
# and with --breakdown, to see where A's cost goes, each without InfluxDB: A-no-influx (all sensors),
# nvml, rapl, estimate (one sensor each). --configs runs the ones named, in that order.
#
# The GPUs are a fake libnvidia-ml built here with gcc (2 GPUs with the total-energy counter; every
# NVML call is a real JNA call into it) unless a real libnvidia-ml.so.1 is loadable (BENCH_NVML=fake
# forces the fake). CPU and DRAM are a fake powercap tree (2 packages, each with core and dram
# sub-zones) whose counters advance once a second; BENCH_RAPL_ROOT=/sys/class/powercap measures the
# real one instead.
# Only loopback is used: influxd and the daemon's gRPC server bind 127.0.0.1 on free ports.
set -euo pipefail

# All in one function, so that bash has read the whole file before any of it runs: editing or
# checking out another version of this script during a run cannot change the run.
main() {
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
window_seconds="${BENCH_WINDOW_SECONDS:-60}"
warmup_seconds="${BENCH_WARMUP_SECONDS:-15}"
interval_millis=100
java_opts="${BENCH_JAVA_OPTS:-}"
capped_java_opts="${BENCH_CAPPED_JAVA_OPTS:--Xmx64m -XX:+UseSerialGC}"
keep=0
configs="A,B,C,B-capped"
build=1
command_line="bench/meter/run.sh${*:+ $*}"

usage() {
  sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) window_seconds=20; warmup_seconds=10 ;;
    --window) window_seconds="$2"; shift ;;
    --warmup) warmup_seconds="$2"; shift ;;
    --keep) keep=1 ;;
    --breakdown) configs="A,B,C,B-capped,A-no-influx,nvml,rapl,estimate" ;;
    --configs) configs="$2"; shift ;;
    --no-build) build=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
for config in ${configs//,/ }; do
  case "$config" in
    A|B|C|B-capped|A-no-influx|nvml|rapl|estimate) ;;
    *) echo "run.sh: unknown configuration '$config' (known: A, B, C, B-capped, A-no-influx, nvml, rapl, estimate)" >&2; exit 2 ;;
  esac
done
for n in "$window_seconds" "$warmup_seconds"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: window and warm-up must be whole seconds > 0, got '$n'" >&2; exit 2; }
done

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/wattlab-bench.XXXXXX")"
influxd_pid=""
advancer_pid=""
daemon_pid=""
sleeper_pid=""

# Sleeps in the background and waits, so that a signal to this script is handled at once, not
# after the sleep.
pause() {
  sleep "$1" &
  sleeper_pid=$!
  wait "$sleeper_pid" || true
  sleeper_pid=""
}

stop_pid() {
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  [ -n "$sleeper_pid" ] && kill "$sleeper_pid" 2>/dev/null
  stop_pid "$daemon_pid"
  stop_pid "$advancer_pid"
  stop_pid "$influxd_pid"
  if [ "$keep" = 1 ] || [ "$status" != 0 ]; then
    log "logs and data kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free TCP port on 127.0.0.1: the kernel picks one; without python3, a random one nobody answers on.
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- build ----
if [ "$build" = 1 ]; then
  log "building meter-daemon"
  (cd "$root" && ./mvnw -B -q -DskipTests -pl meter-daemon -am package) >&2
else
  [ -f "$root/meter-daemon/target/meter-daemon.jar" ] || { echo "run.sh: --no-build, but meter-daemon/target/meter-daemon.jar is missing" >&2; exit 1; }
fi

# ---- influxd: private config, data and port; usage reporting off ----
influx_port="$(free_port)"
influx_rpc_port="$(free_port)"
influx_url="http://127.0.0.1:$influx_port"
database=wattlab_bench
mkdir -p "$work/influxd"
cat >"$work/influxd/influxdb.conf" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:$influx_rpc_port"
[meta]
  dir = "$work/influxd/meta"
  logging-enabled = false
[data]
  dir = "$work/influxd/data"
  wal-dir = "$work/influxd/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[retention]
  enabled = false
[continuous_queries]
  enabled = false
[http]
  bind-address = "127.0.0.1:$influx_port"
  log-enabled = false
[logging]
  level = "error"
  suppress-logo = true
EOF
influxd_bin="${WATTLAB_INFLUXD:-$(command -v influxd || echo /usr/bin/influxd)}"
log "starting $influxd_bin on 127.0.0.1:$influx_port"
"$influxd_bin" -config "$work/influxd/influxdb.conf" >"$work/influxd/influxd.log" 2>&1 &
influxd_pid=$!
for _ in $(seq 1 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$influx_url/ping" || true)" = 204 ] && break
  kill -0 "$influxd_pid" 2>/dev/null || { tail -20 "$work/influxd/influxd.log" >&2; echo "run.sh: influxd exited" >&2; exit 1; }
  sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$influx_url/ping")" = 204 ] || { echo "run.sh: influxd did not answer /ping in 30 s" >&2; exit 1; }

# InfluxQL answered as CSV (name,tags,time,<columns>), so no JSON tool is needed.
influx_csv() {
  curl -sS -G "$influx_url/query" -H 'Accept: application/csv' \
    --data-urlencode "db=$database" --data-urlencode "epoch=ns" --data-urlencode "q=$1"
}

# ---- NVML and powercap: the real ones where they are, else fakes (bench/lib/fake-sensors.sh) ----
# shellcheck source=../lib/fake-sensors.sh
. "$root/bench/lib/fake-sensors.sh"
fake_nvml
nvml_call_note=""
fake_powercap

advance_fake_sensors &
advancer_pid=$!
sleep 0.5

# What one NVML call costs in C, without the JVM: the library's own share of the nvml sensor's cost.
if command -v gcc >/dev/null 2>&1 && gcc -O2 -o "$work/nvml_call_cost" "$root/bench/meter/nvml_call_cost.c" -ldl; then
  nvml_call_note="$("$work/nvml_call_cost" "${nvml_library:-libnvidia-ml.so.1}" 20000 2>&1 | awk '{ printf "%s%s µs CPU per %s", (NR > 1 ? ", " : ""), $1, $2 }')" || true
fi

clk_tck="$(getconf CLK_TCK)"

# utime + stime of a process, in clock ticks; the name in field 2 may hold spaces, so cut after ')'.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

status_kib() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }

# Every thread's CPU ticks, "name<TAB>ticks", the name with a trailing number dropped (GC Thread#3 -> GC Thread).
thread_ticks() {
  local task name
  for task in /proc/"$1"/task/*; do
    name="$(cat "$task/comm" 2>/dev/null)" || continue
    name="$(printf '%s' "$name" | sed -E 's/[#-]?[0-9]+$//')"
    printf '%s\t%s\n' "$name" "$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$task/stat" 2>/dev/null || echo 0)"
  done
}

results="$work/results.tsv"
threads="$work/threads.tsv"
: >"$results"
: >"$threads"

# run_config LABEL DESCRIPTION JAVA_OPTS SENSORS(all | none | a comma list of nvml, rapl, estimate) INFLUX(on|off)
run_config() {
  local label="$1" description="$2" opts="$3" sensors="$4" influx="$5"
  local grpc_port spool log
  grpc_port="$(free_port)"
  spool="$work/spool-$label"
  log="$work/daemon-$label.log"
  local -a env=(
    "GRPC_SERVER_PORT=$grpc_port" "GRPC_SERVER_HOST=127.0.0.1" "WATTLAB_HOST=bench-$label"
    "WATTLAB_METER_INTERVAL_MILLIS=$interval_millis" "WATTLAB_INFLUX_SPOOL_DIR=$spool" "JAVA_OPTS=$opts"
  )
  case ",$sensors," in *,nvml,*|*,all,*) env+=("WATTLAB_NVML_ENABLED=true") ;; *) env+=("WATTLAB_NVML_ENABLED=false") ;; esac
  case ",$sensors," in *,rapl,*|*,all,*) env+=("WATTLAB_RAPL_ENABLED=true" "WATTLAB_RAPL_ROOT=$rapl_root") ;; *) env+=("WATTLAB_RAPL_ENABLED=false") ;; esac
  case ",$sensors," in *,estimate,*|*,all,*) env+=("WATTLAB_ESTIMATE_MODE=always") ;; *) env+=("WATTLAB_ESTIMATE_MODE=never") ;; esac
  [ -n "$nvml_library" ] && env+=("WATTLAB_NVML_LIBRARY=$nvml_library")
  if [ "$influx" = on ]; then
    env+=("WATTLAB_INFLUX_URL=$influx_url" "WATTLAB_INFLUX_DATABASE=$database")
  fi
  log "$label: $description (JAVA_OPTS='$opts')"
  env -u WATTLAB_INFLUX_URL "${env[@]}" "$root/bin/meter-daemon" serve >"$log" 2>&1 &
  daemon_pid=$!
  local started
  started="$(date +%s%N)"
  for _ in $(seq 1 600); do
    port_open "$grpc_port" && break
    kill -0 "$daemon_pid" 2>/dev/null || { tail -30 "$log" >&2; echo "run.sh: $label: the daemon exited while starting" >&2; exit 1; }
    sleep 0.1
  done
  port_open "$grpc_port" || { tail -30 "$log" >&2; echo "run.sh: $label: no gRPC port after 60 s" >&2; exit 1; }
  local startup_millis=$(( ($(date +%s%N) - started) / 1000000 ))
  log "$label: serving after ${startup_millis} ms; warming up ${warmup_seconds} s"
  pause "$warmup_seconds"

  local t0 t1 c0 c1 w0 w1 i0 i1
  thread_ticks "$daemon_pid" >"$work/threads-$label.0"
  c0="$(cpu_ticks "$daemon_pid")"; i0="$(cpu_ticks "$influxd_pid")"; t0="$(date +%s%N)"
  pause "$window_seconds"
  c1="$(cpu_ticks "$daemon_pid")"; i1="$(cpu_ticks "$influxd_pid")"; t1="$(date +%s%N)"
  thread_ticks "$daemon_pid" >"$work/threads-$label.1"
  local rss hwm
  rss="$(status_kib "$daemon_pid" VmRSS)"
  hwm="$(status_kib "$daemon_pid" VmHWM)"
  kill -0 "$daemon_pid" 2>/dev/null || { echo "run.sh: $label: the daemon died during the window" >&2; exit 1; }

  local wall cpu_pct influx_pct
  wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
  cpu_pct="$(awk -v d="$((c1 - c0))" -v hz="$clk_tck" -v w="$wall" 'BEGIN { printf "%.2f", 100 * d / hz / w }')"
  influx_pct="$(awk -v d="$((i1 - i0))" -v hz="$clk_tck" -v w="$wall" 'BEGIN { printf "%.2f", 100 * d / hz / w }')"

  local rate="—" points="—" channels="—"
  if [ "$influx" = on ]; then
    # The sink flushes every second; wait until the window's last points are in.
    pause 3
    local where="time >= ${t0} AND time < ${t1}"
    influx_csv "SELECT count(watts) FROM power WHERE $where GROUP BY sensor,domain,device" >"$work/counts-$label.csv"
    # Lines: name,"device=0,domain=gpu,sensor=nvml",time,count  (tags quoted when they hold commas)
    rate="$(awk -F, -v w="$wall" 'NR > 1 && NF >= 4 { n = $NF / w; if (min == "" || n < min) min = n; if (n > max) max = n; k++ }
      END { if (k == 0) print "none"; else if (sprintf("%.1f", min) == sprintf("%.1f", max)) printf "%.1f", min; else printf "%.1f–%.1f", min, max }' "$work/counts-$label.csv")"
    channels="$(awk -F, 'NR > 1 && NF >= 4 { k++ } END { print k + 0 }' "$work/counts-$label.csv")"
    local power energy gauges
    power="$(awk -F, 'NR > 1 { s += $NF } END { print s + 0 }' "$work/counts-$label.csv")"
    energy="$(influx_csv "SELECT count(joules) FROM energy WHERE $where" | awk -F, 'NR > 1 { s += $NF } END { print s + 0 }')"
    # A gauges point has several fields, and sensors have different ones: per series, the points are
    # the count of its most frequent field (the last columns; the quoted tags may hold commas).
    gauges="$(influx_csv "SELECT count(*) FROM gauges WHERE $where GROUP BY *" | awk -F, '
      NR == 1 { k = NF - 3; next }
      { m = 0; for (i = NF - k + 1; i <= NF; i++) if ($i + 0 > m) m = $i + 0; s += m }
      END { print s + 0 }')"
    points=$((power + energy + gauges))
    sed 1d "$work/counts-$label.csv" >"$work/channels-$label.csv"
  fi

  # Tab-separated; "read" would merge two tabs around an empty field, so no field is left empty.
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$description" "${opts:-(none)}" "$cpu_pct" \
    "$(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }')" "$(awk -v k="$hwm" 'BEGIN { printf "%.0f", k / 1024 }')" \
    "$rate" "$points" "$channels" "$wall" "$influx_pct" "$startup_millis" >>"$results"

  # CPU per thread group over the window (threads born in it count from zero; threads that ended are missed).
  awk -F'\t' -v label="$label" -v hz="$clk_tck" -v w="$wall" '
    FNR == NR { before[$1] += $2; next }
    { after[$1] += $2 }
    END { for (n in after) { d = after[n] - before[n]; if (d > 0) printf "%s\t%s\t%.2f\n", label, n, 100 * d / hz / w } }' \
    "$work/threads-$label.0" "$work/threads-$label.1" | sort -t$'\t' -k3,3 -gr >>"$threads"

  log "$label: CPU ${cpu_pct}% of one core, RSS $(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }') MiB, samples/s per channel $rate"
  stop_pid "$daemon_pid"
  daemon_pid=""
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
local config
for config in ${configs//,/ }; do
  case "$config" in
    A) run_config A "all sensors at 10 Hz + InfluxDB" "$java_opts" all on ;;
    B) run_config B "reference: no sensors, no InfluxDB" "$java_opts" none off ;;
    C) run_config C "A, heap capped" "$capped_java_opts" all on ;;
    B-capped) run_config B-capped "B, heap capped" "$capped_java_opts" none off ;;
    A-no-influx) run_config A-no-influx "all sensors, no InfluxDB" "$java_opts" all off ;;
    nvml|rapl|estimate) run_config "$config" "$config only, no InfluxDB" "$java_opts" "$config" off ;;
    *) echo "run.sh: unknown configuration '$config'" >&2; exit 2 ;;
  esac
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- report (markdown on stdout) ----
cpu_of() { awk -F'\t' -v l="$1" '$1 == l { print $4 }' "$results"; }
rss_of() { awk -F'\t' -v l="$1" '$1 == l { print $5 }' "$results"; }
hwm_of() { awk -F'\t' -v l="$1" '$1 == l { print $6 }' "$results"; }

echo "Command: \`$command_line\` (window ${window_seconds} s after ${warmup_seconds} s of warm-up, sensors every ${interval_millis} ms)"
echo
echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') (cpu family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), model $(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r), $(java -version 2>&1 | paste -sd';' - | sed 's/;/; /g'), $("$influxd_bin" version 2>/dev/null | head -1); load average $load_before before, $load_after after"
echo
echo "JVM defaults here: $(java ${java_opts} -XX:+PrintCommandLineFlags -version 2>&1 | head -1)"
echo
echo "GPUs: $nvml_note. CPU/DRAM: $rapl_note."
echo
[ -n "$nvml_call_note" ] && echo "One NVML call, in C without the JVM (bench/meter/nvml_call_cost.c): $nvml_call_note."
echo
echo "| configuration | JAVA_OPTS | CPU % of one core (mean) | RSS MiB | peak RSS MiB | samples/s per channel | points written | channels |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
while IFS=$'\t' read -r label description opts cpu rss hwm rate points channels wall influx_pct startup; do
  echo "| $label: $description | \`$opts\` | $cpu | $rss | $hwm | $rate | $points | $channels |"
done <"$results"
difference_row() {  # MINUEND SUBTRAHEND TEXT, when both were run
  [ -n "$(cpu_of "$1")" ] && [ -n "$(cpu_of "$2")" ] || return 0
  echo "| $1 − $2: $3 | | $(awk -v a="$(cpu_of "$1")" -v b="$(cpu_of "$2")" 'BEGIN { printf "%.2f", a - b }') | $(( $(rss_of "$1") - $(rss_of "$2") )) | $(( $(hwm_of "$1") - $(hwm_of "$2") )) | | | |"
}
difference_row A B "metering itself"
difference_row C B-capped "metering, heap capped"
echo
echo "influxd CPU during the window (not the daemon's, for sizing): $(awk -F'\t' '{ printf "%s%s %s%%", (NR > 1 ? ", " : ""), $1, $11 }' "$results"). Start-up to gRPC port open: $(awk -F'\t' '{ printf "%s%s %s ms", (NR > 1 ? ", " : ""), $1, $12 }' "$results")."
echo
if [ -s "$work/channels-A.csv" ]; then
  echo "Channels in A (points in power over the window): $(awk -F, '{ n = $NF; $1 = ""; $NF = ""; $(NF - 1) = ""; gsub(/"/, ""); gsub(/^ +| +$/, ""); printf "%s%s: %s", (NR > 1 ? "; " : ""), $0, n }' "$work/channels-A.csv")"
  echo
fi
echo "CPU % of one core by thread (name with its trailing number dropped), groups above 0.05 %:"
echo
echo "| configuration | thread | CPU % |"
echo "|---|---|---:|"
awk -F'\t' '$3 >= 0.05 { printf "| %s | %s | %s |\n", $1, $2, $3 }' "$threads"
}

# On one line: bash has read it whole before main runs, and exit stops it reading any further.
main "$@"; exit $?
