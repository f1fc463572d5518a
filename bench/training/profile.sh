#!/bin/sh
# ONNX Runtime profile of the engine's train step (batch 64, 32x32, SGD momentum), summed per op
# type and per node. Usage: bench/training/profile.sh [threads] [models]
set -eu
cd "$(dirname "$0")/../.."
THREADS="${1:-2}"
MODELS="${2:-mobilenet_v2}"
OUT=trainer-service/target/bench
mkdir -p "$OUT"
./mvnw -B -o -q -pl trainer-service -am test -Dtest=TrainingProfile -Dsurefire.failIfNoSpecifiedTests=false \
  -Dwattlab.profile=true -Dwattlab.bench.threads="$THREADS" -Dwattlab.bench.models="$MODELS" >/dev/null
for m in $(echo "$MODELS" | tr ',' ' '); do
  echo "== $m"
  /usr/bin/python3 bench/training/profile_summary.py "$OUT/profile-$m.json" | tee "$OUT/profile-$m.txt"
done
