#!/usr/bin/env bash
# The proxy's added latency at a fixed rate (open loop): the same pacs.002 sent at RATE/s for
# SECONDS straight to the simulator (mTLS, pre-signed) and through the proxy (which signs it, keeps
# an mTLS pool, verifies nothing for a 201 with no body, and fsyncs the audit record).
#   scripts/latency.sh [RATE] [SECONDS]      (software keys; default 500/s, 10 s)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-500} secs=${2:-10}
cargo build -q --release -p pix-dev && cargo build -q --release -p pix-dev --example fixed_rate
source scripts/serve-dev.sh software
sim=$(grep -o 'BACEN simulator SPI [0-9.:]*' "$dir/serve.log" | awk '{print $4}')
./target/release/examples/fixed_rate direct "$sim" "$rate" "$secs" samples/pacs.002.xml "$dir/pki"
./target/release/examples/fixed_rate proxy 127.0.0.1:9090 "$rate" "$secs" samples/pacs.002.xml
