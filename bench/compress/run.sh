#!/bin/sh
# Compression passes: time of each pass on torchvision resnet50 and vgg16 (224 px), then training
# step time and energy per step of each technique against the uncompressed model (built-in
# resnet-cifar, batch 32, CPU), and quantize's fp32-vs-int8 inference time and energy per 1,000 images
# (QuantizeBenchmark), in one run. Usage: bench/compress/run.sh [threads] [steps]
set -eu
cd "$(dirname "$0")/../.."
THREADS="${1:-2}"
STEPS="${2:-20}"
OUT=trainer-service/target/bench
mkdir -p "$OUT"
./mvnw -B -q -pl trainer-service -am test -Dtest='CompressionBenchmark,QuantizeBenchmark' -Dsurefire.failIfNoSpecifiedTests=false \
  -Dwattlab.test.heap=12g -Dwattlab.bench=true -Dwattlab.bench.threads="$THREADS" -Dwattlab.bench.steps="$STEPS" >/dev/null
grep -h '^bench ' trainer-service/target/surefire-reports/*CompressionBenchmark-output.txt \
  trainer-service/target/surefire-reports/*QuantizeBenchmark-output.txt | tee "$OUT/compress.txt"
