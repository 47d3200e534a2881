# Sourced by the load scripts: starts `pix-dev serve` (the Fargate flavour's development set-up:
# simulator in-process) in a temporary directory with keys $1, waits until its health port
# answers, and stops it on exit. Sets $dir and $pid.
dir=$(mktemp -d)
# wrk presents no client certificate: the load scripts serve the bank's ports without caller
# authentication (said in the log); the handshake's cost is per connection, not per request.
./target/release/pix-dev serve --keys "$1" --dir "$dir" --bind 127.0.0.1 --callers-unauthenticated >"$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  curl -fs http://127.0.0.1:7070/check >/dev/null 2>&1 && break
  sleep 0.2
done
