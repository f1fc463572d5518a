# Sourced by the benchmarks that meter with every sensor kind on a machine that may have none of the
# hardware (bench/meter/run.sh, bench/trainer/run.sh). Needs: bash, gcc, ldconfig; uses $work (a
# temp directory the caller removes) and $root (the repository).
#
#   fake_nvml          sets nvml_library (empty where the real libnvidia-ml.so.1 loads) and nvml_note;
#                      exports FAKE_NVML_CONTROL. BENCH_NVML=fake forces the fake.
#   fake_powercap      sets rapl_root, rapl_files (the counters to advance) and rapl_note; a real tree
#                      is used where BENCH_RAPL_ROOT names one.
#   advance_fake_sensors  loops until TERM: advances every fake counter once a second.

fake_nvml() {
  nvml_library=""
  # grep without -q reads to the end: an early exit would kill ldconfig with SIGPIPE, and pipefail would say "no".
  if [ "${BENCH_NVML:-auto}" != fake ] && ldconfig -p 2>/dev/null | grep 'libnvidia-ml\.so\.1 ' >/dev/null; then
    nvml_note="real NVIDIA driver ($(ldconfig -p | awk '/libnvidia-ml\.so\.1 / && !found { print $NF; found = 1 }'))"
    command -v nvidia-smi >/dev/null 2>&1 \
      && nvml_note="$nvml_note: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | paste -sd';' -)"
  else
    gcc -shared -fPIC -O2 -o "$work/libnvidia-ml.so.1" "$root/meter-daemon/src/test/c/fake_nvml.c"
    nvml_library="$work/libnvidia-ml.so.1"
    nvml_note="fake libnvidia-ml (meter-daemon/src/test/c/fake_nvml.c, gcc -O2): 2 GPUs with the total-energy counter"
  fi
  export FAKE_NVML_CONTROL="$work/nvml-control"
}

# 2 packages (intel-rapl:0, intel-rapl:1), each with core and dram sub-zones, nested and linked flat
# as the kernel lays them out.
fake_powercap() {
  rapl_root="${BENCH_RAPL_ROOT:-$work/powercap}"
  rapl_files=()
  if [ -n "${BENCH_RAPL_ROOT:-}" ]; then
    rapl_note="powercap tree at $rapl_root"
    return
  fi
  mkdir -p "$rapl_root/intel-rapl"
  echo 1 >"$rapl_root/intel-rapl/enabled"
  local p
  for p in 0 1; do
    fake_zone "intel-rapl:$p" "package-$p"
    fake_zone "intel-rapl:$p:0" core
    fake_zone "intel-rapl:$p:1" dram
  done
  rapl_note="fake powercap tree in a temp directory: 2 packages with core and dram sub-zones, energy_uj advanced once a second (rewritten in place, fixed width)"
}

# fake_zone ID NAME: a sub-zone (two colons) sits in its package's directory and is linked flat beside it.
fake_zone() {
  local id="$1" dir
  if [ "${id//[^:]/}" = "::" ]; then
    dir="$rapl_root/${id%:*}/$id"
    mkdir -p "$dir"
    ln -s "${id%:*}/$id" "$rapl_root/$id"
  else
    dir="$rapl_root/$id"
    mkdir -p "$dir"
  fi
  echo "$2" >"$dir/name"
  printf '%020d\n' 0 >"$dir/energy_uj"
  echo 262143328850 >"$dir/max_energy_range_uj"
  rapl_files+=("$dir/energy_uj")
}

# Advances every fake counter once a second: about 40 W per package, 25 W per core zone, 5 W per dram
# zone, 150 W per GPU. The NVML control file is replaced whole (temp file + mv), so that a read never
# sees half of it. The meter keeps each energy_uj open and reads it again from the start, as sysfs
# allows, so a file renamed over it would never be seen: each is rewritten in place (1<> opens it
# without truncating), zero-padded to one width so that no read finds it empty or half-written.
advance_fake_sensors() {
  local t=0 f sleeper=""
  trap '[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null; exit 0' TERM
  while :; do
    t=$((t + 1))
    {
      echo "device"; echo "name Fake GPU 0"; echo "uuid GPU-00000000-0000-0000-0000-000000000000"
      echo "energy_mj $((t * 150000))"; echo "power_mw 150000"; echo "power_limit_mw 300000"
      echo "utilization 90 40"; echo "memory 85899345920 42949672960 42949672960"; echo "process 4242 42949672960"
      echo "device"; echo "name Fake GPU 1"; echo "uuid GPU-11111111-1111-1111-1111-111111111111"
      echo "energy_mj $((t * 150000))"; echo "power_mw 150000"; echo "power_limit_mw 300000"
      echo "utilization 90 40"; echo "memory 85899345920 42949672960 42949672960"; echo "process 4243 42949672960"
    } >"$FAKE_NVML_CONTROL.tmp"
    mv -f "$FAKE_NVML_CONTROL.tmp" "$FAKE_NVML_CONTROL"
    for f in "${rapl_files[@]}"; do
      case "$f" in
        *:?:0/energy_uj) printf '%020d\n' $((t * 25000000)) 1<>"$f" ;;
        *:?:1/energy_uj) printf '%020d\n' $((t * 5000000)) 1<>"$f" ;;
        *) printf '%020d\n' $((t * 40000000)) 1<>"$f" ;;
      esac
    done
    sleep 1 &
    sleeper=$!
    wait "$sleeper" || true
    sleeper=""
  done
}
