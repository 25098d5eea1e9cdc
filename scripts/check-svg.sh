#!/usr/bin/env bash
# Renders the circuit drawings of reverse, sort_freq and shuffle_dyck with a real SVG renderer
# (rsvg-convert, from Debian's librsvg2-bin, installed when missing) so a person can look at the PNGs.
# Fails when the renderer rejects a drawing. Usage: scripts/check-svg.sh [OUT_DIR] (default target/check-svg).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/check-svg}"
mkdir -p "$out"
if ! command -v rsvg-convert >/dev/null; then
    apt-get install -y librsvg2-bin >/dev/null
fi
cargo build --release --quiet --bin edgeprune
bin="${CARGO_TARGET_DIR:-target}/release/edgeprune"
for program in reverse sort_freq shuffle_dyck; do
    "$bin" truth --lib "$program" --svg "$out/$program.svg" >/dev/null
    rsvg-convert "$out/$program.svg" -o "$out/$program.png"
    echo "$out/$program.png"
done
