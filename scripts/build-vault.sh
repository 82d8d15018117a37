#!/usr/bin/env bash
# build-vault.sh — build a pinned HashiCorp Vault server for Triad's hsm tests.
#
# Idempotent: if the binary already exists and runs, it only prints its path.
# The binary lives OUTSIDE the repository:
#   ${TRIAD_TOOLS_DIR:-$HOME/.cache/triad-tools}/vault-1.17.6/vault
# Recipe (see shared/VAULT.md): a throw-away module whose go.mod is Vault's own
# v1.17.6 go.mod, with the module line renamed, the local `=> ./...` replaces
# removed and `require github.com/hashicorp/vault v1.17.6` added; then
#   GOFLAGS=-mod=mod go build -tags minimal github.com/hashicorp/vault
# First build: ~12 minutes on 2 cores, ~6.5 GB of module + build cache.
# Concurrent runs are serialised with flock on a lock file in the tools dir.
# The last line printed on stdout is the binary path; progress goes to stderr.
set -euo pipefail

VAULT_VERSION=1.17.6
TOOLS_DIR="${TRIAD_TOOLS_DIR:-$HOME/.cache/triad-tools}"
DEST_DIR="$TOOLS_DIR/vault-$VAULT_VERSION"
BIN="$DEST_DIR/vault"

log() { echo "build-vault: $*" >&2; }

usable() { [[ -x "$BIN" ]] && "$BIN" version 2>/dev/null | grep -q "v$VAULT_VERSION"; }

if usable; then
	echo "$BIN"
	exit 0
fi

command -v go >/dev/null || { log "go is not on PATH"; exit 1; }
mkdir -p "$DEST_DIR"

# Serialise builds: a second caller waits for the first and then finds the binary.
exec 9>"$DEST_DIR/.build.lock"
if ! flock -n 9; then
	log "another build holds $DEST_DIR/.build.lock; waiting"
	flock 9
fi
if usable; then
	echo "$BIN"
	exit 0
fi

WORK="$(mktemp -d "$DEST_DIR/build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" # outside any other module, so no go.mod but ours is touched

log "fetching vault v$VAULT_VERSION go.mod"
GOMOD_PATH="$(GOFLAGS= go mod download -json "github.com/hashicorp/vault@v$VAULT_VERSION" |
	sed -n 's/^[[:space:]]*"GoMod":[[:space:]]*"\(.*\)",\{0,1\}$/\1/p')"
[[ -f "$GOMOD_PATH" ]] || { log "could not locate vault's go.mod (got '$GOMOD_PATH')"; exit 1; }

# Rename the module, drop local-folder replaces, depend on vault itself.
sed -e 's|^module github.com/hashicorp/vault$|module triad.local/vaultbuild|' \
	-e '/^replace .*=> \.\{1,2\}\//d' \
	"$GOMOD_PATH" >go.mod
printf '\nrequire github.com/hashicorp/vault v%s\n' "$VAULT_VERSION" >>go.mod
grep -q '^module triad.local/vaultbuild$' go.mod || { log "unexpected go.mod layout"; exit 1; }

start=$(date +%s)
log "building (first time: ~12 min, ~6.5 GB of caches)"
GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local \
	go build -trimpath -tags minimal -o "$WORK/vault" github.com/hashicorp/vault
mv -f "$WORK/vault" "$BIN.tmp"
mv -f "$BIN.tmp" "$BIN"
log "built in $(($(date +%s) - start))s"

usable || { log "built binary does not report v$VAULT_VERSION"; exit 1; }
echo "$BIN"
