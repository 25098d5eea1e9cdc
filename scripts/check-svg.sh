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
    # The truth command's drawing (data: every sequence of max_seq_len), and the report's (data: every
    # sequence of the report input's length), which also draws the other minimal circuits.
    "$bin" truth --lib "$program" --svg "$out/$program.svg" >/dev/null
    "$bin" report --lib "$program" -o "$out/$program.html" --svg "$out/${program}_alternatives.svg" >/dev/null
    for drawing in "$program" "${program}_alternatives"; do
        rsvg-convert "$out/$drawing.svg" -o "$out/$drawing.png"
        echo "$out/$drawing.png"
    done
done
