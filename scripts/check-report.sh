#!/usr/bin/env bash
# Opens `edgeprune report` pages in headless Chromium and fails on any console error, uncaught
# exception or network request (a report must be self-contained); saves screenshots to look at.
# Installs Debian's chromium when missing, and the CDP client (websockets) in its own venv.
# Usage: scripts/check-report.sh [OUT_DIR] [PROGRAM...]   (default: target/check-report, reverse sort_freq shuffle_dyck2)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/check-report}"
shift || true
programs=("$@")
[ ${#programs[@]} -eq 0 ] && programs=(reverse sort_freq shuffle_dyck2)
mkdir -p "$out"
out="$(cd "$out" && pwd)"
if ! command -v chromium >/dev/null; then
    apt-get install -y chromium >/dev/null
fi
venv=/root/.cache/check-report-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'websockets>=12'
fi
cargo build --release --quiet --bin edgeprune
bin="${CARGO_TARGET_DIR:-target}/release/edgeprune"
pages=()
for program in "${programs[@]}"; do
    extra=()
    [ "$program" = reverse ] && extra=(--prune)
    "$bin" report --lib "$program" "${extra[@]}" -o "$out/$program.html" >/dev/null
    pages+=("$out/$program.html")
done
"$venv/bin/python" scripts/check_report_cdp.py "$out" "${pages[@]}"
