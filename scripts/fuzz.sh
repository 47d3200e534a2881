#!/usr/bin/env bash
# Fuzzes pix-xmldsig and proxy-core on stable Rust: libFuzzer (libfuzzer-sys) with SanitizerCoverage
# instrumentation, no nightly flag. Usage:
#   scripts/fuzz.sh [--seconds N] [--merge] [TARGET...]     (default: 60 s each, every target)
# Targets (fuzz/fuzz_targets/): parse (with quick-xml as a differential oracle), c14n (the copy
# shortcut against the general writer), verify (both profiles), bodies (gzip, multipart).
# Inputs that found new paths go to target/fuzz/corpus/TARGET; --merge folds them, minimized,
# into the small corpus kept in the repo (fuzz/corpus/TARGET). A crash, hang or difference
# leaves its input in target/fuzz/artifacts/TARGET and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60 merge=0 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --merge) merge=1; shift ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -eq 0 ] && targets=(parse c14n verify bodies)
# What cargo-fuzz passes, less the sanitizer (which needs nightly): coverage-guided, with
# comparisons traced, debug assertions and overflow checks on.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR="$PWD/target/fuzz"
# An explicit target keeps the flags off build scripts and proc macros (as cargo-fuzz does).
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --manifest-path fuzz/Cargo.toml --bins --target "$host"
bin="target/fuzz/$host/release"
status=0
for t in "${targets[@]}"; do
  found="target/fuzz/corpus/$t" artifacts="target/fuzz/artifacts/$t/"
  mkdir -p "$found" "$artifacts" "fuzz/corpus/$t"
  echo "fuzz: $t for ${seconds}s"
  if ! "$bin/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$artifacts" -print_final_stats=1 "$found" "fuzz/corpus/$t" 2>"target/fuzz/$t.log"; then
    status=1
    echo "fuzz: $t FAILED (input in $artifacts):"
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "target/fuzz/$t.log" | head -20
  fi
  grep -E '^stat::number_of_executed_units|^Done' "target/fuzz/$t.log" | tail -2 || true
  if [ "$merge" = 1 ]; then
    "$bin/$t" -merge=1 "fuzz/corpus/$t" "$found" 2>/dev/null
  fi
done
exit $status
