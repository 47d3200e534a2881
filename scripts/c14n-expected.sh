#!/usr/bin/env bash
# Regenerates libxml2's exclusive c14n of the corpus (proxy-core/xmldsig/tests/c14n/): xmllint for the
# outputs with comments, lxml for those without. Needs xmllint and lxml (bash .ci/run installs
# both; lxml lives in target/ci-venv). The tests compare pixsig with them byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d target/ci-venv/bin ] && export PATH="$PWD/target/ci-venv/bin:$PATH"
command -v xmllint >/dev/null || { echo "xmllint is required (Debian libxml2-utils)" >&2; exit 1; }
python3 -c 'import lxml' 2>/dev/null || { echo "lxml is required (bash .ci/run installs it)" >&2; exit 1; }
rm -f proxy-core/xmldsig/tests/c14n/*.with-comments proxy-core/xmldsig/tests/c14n/*.without-comments
PIX_C14N_REGENERATE=1 PIX_REQUIRE_TOOLS=1 cargo test -q -p pix-xmldsig --test c14n_corpus -- matches_xmllint matches_lxml
echo "$(ls proxy-core/xmldsig/tests/c14n | wc -l) files in proxy-core/xmldsig/tests/c14n"
