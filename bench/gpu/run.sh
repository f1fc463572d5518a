#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and driver: busy the GPU with a CUDA burner, cross-check the NVML
# sensor's counter energy against its integrated power, then run `meter-daemon probe`.
# Needs nvcc (to build bench/gpu/burn.cu) and a JDK 17; run from the repository root.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${OUT:-target/gpu-check}"
mkdir -p "$out" target/gpu-check
./mvnw -B -q -DskipTests -pl meter-daemon -am package
cp="meter-daemon/target/meter-daemon.jar:meter-daemon/target/lib/*"
javac -d target/gpu-check -cp "$cp" bench/gpu/NvmlCrossCheck.java
nvcc -O2 -o target/gpu-check/burn bench/gpu/burn.cu
nvidia-smi --query-gpu=name,driver_version,power.draw,power.limit --format=csv
target/gpu-check/burn "${BURN_SECONDS:-25}" > target/gpu-check/burn.log 2>&1 &
burner=$!
trap 'kill $burner 2>/dev/null || true' EXIT
sleep 3
java -cp "$cp:target/gpu-check" NvmlCrossCheck "${CHECK_SECONDS:-12}"
nvidia-smi --query-gpu=power.draw,utilization.gpu --format=csv
java -cp "$cp" io.wattlab.meter.cli.Main probe > "$out/probe.json"
echo "probe written to $out/probe.json"
wait $burner
cat target/gpu-check/burn.log
