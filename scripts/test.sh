#!/usr/bin/env bash
# The project's test command (README, .ci/run): formatting, lints, then every test of the workspace.
# Tests that need a reference tool (xmllint, lxml, xmlsec1, java) say SKIPPED when it is missing;
# with PIX_REQUIRE_TOOLS=1 (as .ci/run sets) a missing tool fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --all-targets 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole workspace (cargo prints one per test binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
