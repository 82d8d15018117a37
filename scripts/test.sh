#!/usr/bin/env bash
# The whole Triad test suite, as CI runs it (.ci/run calls this).
#
# Installs or builds, idempotently and pinned, what the tests need (SoftHSM2,
# btcd, Vault, geth, solc) into ${TRIAD_TOOLS_DIR:-$HOME/.cache/triad-tools}, then runs
# vet, gofmt, the race detector over the concurrent packages and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "tools"
scripts/install-softhsm.sh
scripts/install-btcd.sh
scripts/build-vault.sh
scripts/install-geth.sh
scripts/install-solc.sh
export TRIAD_REQUIRE_TOOLS=1

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...

step "race detector over concurrent code (node, api, tss, hsm; -short skips DKG runs)"
go test -race -short -count=1 -timeout 20m ./node/... ./api/... ./tss/... ./hsm/...

step "all tests"
go test -count=1 -timeout 40m ./...
