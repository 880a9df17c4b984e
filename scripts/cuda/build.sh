#!/usr/bin/env bash
# Builds everything the GPU side needs on a machine with Rust and no GPU, into one bundle for a
# GPU machine that has the CUDA driver and NVRTC but neither Rust nor network:
#
#   - every test binary of the workspace, built with `--features cuda` (the CPU tests run there
#     too: "the whole test suite green on CUDA");
#   - the GPU kernel benchmark (benches/cuda_kernels.rs);
#   - the mnist_mlp example, for `--device cuda`.
#
# Binaries are stripped and packed into target/gpu-bundle.tar.gz (well under the device tool's
# 64 MiB carry limit), with scripts/cuda/run.sh to unpack and run them:
#
#   bash scripts/cuda/build.sh                      # here
#   bash scripts/cuda/run.sh [tests|bench|mnist|all] # there, from the repository root
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
bundle=target/gpu-bundle
rm -rf "$bundle" "$bundle.tar.gz"
mkdir -p "$bundle/tests"

export CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_TEST_DEBUG=false CARGO_PROFILE_BENCH_DEBUG=false

echo "== test binaries (--features cuda)"
cargo test --workspace --release --features cuda --no-run --message-format=json 2>/dev/null |
  jq -r 'select(.reason == "compiler-artifact" and .profile.test == true and .executable != null)
         | "\(.target.name)-\(.target.kind[0]) \(.executable) \(.manifest_path)"' |
  while read -r name exe manifest; do
    # Each binary runs from its own crate's folder, as `cargo test` does. Test files of the same
    # name live in several crates (devices.rs, matmul.rs, ...): the crate's folder prefixes it.
    crate_dir=$(dirname "$manifest")
    crate=$(basename "$crate_dir")
    [ "$crate_dir" = "$root" ] && crate=root
    cp "$exe" "$bundle/tests/$crate.$name"
    echo ".${crate_dir#"$root"} $crate.$name" >> "$bundle/tests/manifest"
  done

echo "== benchmark and example"
exe=$(cargo bench --features cuda --bench cuda_kernels --no-run --message-format=json 2>/dev/null |
  jq -r 'select(.reason == "compiler-artifact" and .executable != null and .target.name == "cuda_kernels") | .executable')
cp "$exe" "$bundle/cuda_kernels"
cargo build --release --features cuda --example mnist_mlp
cp target/release/examples/mnist_mlp "$bundle/mnist_mlp"

# Paths compiled into the binaries (env!("CARGO_MANIFEST_DIR")) point at this checkout; run.sh
# links this path to the checkout on the GPU machine.
echo "$root" > "$bundle/build_root"
strip "$bundle"/tests/* "$bundle/cuda_kernels" "$bundle/mnist_mlp" 2>/dev/null || true
tar -C target -czf "$bundle.tar.gz" gpu-bundle
rm -rf "$bundle"
ls -l "$bundle.tar.gz"
echo "carry target/gpu-bundle.tar.gz to the GPU machine and run: bash scripts/cuda/run.sh all"
