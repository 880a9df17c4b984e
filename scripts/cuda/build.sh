#!/usr/bin/env bash
# Builds everything the GPU side needs on a machine with Rust and no GPU, into bundles for a GPU
# machine that has the CUDA driver and NVRTC but neither Rust nor network:
#
#   target/gpu-tests.tar.gz     every test binary of the workspace, built with `--features cuda`
#                               (the CPU tests run there too: "the whole test suite green on
#                               CUDA"), and the GPU kernel benchmark (benches/cuda_kernels.rs);
#   target/gpu-examples.tar.gz  the training examples, for `--device cuda`.
#
# Two bundles, because together they pass the device tool's 64 MiB carry limit. Binaries are
# stripped. scripts/cuda/run.sh unpacks whichever bundles are there and runs them:
#
#   bash scripts/cuda/build.sh [tests|examples|all]             # here (default: all)
#   bash scripts/cuda/run.sh [tests|bench|examples|mnist|all]   # there, from the repository root
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

if [ "$what" = tests ] || [ "$what" = all ]; then
  bundle=target/gpu-tests
  rm -rf "$bundle" "$bundle.tar.gz"
  mkdir -p "$bundle/tests"
  echo "== test binaries (--features cuda)"
  cargo test --workspace --release --features cuda --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.reason == "compiler-artifact" and .profile.test == true and .executable != null)
           | "\(.target.name)-\(.target.kind[0]) \(.executable) \(.manifest_path)"' |
    while read -r name exe manifest; do
      # Each binary runs from its own crate's folder, as `cargo test` does. Test files of the
      # same name live in several crates (devices.rs, matmul.rs, ...): the crate prefixes it.
      crate_dir=$(dirname "$manifest")
      crate=$(basename "$crate_dir")
      [ "$crate_dir" = "$root" ] && crate=root
      cp "$exe" "$bundle/tests/$crate.$name"
      echo ".${crate_dir#"$root"} $crate.$name" >> "$bundle/tests/manifest"
    done
  echo "== GPU kernel benchmark"
  exe=$(cargo bench --features cuda --bench cuda_kernels --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.reason == "compiler-artifact" and .executable != null and .target.name == "cuda_kernels") | .executable')
  cp "$exe" "$bundle/cuda_kernels"
  pack gpu-tests
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
echo "carry the target/gpu-*.tar.gz bundles (one call each if both exceed 64 MiB) and run: bash scripts/cuda/run.sh all"
