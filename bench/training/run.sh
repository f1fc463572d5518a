#!/bin/sh
# Training throughput, wattlab engine vs PyTorch CPU, same machine, models, batch and threads,
# in one run; then ResNet-50 graph-build time and peak heap. Usage: bench/training/run.sh [threads]
set -eu
cd "$(dirname "$0")/../.."
THREADS="${1:-2}"
OUT=trainer-service/target/bench
mkdir -p "$OUT"
./mvnw -B -q -pl trainer-service -am test -Dtest=TrainingBenchmark -Dsurefire.failIfNoSpecifiedTests=false \
  -Dwattlab.bench=true -Dwattlab.bench.threads="$THREADS" >/dev/null
grep -h '^wattlab ' trainer-service/target/surefire-reports/*TrainingBenchmark-output.txt | tee "$OUT/wattlab.txt"
/usr/bin/python3 bench/training/torch_train_bench.py --threads "$THREADS" | tee "$OUT/torch.txt"
