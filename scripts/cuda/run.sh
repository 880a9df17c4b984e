#!/usr/bin/env bash
# Runs the bundle made by scripts/cuda/build.sh on a GPU machine (no Rust needed), from the
# repository root:
#
#   bash scripts/cuda/run.sh tests   # every test binary (the CUDA tests compare GPU with CPU)
#   bash scripts/cuda/run.sh bench   # the GPU kernel benchmark (markdown tables)
#   bash scripts/cuda/run.sh mnist   # mnist_mlp --device cuda, then on the CPU, 1 epoch each
#   bash scripts/cuda/run.sh all     # all three
#
# Output goes to stdout and to $OUT (or target/gpu-results) as tests.log, bench.md, mnist.log.
set -uo pipefail
cd "$(dirname "$0")/../.."
what=${1:-all}
results=${OUT:-target/gpu-results}
mkdir -p "$results"
tar -C target -xzf target/gpu-bundle.tar.gz
bundle=$(pwd)/target/gpu-bundle

# The binaries look for data under the checkout they were built in: point that path here.
build_root=$(cat "$bundle/build_root")
if [ "$build_root" != "$(pwd)" ] && [ ! -e "$build_root" ]; then
  mkdir -p "$(dirname "$build_root")" && ln -s "$(pwd)" "$build_root"
fi

# cudarc looks for libnvrtc.so by its usual names; add the toolkit's and pip's folders.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
  /usr/local/lib/python3*/dist-packages/nvidia/cu*/lib /usr/local/lib/python3*/dist-packages/nvidia/cuda_nvrtc/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

status=0
if [ "$what" = tests ] || [ "$what" = all ]; then
  : > "$results/tests.log"
  while read -r dir name; do
    echo "== $name (in $dir)" | tee -a "$results/tests.log"
    if ! (cd "$dir" && "$bundle/tests/$name" --test-threads 4 2>&1) >> "$results/tests.log"; then
      echo "FAILED: $name" | tee -a "$results/tests.log"
      status=1
    fi
    grep -E "^test result|skipped" "$results/tests.log" | tail -n 2
  done < "$bundle/tests/manifest"
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
  "$bundle/cuda_kernels" | tee "$results/bench.md" || status=1
fi
if [ "$what" = mnist ] || [ "$what" = all ]; then
  for device in cuda cpu; do
    "$bundle/mnist_mlp" --epochs 1 --device "$device" --data-dir data/mnist 2>&1 | tail -n 3 | tee -a "$results/mnist.log" || status=1
  done
fi
exit $status
