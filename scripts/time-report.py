#!/usr/bin/env python3
"""Wall time of whole `edgeprune report --lib P -o FILE` processes against issue 14's 100 ms goal.

Usage: python3 scripts/time-report.py [PROGRAM ...]   (default: every library program)
Build first (`cargo build --release`) and run on an idle machine (check `uptime`). Prints the best of
5 runs per program, slowest first, the page size, and how many programs are within 100 ms.
"""
import os
import subprocess
import sys
import tempfile
import time

BINARY = "target/release/edgeprune"
RUNS = 5
GOAL_MS = 100.0


def main() -> int:
    if not os.path.exists(BINARY):
        print(f"{BINARY} not found: run `cargo build --release` in the repository root first", file=sys.stderr)
        return 2
    programs = sys.argv[1:] or sorted(f[:-5] for f in os.listdir("tracr/lib") if f.endswith(".rasp"))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for program in programs:
            page = os.path.join(scratch, f"{program}.html")
            best = float("inf")
            for _ in range(RUNS):
                started = time.perf_counter()
                done = subprocess.run([BINARY, "report", "--lib", program, "-o", page],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                elapsed = time.perf_counter() - started
                if done.returncode != 0:
                    print(f"{program}: report failed: {done.stderr.strip()}", file=sys.stderr)
                    return 1
                best = min(best, elapsed)
            rows.append((best * 1000.0, program, os.path.getsize(page)))
    rows.sort(reverse=True)
    for ms, program, size in rows:
        print(f"{program:32s} {ms:7.1f} ms  {size / 1e6:.2f} MB")
    met = sum(1 for ms, _, _ in rows if ms <= GOAL_MS)
    print(f"slowest {rows[0][1]} {rows[0][0]:.1f} ms; {met} of {len(rows)} within {GOAL_MS:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
