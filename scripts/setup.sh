#!/usr/bin/env bash
# Installs what a build of this workspace needs besides the Rust toolchain, when it is missing:
# the Debian/Ubuntu packages of scripts/build-deps.txt (the one list; docs/decisions/012-first-command.md).
# Idempotent and non-interactive: a second run installs nothing and says so. As root it runs
# apt-get itself; otherwise through `sudo -n` (never a password prompt), and where neither can,
# it prints the one command to run and fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$here/build-deps.txt")

installed() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'; }

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  echo "setup: not a Debian-based system (no dpkg/apt-get). Install the equivalents of these, then run cargo:" >&2
  echo "  ${wanted[*]}" >&2
  exit 1
fi
missing=()
for package in "${wanted[@]}"; do
  installed "$package" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: the build's packages are installed (scripts/build-deps.txt)"
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "setup: these packages are missing and installing them needs root: ${missing[*]}" >&2
  echo "  sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "setup: installing (apt-get): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
