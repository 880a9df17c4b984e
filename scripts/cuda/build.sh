#!/usr/bin/env bash
# Builds everything the GPU side needs on a machine with Rust and no GPU, into bundles for a GPU
# machine that has the CUDA driver and NVRTC but neither Rust nor network:
#
#   target/gpu-tests.tar.gz      the test binaries that run kernels on a GPU (kernels/tests/cuda.rs
#                                and every devices.rs, which compare the GPU with the CPU), built
#                                with `--features cuda`, and the GPU kernel benchmark
#                                (benches/cuda_kernels.rs);
#   target/gpu-suite-{1,2}.tar.gz  every other test binary, built the same way (the rest of the
#                                suite, which runs on the CPU there too), in two halves;
#   target/gpu-examples.tar.gz   the training examples, for `--device cuda`.
#
# Several bundles, because the device tool carries at most 64 MiB with the working tree (about
# 27 MiB with shared/): carry gpu-tests and gpu-examples together, each suite half alone.
# Binaries are stripped. scripts/cuda/run.sh unpacks whichever bundles are there and runs them:
#
#   bash scripts/cuda/build.sh [tests|suite|examples|all]               # here (default: all)
#   bash scripts/cuda/run.sh [tests|bench|examples|mnist|sanitize|all]  # there, from the repo root
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
what=${1:-all}
export CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_TEST_DEBUG=false CARGO_PROFILE_BENCH_DEBUG=false

# Packs the folder target/$1 into target/$1.tar.gz (with the path of this checkout, which the
# binaries have compiled in for their data: run.sh links it to the checkout over there).
pack() {
  echo "$root" > "target/$1/build_root"
  strip target/"$1"/* target/"$1"/tests/* 2>/dev/null || true
  tar -C target -czf "target/$1.tar.gz" "$1"
  rm -rf "target/$1"
  ls -l "target/$1.tar.gz"
}

if [ "$what" = tests ] || [ "$what" = suite ] || [ "$what" = all ]; then
  for b in gpu-tests gpu-suite-1 gpu-suite-2; do
    rm -rf "target/$b" "target/$b.tar.gz"
    mkdir -p "target/$b/tests"
    : > "target/$b/tests/manifest"
  done
  echo "== test binaries (--features cuda)"
  n=0
  cargo test --workspace --release --features cuda --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.reason == "compiler-artifact" and .profile.test == true and .executable != null)
           | "\(.target.name)-\(.target.kind[0]) \(.executable) \(.manifest_path)"' |
    while read -r name exe manifest; do
      # Each binary runs from its own crate's folder, as `cargo test` does. Test files of the
      # same name live in several crates (devices.rs, matmul.rs, ...): the crate prefixes it.
      crate_dir=$(dirname "$manifest")
      crate=$(basename "$crate_dir")
      [ "$crate_dir" = "$root" ] && crate=root
      case "$name" in
        cuda-test | devices-test) bundle=target/gpu-tests ;;
        *) n=$((n + 1)); bundle=target/gpu-suite-$((n % 2 + 1)) ;;
      esac
      cp "$exe" "$bundle/tests/$crate.$name"
      echo ".${crate_dir#"$root"} $crate.$name" >> "$bundle/tests/manifest"
    done
  echo "== GPU kernel benchmark"
  exe=$(cargo bench --features cuda --bench cuda_kernels --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.reason == "compiler-artifact" and .executable != null and .target.name == "cuda_kernels") | .executable')
  cp "$exe" target/gpu-tests/cuda_kernels
  if [ "$what" = suite ]; then rm -rf target/gpu-tests; else pack gpu-tests; fi
  if [ "$what" = tests ]; then
    rm -rf target/gpu-suite-1 target/gpu-suite-2
  else
    pack gpu-suite-1
    pack gpu-suite-2
  fi
fi

if [ "$what" = examples ] || [ "$what" = all ]; then
  bundle=target/gpu-examples
  rm -rf "$bundle" "$bundle.tar.gz"
  mkdir -p "$bundle"
  echo "== training examples (--features cuda)"
  examples=(mnist_mlp mnist_cnn char_lstm char_gpt seq2seq sentiment_lstm autoencoder vae gan dcgan)
  cargo build --release --features cuda "${examples[@]/#/--example=}"
  for e in "${examples[@]}"; do
    cp "target/release/examples/$e" "$bundle/$e"
  done
  pack gpu-examples
fi
echo "carry target/gpu-tests.tar.gz and target/gpu-examples.tar.gz (each suite half alone) and run: bash scripts/cuda/run.sh all"
