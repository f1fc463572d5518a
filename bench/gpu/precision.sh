#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: one trainer-service run of technique `precision` (format fp16,
# compute auto, so the mixed-precision train step: fp16 compute, fp32 master weights, dynamic loss
# scaling) on cuda:0, then its report's compression entries. Fails unless the run SUCCEEDED with
# `compute` fp16. Checks that the fp16 graph loads and trains on the CUDA execution provider; it
# measures nothing worth quoting (one short run, no float32 baseline).
#
#   bench/gpu/precision.sh [--no-build]
#
# Builds trainer-service with -Pcuda (onnxruntime_gpu; Maven must reach it or have it in ~/.m2)
# unless --no-build, which uses trainer-service/target as it is (it must be a -Pcuda build).
# Writes spec.yaml, run.json (the run as `run --json` prints it) and run.log to $OUT (default
# target/gpu-precision). PRECISION_EPOCHS (default 2), PRECISION_TRAIN (default 2048 images) size it.
# Run from anywhere; needs a JDK 17 and python3.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${OUT:-target/gpu-precision}"
mkdir -p "$out"
if [ "${1:-}" != "--no-build" ]; then
  ./mvnw -B -q -DskipTests -Pcuda -pl trainer-service -am package
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
cat > "$out/spec.yaml" <<SPEC
model:
  builtin: resnet-cifar
dataset:
  format: synthetic
  options: {classes: "10", size: "32x32", train: "${PRECISION_TRAIN:-2048}", test: "512", difficulty: easy, seed: "7"}
epochs: ${PRECISION_EPOCHS:-2}
batch_size: 128
learning_rate: 0.05
optimizer: {name: sgd, momentum: 0.9}
device: "cuda:0"
idle_seconds: 0
compression:
  technique: precision
  parameters: {format: fp16}
labels: {purpose: gpu-precision-check}
SPEC
status=0
env WATTLAB_TRAINER_RUNS_DIR="$out/runs" WATTLAB_LOG_LEVEL=INFO \
  java ${JAVA_OPTS:-} -cp "trainer-service/target/trainer-service.jar:trainer-service/target/lib/*" \
  io.wattlab.trainer.cli.Main run "$out/spec.yaml" --json > "$out/run.json" 2> "$out/run.log" || status=$?
python3 - "$out/run.json" "$status" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
report = run.get("report", {})
compression = report.get("compression", {})
print("state:", run.get("state"), "exit:", sys.argv[2], run.get("error", ""))
for key in ("parameters", "compute", "compute_reason", "loss_scaling", "skipped_steps", "final_loss_scale"):
    print(f"{key}: {compression.get(key)}")
for epoch in report.get("epochs", []):
    print(f"epoch {epoch.get('epoch')}: train_loss {epoch.get('trainLoss')} top1 {epoch.get('top1')} "
          f"seconds {epoch.get('seconds')} energy_joules {epoch.get('energyJoules')}")
ok = run.get("state") == "RUN_STATE_SUCCEEDED" and compression.get("compute") == "fp16"
sys.exit(0 if ok else 1)
PY
