#!/usr/bin/env bash
# Side-by-side timing of two builds of the pix-xmldsig benches (this machine's speed drifts, so
# the two are run alternately in one session and compared as ratios). Usage:
#   scripts/bench-compare.sh OLD_BENCH_BINARY NEW_BENCH_BINARY [FILTER] [ROUNDS]
# A bench binary is what `cargo bench -p pix-xmldsig --no-run` prints (target/release/deps/dsig-*).
# FILTER is criterion's (default: the pacs.008 verify and the 1 MB c14n); ROUNDS alternations
# (default 5). Prints each bench's best time per build (the least disturbed of the alternated
# runs: this VM's neighbours steal CPU in bursts, which only ever adds time) and new/old.
set -euo pipefail
old=$1 new=$2 filter=${3:-'verify/pacs008_spi|c14n/one_megabyte$'} rounds=${4:-5}
out=$(mktemp -d)
for r in $(seq "$rounds"); do
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    "$bin" --bench --warm-up-time 1 --measurement-time 2 --noplot --discard-baseline "$filter" 2>/dev/null |
      awk -v w="$which" '
        /^[a-z0-9_]+\/[a-z0-9_]+/ { name = $1 }
        /time:/ { for (i = 1; i <= NF; i++) if ($i == "time:") break
                  v = $(i + 3); u = $(i + 4)
                  if (u !~ /^(ns|µs|us|ms|s)$/) next   # the "change:" line that follows
                  f = (u == "ns") ? 1e-3 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : 1
                  print name, w, v * f }' >>"$out/times"
  done
done
awk '{ t[$1" "$2] = t[$1" "$2] " " $3 }
     END { for (k in t) print k, t[k] }' "$out/times" | sort | awk '
  function best(s,   a, n, i, b) { n = split(s, a, " "); b = a[1]; for (i = 2; i <= n; i++) if (a[i] < b) b = a[i]; return b }
  { $1 = $1; name = $1; which = $2; $1 = ""; $2 = ""; m[name, which] = best($0); names[name] = 1 }
  END { printf "%-34s %12s %12s %8s\n", "bench (best us)", "old", "new", "new/old"
        for (n in names) printf "%-34s %12.2f %12.2f %8.3f\n", n, m[n, "old"], m[n, "new"], m[n, "new"] / m[n, "old"] }'
rm -rf "$out"
