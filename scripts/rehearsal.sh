#!/usr/bin/env bash
# A homologation rehearsal: BACEN's SPI and DICT homologation roadmaps played locally through two
# proxies (each its own keys, SoftHSM when installed) against the simulator, then the capacity
# tests, with a report (docs/rehearsal.md).
#
#   scripts/rehearsal.sh [--capacity-scale F] [--out DIR] [--keys auto|soft-hsm|software] [--debug]
#
#   --capacity-scale F  share of BACEN's capacity test (default 1: 20,000 payments each way in
#                       10 minutes; 0.05: 1,000 each way in 30 s, at the same rate)
#   --out DIR           where report.md and report.html go (default target/rehearsal)
#   --debug             the debug build `cargo test` already made, instead of a release build
#
# Exits 0 only when every step passed.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=(--release)
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --debug) profile=(); shift ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
exec cargo run -q "${profile[@]}" -p pix-dev -- rehearsal "${args[@]}"
