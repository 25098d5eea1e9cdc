#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and nvcc, in at most ~10 minutes: build with CUDA, check the CUDA
# backend against the CPU reference (Tracr models, a random GPT-2-shaped model) and against the official
# Edge-Pruning code's numbers on the GPT-2 fixtures (f64 and f32), then time a GPT-2-small step on the GPU
# beside the CPU backends. Every number printed says which device gave it.
#
# Not yet run: no GPU was lent to the session that wrote it. Budget: the CUDA build of candle's kernels
# dominates (several minutes on 16 cores); each stage below has its own timeout so a hang cannot eat
# the whole 10 minutes.
set -euo pipefail
# The device machines have no network: run `cargo fetch` where the network is reachable and carry
# ~/.cargo/registry along (or vendor), or the build below cannot download candle-core's CUDA crates.
# The lent H200 machines have nvcc 13 and PyTorch's CUDA libraries but no Rust toolchain (device
# README), so there this script's cargo steps cannot run as written: build the three binaries on the
# development machine (Debian's nvidia-cuda-toolkit 11.8 from non-free; CUDA_COMPUTE_CAP=80, because
# nvcc 11.8 rejects candle's compute_90a; untested on a GPU: candle's PTX kernels should JIT on sm_90,
# but the quantized kernels it compiles to sm_80 machine code, which this crate does not call, would not),
# carry them, and run the test binaries directly. They find their fixtures through the
# CARGO_MANIFEST_DIR baked in at build time, so the checkout must sit at the same path there (or the
# tests need an override). `CUDA_COMPUTE_CAP=80 cargo check --release --features cuda --all-targets`
# with that toolkit passed on 2026-12-02 (7 min), the most that could be verified without a GPU.
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null || { echo "gpu-check: no nvidia-smi: this machine has no NVIDIA GPU" >&2; exit 1; }
command -v nvcc >/dev/null || { echo "gpu-check: no nvcc: install the CUDA toolkit to build candle's kernels" >&2; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader
if ! pkg-config --exists openblas 2>/dev/null && [ ! -e /usr/lib/x86_64-linux-gnu/libopenblas.so ]; then
  apt-get update -qq && apt-get install -y -qq libopenblas-dev pkg-config >/dev/null
fi
# candle's build script reads the compute capability; set it from the GPU so nvcc targets the right arch.
if [ -z "${CUDA_COMPUTE_CAP:-}" ]; then
  CUDA_COMPUTE_CAP="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')"
  export CUDA_COMPUTE_CAP
fi
echo "== build (release, --features cuda, compute cap ${CUDA_COMPUTE_CAP})"
start=$(date +%s)
timeout 420 cargo build --release --features cuda --bin edgeprune \
  --test backends_on_cuda --test gpt2_masked_forward_matches_edge_pruning
echo "build: $(( $(date +%s) - start )) s"
echo "== parity on the device: CUDA vs the CPU reference (Tracr models, random GPT-2-shaped model), f64 and f32"
timeout 120 cargo test --release --features cuda --test backends_on_cuda -- --nocapture
echo "== parity on the device: CUDA vs the official Edge-Pruning GPT-2 numbers (4 fixture files x 14 cases)"
timeout 120 cargo test --release --features cuda --test gpt2_masked_forward_matches_edge_pruning \
  -- --include-ignored cuda_matches_official --nocapture
echo "== GPT-2-small (random checkpoint written and read back), batch 8 x 16: ndarray-f64 (CPU) and candle f64/f32 on CUDA"
EDGEPRUNE_BENCH_CUDA=1 timeout 240 ./target/release/edgeprune bench --reverse-runs 1 --gpt2-steps 5 \
  --gpt2-batch 8 --gpt2-seq-len 16
