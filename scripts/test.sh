#!/usr/bin/env bash
# The project's test command (README, .ci/run): formatting, lints, every test of the workspace, then
# the Python tests (pytest: the infrastructure's cfn-lint, checkov policies and deploy.sh; the DICT
# OpenAPI checker, scripts/dict_spec.py). Tests that need a
# reference tool (xmllint, lxml, xmlsec1, java, cfn-lint, checkov, moto, cargo-lambda) say SKIPPED when it is missing;
# with PIX_REQUIRE_TOOLS=1 (as .ci/run sets) a missing tool fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if python3 -c 'import pytest' 2>/dev/null && command -v cfn-lint >/dev/null && command -v checkov >/dev/null; then
  python3 -m pytest -q -p no:cacheprovider infrastructure/tests scripts/tests 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
elif [ "${PIX_REQUIRE_TOOLS:-}" = 1 ]; then
  echo "pytest, cfn-lint and checkov are required (PIX_REQUIRE_TOOLS=1)"; status=1
else
  echo "SKIPPED: infrastructure tests need pytest, cfn-lint and checkov (bash .ci/run installs them)"
fi
set -e
# One closing line for the whole run (cargo prints one per test binary, pytest its own).
awk '/^test result:/ { p += $4; f += $6 }
     /^[0-9]+ (passed|failed)/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
