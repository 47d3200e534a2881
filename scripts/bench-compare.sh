#!/usr/bin/env bash
# Side-by-side timing of two builds of the proxy-core benches (this machine's speed drifts, so
# the two are run alternately in one session and compared as ratios). Usage:
#   scripts/bench-compare.sh OLD_BENCH_BINARY NEW_BENCH_BINARY [FILTER] [ROUNDS]
# A bench binary is what `cargo bench -p proxy-core --no-run` prints (target/release/deps/dsig-*).
# FILTER is criterion's (default: the pacs.008 verify and the 1 MB c14n); ROUNDS alternations
# (default 3). Prints each bench's median time per build and new/old.
set -euo pipefail
old=$1 new=$2 filter=${3:-'verify/pacs008_spi|c14n/one_megabyte$'} rounds=${4:-3}
out=$(mktemp -d)
for r in $(seq "$rounds"); do
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    "$bin" --bench --warm-up-time 1 --measurement-time 3 --noplot "$filter" 2>/dev/null |
      awk -v w="$which" '
        /^[a-z0-9_]+\/[a-z0-9_]+/ { name = $1 }
        /time:/ { v = $4; u = $5; f = (u == "ns") ? 1e-3 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : 1
                  print name, w, v * f }' >>"$out/times"
  done
done
awk '{ t[$1" "$2] = t[$1" "$2] " " $3 }
     END { for (k in t) print k, t[k] }' "$out/times" | sort | awk '
  function median(s,   a, n, i, j, x) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  { $1 = $1; name = $1; which = $2; $1 = ""; $2 = ""; m[name, which] = median($0); names[name] = 1 }
  END { printf "%-34s %12s %12s %8s\n", "bench (median us)", "old", "new", "new/old"
        for (n in names) printf "%-34s %12.2f %12.2f %8.3f\n", n, m[n, "old"], m[n, "new"], m[n, "new"] / m[n, "old"] }'
rm -rf "$out"
