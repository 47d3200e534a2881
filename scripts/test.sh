#!/usr/bin/env bash
# The project's test command (README, .ci/run): formatting, lints, then every test of the workspace.
# Tests that need a reference tool (xmllint, lxml, xmlsec1, java) say SKIPPED when it is missing;
# with PIX_REQUIRE_TOOLS=1 (as .ci/run sets) a missing tool fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --all-targets
