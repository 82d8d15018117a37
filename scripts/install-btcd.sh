#!/usr/bin/env bash
# Installs pinned btcd and btcctl binaries for custody/btc end-to-end tests.
#
# Idempotent: if both binaries are already present for the pinned version it
# does nothing. Prints the directory holding the binaries on stdout (last line),
# so callers can do: export TRIAD_BTCD_BIN="$(scripts/install-btcd.sh)/btcd".
#
# Env:
#   TRIAD_TOOLS_DIR  tools cache root (default: $HOME/.cache/triad-tools)
set -euo pipefail

BTCD_VERSION="v0.24.2"
TOOLS_DIR="${TRIAD_TOOLS_DIR:-$HOME/.cache/triad-tools}"
BIN_DIR="${TOOLS_DIR}/btcd-${BTCD_VERSION}"

if [[ -x "${BIN_DIR}/btcd" && -x "${BIN_DIR}/btcctl" ]]; then
  echo "btcd ${BTCD_VERSION} already installed" >&2
  echo "${BIN_DIR}"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "install-btcd: go not found in PATH" >&2; exit 1; }

mkdir -p "${BIN_DIR}"
echo "installing btcd ${BTCD_VERSION} into ${BIN_DIR}" >&2
# Run outside any module so the project's go.mod is neither read nor touched.
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
cd "${work}"
GOBIN="${BIN_DIR}" go install \
  "github.com/btcsuite/btcd@${BTCD_VERSION}" \
  "github.com/btcsuite/btcd/cmd/btcctl@${BTCD_VERSION}"

"${BIN_DIR}/btcd" --version >&2
echo "${BIN_DIR}"
