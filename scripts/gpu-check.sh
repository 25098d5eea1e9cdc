#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and nvcc: build with CUDA, check the CUDA backend against the CPU
# reference, and time pruning on a GPT-2-small-sized random model against the CPU backends.
# Takes a few minutes (most of it the CUDA build). Every number printed says which device gave it.
set -euo pipefail
# The device machines have no network: run `cargo fetch` (or `cargo vendor`) where the network is reachable
# and carry ~/.cargo/registry along, or the build below cannot download candle-core's CUDA crates.
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null || { echo "gpu-check: no nvidia-smi: this machine has no NVIDIA GPU" >&2; exit 1; }
command -v nvcc >/dev/null || { echo "gpu-check: no nvcc: install the CUDA toolkit to build candle's kernels" >&2; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if ! pkg-config --exists openblas 2>/dev/null && [ ! -e /usr/lib/x86_64-linux-gnu/libopenblas.so ]; then
  apt-get update -qq && apt-get install -y -qq libopenblas-dev pkg-config >/dev/null
fi
echo "== build (release, --features cuda)"
cargo build --release --features cuda --bin edgeprune --tests
echo "== parity on the device: CPU reference vs CUDA, f64 and f32"
cargo test --release --features cuda --test backends_on_cuda -- --nocapture
echo "== pruning throughput: ndarray-f64 (CPU) and candle f64/f32 on CUDA, same process, ratios to ndarray"
EDGEPRUNE_BENCH_CUDA=1 ./target/release/edgeprune bench --reverse-runs 1 --gpt2-steps 5 --gpt2-batch 8 --gpt2-seq-len 32
