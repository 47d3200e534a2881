#!/usr/bin/env bash
# Load test on loopback: `pix-dev serve` (simulator in-process, keys in SoftHSM when
# installed) and wrk POSTing the sample pacs.008 to the SPI port. Prints wrk's messages/s and
# latency percentiles, then the bare RSA-2048 sign rate of the same machine for comparison.
#   scripts/load.sh [SECONDS] [CONNECTIONS]      (KEYS=softhsm|software|auto, default auto)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10} conns=${2:-8}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 2; }
cargo build -q --release -p pix-dev
cargo build -q --release -p pix-xmldsig --example rsa_rate
source scripts/serve-dev.sh "${KEYS:-auto}"
head -1 "$dir/serve.log"
echo "== light load (1 connection): the proxy's own latency"
wrk -t1 -c1 -d"${secs}s" --latency -s scripts/load.lua http://127.0.0.1:9090/api/v1/in/99999010/msgs | grep -E "Latency|50%|99%|Requests/sec|Non-2xx"
echo "== saturation ($conns connections)"
wrk -t2 -c"$conns" -d"${secs}s" --latency -s scripts/load.lua http://127.0.0.1:9090/api/v1/in/99999010/msgs | grep -E "Latency|50%|99%|Requests/sec|Non-2xx"
# A pacs.002 has no answer to sign: BACEN's (the simulator's) own RSA work leaves the machine to the proxy.
echo "== saturation ($conns connections), pacs.002 (the simulator signs nothing back)"
PIX_SAMPLE=samples/pacs.002.xml wrk -t2 -c"$conns" -d"${secs}s" --latency -s scripts/load.lua http://127.0.0.1:9090/api/v1/in/99999010/msgs | grep -E "Latency|50%|99%|Requests/sec|Non-2xx"
./target/release/examples/rsa_rate
