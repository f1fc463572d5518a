#!/usr/bin/env bash
# Measures two things about trainer-service runs:
#   1. what metering costs training, two ways:
#      a. in one JVM (MeteringOverheadBenchmark, run through Maven): one training session runs
#         blocks of steps, alternately with the in-process meter sampling every sensor and with no
#         meter, in the order on, off, off, on, on, off, ...; each group of four (on, off, off, on)
#         gives one overhead figure, summarised as a median and a mean with 95 % intervals. This is
#         the figure that can resolve about 1 %.
#      b. whole runs (`bin/trainer-service run SPEC.yaml --json`), each in a fresh JVM, with every
#         sensor on at 100 ms against every sensor off, alternated on, off, on, off, ...; training
#         images/s from the report's train phases. Run-to-run spread on a shared machine is far
#         larger than 1 %, so this shows the whole path works, not the overhead's size.
#   2. time from StartRun to the first training step of torchvision resnet50 (random init, exported
#      once by tools/onnx-reference/reference.py): the run's `created` timestamp to the start of
#      its first `train` phase, which is the instant the first step begins (see the report).
#
#   bench/trainer/run.sh [--blocks B] [--block-steps S] [--interval-millis MS] [--repeats N]
#                        [--startup-repeats M] [--no-build] [--keep]
#
# --blocks B: blocks of 1a (a multiple of 4, default 40; 0 skips it), --block-steps S: steps per
# block (default 10); --interval-millis MS: the meter's sampling interval when on (default 100, the
# meter's own default); --repeats N: on/off pairs of 1b (default 3); --startup-repeats M: resnet50
# runs (default 3).
# BENCH_TRAIN_IMAGES (default 2048) and BENCH_EPOCHS (default 2): the size of 1b's runs.
# BENCH_RESNET50_SIZE (default 224): the resnet50 input, exported once and cached under
# bench/trainer/target/ (that export is kept; everything else goes to a temp directory, removed at
# the end unless --keep or a failure).
# --no-build uses the jar already built (1a still compiles the tests). Prints a markdown report on
# stdout, progress on stderr.
#
# "On" is the in-process meter as a plain run has it, with every sensor kind: NVML through a fake
# libnvidia-ml built here with gcc (meter-daemon/src/test/c/fake_nvml.c, 2 GPUs) unless a real one
# loads, RAPL from a fake powercap tree (2 packages with core and dram sub-zones) unless
# BENCH_RAPL_ROOT names a real one, and the estimate (WATTLAB_ESTIMATE_MODE=always), every 100 ms
# (--interval-millis).
# "Off" is no meter in 1a, and in 1b WATTLAB_NVML_ENABLED=false WATTLAB_RAPL_ENABLED=false
# WATTLAB_ESTIMATE_MODE=never: the sampler has nothing to read. A background loop advances the fake
# counters once a second throughout, so that both arms see the same background.
set -euo pipefail

# All in one function, so that bash has read the whole file before any of it runs.
main() {
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
repeats=3
blocks=40
block_steps=10
startup_repeats=3
build=1
keep=0
train_images="${BENCH_TRAIN_IMAGES:-2048}"
epochs="${BENCH_EPOCHS:-2}"
r50_size="${BENCH_RESNET50_SIZE:-224}"
interval_millis=100
command_line="bench/trainer/run.sh${*:+ $*}"

usage() { sed -n '2,38p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --repeats) repeats="$2"; shift ;;
    --blocks) blocks="$2"; shift ;;
    --block-steps) block_steps="$2"; shift ;;
    --interval-millis) interval_millis="$2"; shift ;;
    --startup-repeats) startup_repeats="$2"; shift ;;
    --no-build) build=0 ;;
    --keep) keep=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
for n in "$repeats" "$blocks" "$block_steps" "$interval_millis" "$startup_repeats" "$train_images" "$epochs" "$r50_size"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "run.sh: counts must be whole numbers, got '$n'" >&2; exit 2; }
done
[ $((blocks % 4)) = 0 ] || { echo "run.sh: --blocks must be a multiple of 4, got $blocks" >&2; exit 2; }

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/wattlab-trainbench.XXXXXX")"
cache="$root/bench/trainer/target"
advancer_pid=""
run_pid=""

stop_pid() {
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_pid "$run_pid"
  stop_pid "$advancer_pid"
  if [ "$keep" = 1 ] || [ "$status" != 0 ]; then
    log "logs and reports kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- build ----
if [ "$build" = 1 ]; then
  log "building trainer-service"
  (cd "$root" && ./mvnw -B -q -DskipTests -pl trainer-service -am package) >&2
fi
[ -f "$root/trainer-service/target/trainer-service.jar" ] || { echo "run.sh: trainer-service/target/trainer-service.jar is missing" >&2; exit 1; }

# ---- NVML and powercap: the real ones where they are, else fakes (bench/lib/fake-sensors.sh) ----
# shellcheck source=../lib/fake-sensors.sh
. "$root/bench/lib/fake-sensors.sh"
fake_nvml
fake_powercap

advance_fake_sensors &
advancer_pid=$!
sleep 0.5

meter_on=(WATTLAB_NVML_ENABLED=true WATTLAB_RAPL_ENABLED=true "WATTLAB_RAPL_ROOT=$rapl_root"
  WATTLAB_ESTIMATE_MODE=always "WATTLAB_METER_INTERVAL_MILLIS=$interval_millis")
[ -n "$nvml_library" ] && meter_on+=("WATTLAB_NVML_LIBRARY=$nvml_library")
meter_off=(WATTLAB_NVML_ENABLED=false WATTLAB_RAPL_ENABLED=false WATTLAB_ESTIMATE_MODE=never
  "WATTLAB_METER_INTERVAL_MILLIS=$interval_millis")

# run LABEL SPEC ENV...: one run in a fresh JVM, its JSON report in $work/LABEL.json; prints the
# epoch nanoseconds just before the JVM was started. Straight to java, as bin/trainer-service
# does, so that its stale-build check cannot rebuild in the middle of the benchmark.
run() {
  local label="$1" spec="$2"
  shift 2
  local t0
  t0="$(date +%s%N)"
  env -u WATTLAB_INFLUX_URL -u WATTLAB_METER_ADDRESS "$@" "WATTLAB_TRAINER_RUNS_DIR=$work/runs" \
    WATTLAB_TRAINER_EPOCH_EVAL_IMAGES=64 WATTLAB_LOG_LEVEL=WARN \
    java ${BENCH_JAVA_OPTS:-} -cp "$root/trainer-service/target/trainer-service.jar:$root/trainer-service/target/lib/*" \
    io.wattlab.trainer.cli.Main run "$spec" --json >"$work/$label.json" 2>"$work/$label.log" &
  run_pid=$!
  watch_cpu "$run_pid" "$work/$label.cpu" &
  wait "$run_pid" || { tail -30 "$work/$label.log" >&2; echo "run.sh: $label: the run failed" >&2; exit 1; }
  run_pid=""
  [ "$(jq -r .state "$work/$label.json")" = RUN_STATE_SUCCEEDED ] || { jq -r .error "$work/$label.json" >&2; echo "run.sh: $label: not SUCCEEDED" >&2; exit 1; }
  echo "$t0"
}

# watch_cpu PID FILE: every 0.2 s until PID ends, writes "process_ticks sampler_ticks" (utime + stime)
# to FILE, the whole JVM and its meter-* threads (the meter's sampler threads, one per sensor).
# The largest counts seen are the run's totals, less at most 0.2 s: the meter closes (and its threads
# end) before the JVM exits, so the last look may find no sampler thread.
watch_cpu() {
  local pid="$1" file="$2" proc sampler task line most=0
  while kill -0 "$pid" 2>/dev/null; do
    proc="$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null)" || break
    sampler=0
    for task in /proc/"$pid"/task/*; do
      case "$(cat "$task/comm" 2>/dev/null)" in meter-*) ;; *) continue ;; esac
      line="$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$task/stat" 2>/dev/null)" || continue
      sampler=$((sampler + ${line:-0}))
    done
    [ "$sampler" -gt "$most" ] && most="$sampler"
    [ -n "$proc" ] && echo "$proc $most" >"$file"
    sleep 0.2
  done
}

# RFC 3339 timestamp (as protobuf's JSON writes it) -> epoch seconds with fractions.
seconds_of() { date -d "$1" +%s.%N; }

# ---- 1a. overhead in one JVM ----
interleaved="$work/interleaved.txt"
: >"$interleaved"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$blocks" -gt 0 ]; then
  log "1a: $blocks blocks of $block_steps steps in one JVM (MeteringOverheadBenchmark)"
  bench_props=(-Dwattlab.bench=true "-Dwattlab.bench.blocks=$blocks" "-Dwattlab.bench.block-steps=$block_steps"
    -Dwattlab.nvml.enabled=true -Dwattlab.rapl.enabled=true "-Dwattlab.rapl.root=$rapl_root"
    -Dwattlab.estimate.mode=always "-Dwattlab.meter.interval-millis=$interval_millis")
  [ -n "$nvml_library" ] && bench_props+=("-Dwattlab.nvml.library=$nvml_library")
  (cd "$root" && env -u WATTLAB_INFLUX_URL ./mvnw -B -q -pl trainer-service -am test \
    -Dtest=MeteringOverheadBenchmark -Dsurefire.failIfNoSpecifiedTests=false "${bench_props[@]}") >"$work/interleaved.log" 2>&1 \
    || { tail -40 "$work/interleaved.log" >&2; echo "run.sh: 1a failed" >&2; exit 1; }
  grep -h '^bench overhead' "$root"/trainer-service/target/surefire-reports/*MeteringOverheadBenchmark-output.txt >"$interleaved"
  log "1a: $(grep 'summary' "$interleaved")"
fi

# ---- 1b. overhead over whole runs ----
cat >"$work/overhead.yaml" <<EOF
model:
  builtin: resnet-cifar
dataset:
  format: synthetic
  options:
    classes: "10"
    size: "32x32"
    channels: "3"
    train: "$train_images"
    test: "64"
    difficulty: easy
    seed: "7"
epochs: $epochs
batch_size: 32
learning_rate: 0.02
optimizer:
  name: sgd
  momentum: 0.9
seed: 1
trainable:
  all: true
idle_seconds: 0
EOF
clk_tck="$(getconf CLK_TCK)"
results="$work/overhead.tsv"
: >"$results"
for i in $(seq 1 "$repeats"); do
  for mode in on off; do
    label="overhead-$mode-$i"
    if [ "$mode" = on ]; then run "$label" "$work/overhead.yaml" "${meter_on[@]}" >/dev/null
    else run "$label" "$work/overhead.yaml" "${meter_off[@]}" >/dev/null; fi
    # Train phases: their seconds (each includes that epoch's evaluation of 64 test images) and samples.
    read -r seconds samples channels < <(jq -r '[([.report.phases[] | select(.phase == "train") | .energy.durationSeconds] | add),
        ([.report.epochs[] | (.samples | tonumber)] | add), ([.report.energy.domains // [] | length] | add)] | @tsv' "$work/$label.json")
    rate="$(awk -v n="$samples" -v s="$seconds" 'BEGIN { printf "%.1f", n / s }')"
    read -r proc_ticks sampler_ticks <"$work/$label.cpu"
    cpu="$(awk -v p="$proc_ticks" -v s="$sampler_ticks" -v hz="$clk_tck" 'BEGIN { printf "%.2f\t%.2f\t%.3f", p / hz, s / hz, 100 * s / p }')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$mode" "$samples" "$seconds" "$rate" "$channels" "$cpu" >>"$results"
    log "$label: $samples images in $seconds s of train phases: $rate images/s ($channels energy channels); CPU s process, sampler, %: $cpu"
  done
done
load_mid="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 2. StartRun to the first training step, resnet50 ----
r50_dir="$cache/resnet50-$r50_size"
if [ "$startup_repeats" -gt 0 ] && [ ! -f "$r50_dir/index.tsv" ]; then
  log "exporting torchvision resnet50 (random init, ${r50_size}x${r50_size}, 10 classes) to $r50_dir"
  mkdir -p "$r50_dir"
  /usr/bin/python3 "$root/tools/onnx-reference/reference.py" --model resnet50 --out "$r50_dir" --size "$r50_size" \
    --classes 10 --batch 8 --export-only 1 >"$r50_dir/export.log" 2>&1 || { tail -20 "$r50_dir/export.log" >&2; exit 1; }
fi
cat >"$work/resnet50.yaml" <<EOF
model:
  onnx_path: $r50_dir/model.onnx
dataset:
  format: synthetic
  options:
    classes: "10"
    size: "32x32"
    channels: "3"
    train: "8"
    test: "8"
    seed: "7"
epochs: 1
batch_size: 8
learning_rate: 0.01
optimizer:
  name: sgd
  momentum: 0.9
seed: 1
trainable:
  all: true
idle_seconds: 0
EOF
startup="$work/startup.tsv"
: >"$startup"
for i in $(seq 1 "$startup_repeats"); do
  label="resnet50-$i"
  t0="$(run "$label" "$work/resnet50.yaml" "${meter_on[@]}")"
  read -r created load_start load_end compress_end train_start train_end < <(jq -r '[.created,
      (.report.phases[] | select(.phase == "load") | .start, .end),
      (.report.phases[] | select(.phase == "compress") | .end),
      (.report.phases[] | select(.phase == "train" and .epoch == 1) | .start, .end)] | @tsv' "$work/$label.json")
  c="$(seconds_of "$created")"
  row="$(awk -v t0="$t0" -v c="$c" -v ls="$(seconds_of "$load_start")" -v le="$(seconds_of "$load_end")" \
    -v ce="$(seconds_of "$compress_end")" -v ts="$(seconds_of "$train_start")" -v te="$(seconds_of "$train_end")" \
    'BEGIN { printf "%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f", ts - c, ls - c, le - ls, ts - ce, te - ts, ts - t0 / 1e9 }')"
  printf '%s\t%s\n' "$i" "$row" >>"$startup"
  log "$label: created -> first train phase start $(cut -f1 <<<"$row") s (process start -> $(cut -f6 <<<"$row") s)"
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- report (markdown on stdout) ----
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
if [ -s "$results" ]; then
  on_median="$(awk -F'\t' '$2 == "on" { print $5 }' "$results" | median)"
  off_median="$(awk -F'\t' '$2 == "off" { print $5 }' "$results" | median)"
  overhead="$(awk -v on="$on_median" -v off="$off_median" 'BEGIN { printf "%.2f", 100 * (off - on) / off }')"
fi

echo "Command: \`$command_line\` ($blocks blocks of $block_steps steps in one JVM; $repeats on/off pairs of runs; $startup_repeats resnet50 runs)"
echo
echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r), $(java -version 2>&1 | paste -sd';' - | sed 's/;/; /g'); load average $load_before before, $load_mid after the overhead runs, $load_after at the end"
echo
echo "Metering on: NVML = $nvml_note; RAPL = $rapl_note; estimate always; every ${interval_millis} ms, in process. Off: no sensor."
echo
if [ -s "$interleaved" ]; then
  read -r groups on_ms off_ms mean lo hi med med_lo med_hi meter_core < <(awk '/summary/ {
      for (i = 1; i <= NF; i++) { v[$i] = $(i + 1); w[$i] = $(i + 2) }
      print v["groups"], v["mean_ms_per_step_on"], v["off"], v["overhead_percent_mean"], v["ci95"], w["ci95"],
        v["median"], v["median_ci95"], w["median_ci95"], v["meter_threads_percent_of_one_core"] }' "$interleaved")
  echo "1a, in one JVM: built-in resnet-cifar, batch 32, SGD momentum, 2 intra-op threads, $blocks blocks of $block_steps steps (after $((2 * block_steps)) warm-up steps with the meter on), blocks in the order on, off, off, on, ...; each block waits 0.5 s before its steps (the metered ones with the meter already sampling)."
  echo
  echo "| block | metering | ms per step | meter threads CPU ms |"
  echo "|---:|---|---:|---:|"
  awk '/ block / { printf "| %s | %s | %s | %s |\n", $4, $5, $7, $9 }' "$interleaved"
  echo
  echo "Mean step time: on $on_ms ms, off $off_ms ms. Overhead over $groups groups of four blocks (on, off, off, on), each (on + on) / (off + off) − 1: median **$med %** (95 % interval from order statistics: $med_lo % to $med_hi %), mean $mean % (95 % confidence interval, Student's t: $lo % to $hi %); target: under 1 %. The meter's sampler threads used $meter_core % of one core while metering."
  echo
fi
if [ -s "$results" ]; then
  echo "Overhead run: built-in resnet-cifar, synthetic 10 classes 32×32, $train_images training images, $epochs epochs, batch 32, SGD momentum, seed 1, idle_seconds 0, a fresh JVM per run. images/s = samples of the train phases / their seconds (each train phase also evaluates 64 test images)."
  echo
  echo "| pair | metering | images | train-phase s | images/s | energy channels | JVM CPU s | sampler threads CPU s | sampler share of JVM CPU % |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '{ printf "| %s | %s | %s | %.2f | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }' "$results"
  echo
  echo "Median images/s: on $on_median, off $off_median; overhead (off − on) / off = **${overhead} %** (target: under 1 %)."
  echo "Median CPU share of the meter's sampler threads in the metered runs: **$(awk -F'\t' '$2 == "on" { print $9 }' "$results" | median) %** of the JVM's CPU time (the whole run, JVM start to exit)."
  echo "Per pair: $(awk -F'\t' '$2 == "on" { on[$1] = $5 } $2 == "off" { off[$1] = $5 } END { for (i = 1; i in on; i++) printf "%s%d: %.2f %%", (i > 1 ? ", " : ""), i, 100 * (off[i] - on[i]) / off[i] }' "$results")."
  echo
fi
if [ -s "$startup" ]; then
  echo "StartRun to first step: torchvision resnet50 (random init, exported at ${r50_size}×${r50_size}, 10 classes, BatchNorm kept), synthetic 32×32 images resized to ${r50_size}×${r50_size}, 8 training images, batch 8 (one step), metering on. Seconds:"
  echo
  echo "| run | created → first train phase start | created → load start | load phase | compress end → train start | first epoch (1 step + 8-image eval) | JVM start → first train phase start |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '{ printf "| %s | **%s** | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' "$startup"
  echo
  echo "Median created → first train phase start: **$(cut -f2 "$startup" | median) s** (target: under 5 s); median JVM start → first train phase start: $(cut -f7 "$startup" | median) s."
fi
}

# On one line: bash has read it whole before main runs, and exit stops it reading any further.
main "$@"; exit $?
