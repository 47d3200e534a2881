#!/usr/bin/env bash
# The README's first command, run as a newcomer runs it: in a fresh Debian 12 minbase root
# (debootstrap), with this machine's Rust toolchain mounted read-only and nothing else installed,
# before any other command has run there. Passes when the command exits 0 and the demo printed
# "all steps passed". Issue 43; docs/decisions/012-first-command.md.
#
#   bash scripts/fresh-root-demo.sh [--root DIR] [--keep]
#
# Needs root (debootstrap, a private mount namespace, chroot) and the network to Debian's and the
# crate registry's mirrors, as a newcomer has. The root is made anew each run (44 s here) and the
# build inside starts from nothing (its own CARGO_HOME and target/), so nothing this machine has
# installed or built can hide a missing step. `--keep` leaves the root for a look (or for the
# second command: `chroot DIR bash -lc 'cd /src && bash .ci/run'` after the same mounts).
set -euo pipefail
cd "$(dirname "$0")/.."
root=target/fresh-root
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--root DIR] [--keep]" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then
  echo "fresh-root-demo: needs root (debootstrap, mount namespace, chroot)" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { echo "fresh-root-demo: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }

# The README's first command: the line of its first code block marked "# 1.".
first=$(awk '/^```bash/ { inblock = 1; next } /^```/ { inblock = 0 } inblock && /# 1\./ { sub(/[[:space:]]+# 1\..*/, ""); print; exit }' README.md)
[ -n "$first" ] || { echo "fresh-root-demo: no line marked '# 1.' in README.md's first code block" >&2; exit 1; }
echo "fresh-root-demo: the README's first command: $first"

rm -rf "$root"
mkdir -p "$root"
root=$(cd "$root" && pwd)
started=$(date +%s)
debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$root.debootstrap.log" 2>&1 \
  || { tail -20 "$root.debootstrap.log"; exit 1; }
echo "fresh-root-demo: Debian 12 minbase made in $(( $(date +%s) - started )) s"
# What the host's apt reaches, the root reaches the same way.
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/apt/sources.list.d/* "$root/etc/apt/sources.list.d/" 2>/dev/null || true
cp /etc/apt/apt.conf.d/99artifact-registry "$root/etc/apt/apt.conf.d/" 2>/dev/null || true
# A network that inspects TLS has its CA among the host's local ones: the root trusts it too once
# the ca-certificates package (which setup.sh installs) takes them in.
mkdir -p "$root/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true

# The project as a clone has it (tracked files only: no target/, no venv).
mkdir -p "$root/src"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$root/src"
toolchain=$(rustc --print sysroot)
mkdir -p "$root/opt/rust"

status=0
# A private mount namespace: nothing mounted here outlives the run or shows outside it.
unshare -m --propagation private bash -euo pipefail -c '
  root="$1"; toolchain="$2"; first="$3"
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mount --bind "$toolchain" "$root/opt/rust"
  mount -o remount,bind,ro "$root/opt/rust"
  exec chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CARGO_HOME=/root/.cargo CARGO_TERM_COLOR=never \
    bash -c "cd /src && $first"
' _ "$root" "$toolchain" "$first" 2>&1 | tee "$root.log" || status=$?
elapsed=$(( $(date +%s) - started ))
if [ "$status" -ne 0 ]; then
  echo "fresh-root-demo: FAILED: the README's first command exited $status in a fresh root (${elapsed} s; log $root.log)"
  exit 1
fi
if ! grep -q "all steps passed" "$root.log"; then
  echo "fresh-root-demo: FAILED: the demo did not print 'all steps passed' (log $root.log)"
  exit 1
fi
echo "fresh-root-demo: passed: the README's first command exited 0 in a fresh Debian 12 minbase, all steps passed (${elapsed} s)"
[ "$keep" = 1 ] || rm -rf "$root"
