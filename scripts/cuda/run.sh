#!/usr/bin/env bash
# Runs the bundles made by scripts/cuda/build.sh on a GPU machine (no Rust needed), from the
# repository root:
#
#   bash scripts/cuda/run.sh tests     # the test binaries of every bundle present (the CUDA
#                                      # tests compare the GPU with the CPU)
#   bash scripts/cuda/run.sh bench     # the GPU kernel benchmark (markdown tables)
#   bash scripts/cuda/run.sh mnist     # mnist_mlp, --device cuda then cpu, 1 epoch each
#   bash scripts/cuda/run.sh examples  # every training example, --device cuda, short runs
#   bash scripts/cuda/run.sh sanitize  # the GPU test binaries under compute-sanitizer
#                                      # (memcheck, then racecheck), where the toolkit has it
#   bash scripts/cuda/run.sh all       # tests, bench, mnist
#
# Output goes to stdout and to $OUT (or target/gpu-results): tests.log, bench.md, mnist.log,
# examples.log (each example's last line is its JSON summary), sanitize.log.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
what=${1:-all}
results=${OUT:-target/gpu-results}
mkdir -p "$results"
bundles="gpu-tests gpu-suite-1 gpu-suite-2 gpu-examples"
for b in $bundles; do
  [ -f "target/$b.tar.gz" ] && tar -C target -xzf "target/$b.tar.gz"
done

# The binaries look for data under the checkout they were built in: point that path here.
for b in $bundles; do
  [ -f "target/$b/build_root" ] || continue
  build_root=$(cat "target/$b/build_root")
  if [ "$build_root" != "$root" ] && [ ! -e "$build_root" ]; then
    mkdir -p "$(dirname "$build_root")" && ln -s "$root" "$build_root"
  fi
done

# cudarc looks for libnvrtc.so by its usual names; add the toolkit's and pip's folders.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
  /usr/local/lib/python3*/dist-packages/nvidia/cu*/lib /usr/local/lib/python3*/dist-packages/nvidia/cuda_nvrtc/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

status=0
examples=$root/target/gpu-examples
if [ "$what" = tests ] || [ "$what" = all ]; then
  : > "$results/tests.log"
  for b in gpu-tests gpu-suite-1 gpu-suite-2; do
    [ -f "target/$b/tests/manifest" ] || continue
    while read -r dir name; do
      echo "== $name (in $dir)" | tee -a "$results/tests.log"
      if ! (cd "$dir" && "$root/target/$b/tests/$name" --test-threads 4 2>&1) >> "$results/tests.log"; then
        echo "FAILED: $name" | tee -a "$results/tests.log"
        status=1
      fi
      grep -E "^test result|skipped" "$results/tests.log" | tail -n 2
    done < "target/$b/tests/manifest"
  done
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
  "$root/target/gpu-tests/cuda_kernels" | tee "$results/bench.md" || status=1
fi
if [ "$what" = mnist ] || [ "$what" = all ]; then
  for device in cuda cpu; do
    "$examples/mnist_mlp" --epochs 1 --device "$device" 2>&1 | tail -n 3 | tee -a "$results/mnist.log" || status=1
  done
fi
if [ "$what" = examples ]; then
  : > "$results/examples.log"
  run() {
    echo "== $*" | tee -a "$results/examples.log"
    "$examples/$1" "${@:2}" --device cuda 2>&1 | tail -n 2 | tee -a "$results/examples.log" || status=1
  }
  run mnist_mlp --epochs 1
  run mnist_cnn --epochs 1
  run sentiment_lstm
  run seq2seq --epochs 1
  run char_lstm --epochs 1 --max-minutes 2
  run char_gpt --epochs 1 --max-minutes 2
  run autoencoder --epochs 1 --arch conv --out-dir "$results"
  run vae --epochs 1 --out-dir "$results"
  run gan --epochs 1 --out-dir "$results"
  run dcgan --epochs 1 --out-dir "$results"
fi
if [ "$what" = sanitize ]; then
  sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n 1)
  if [ -z "$sanitizer" ]; then
    echo "compute-sanitizer not found" | tee "$results/sanitize.log"
    exit 1
  fi
  : > "$results/sanitize.log"
  # The test binaries that launch kernels: the kernel tests and the GPU-vs-CPU comparisons.
  while read -r dir name; do
    for tool in memcheck racecheck; do
      echo "== $tool $name" | tee -a "$results/sanitize.log"
      (cd "$dir" && FERROGRAD_GPU_CASES=2 "$sanitizer" --tool "$tool" --error-exitcode 1 \
        "$root/target/gpu-tests/tests/$name" --test-threads 1 2>&1) | tail -n 5 | tee -a "$results/sanitize.log"
    done
  done < target/gpu-tests/tests/manifest
  grep -q "ERROR SUMMARY: [1-9]" "$results/sanitize.log" && status=1
fi
exit $status
