#!/usr/bin/env bash
# Installs a pinned geth (go-ethereum) binary for the EVM end-to-end tests
# (`geth --dev` is a one-node chain).
#
# Idempotent: if the binary is already present for the pinned version it does
# nothing. Prints the directory holding the binary on stdout (last line), so
# callers can do: export TRIAD_GETH_BIN="$(scripts/install-geth.sh)/geth".
# A fresh build takes a few minutes; the result is cached outside the repository.
#
# Env:
#   TRIAD_TOOLS_DIR  tools cache root (default: $HOME/.cache/triad-tools)
set -euo pipefail

GETH_VERSION="v1.17.10"
TOOLS_DIR="${TRIAD_TOOLS_DIR:-$HOME/.cache/triad-tools}"
BIN_DIR="${TOOLS_DIR}/geth-${GETH_VERSION}"

if [[ -x "${BIN_DIR}/geth" ]]; then
  echo "geth ${GETH_VERSION} already installed" >&2
  echo "${BIN_DIR}"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "install-geth: go not found in PATH" >&2; exit 1; }

mkdir -p "${TOOLS_DIR}"
tmp_bin="$(mktemp -d "${TOOLS_DIR}/geth-build.XXXXXX")"
work="$(mktemp -d)"
trap 'rm -rf "${work}" "${tmp_bin}"' EXIT
echo "installing geth ${GETH_VERSION} into ${BIN_DIR}" >&2
# Run outside any module so the project's go.mod is neither read nor touched.
cd "${work}"
GOBIN="${tmp_bin}" go install "github.com/ethereum/go-ethereum/cmd/geth@${GETH_VERSION}"
"${tmp_bin}/geth" version >&2
# Move into place only when complete, so an interrupted build is never mistaken for an install.
rm -rf "${BIN_DIR}"
mv "${tmp_bin}" "${BIN_DIR}"
echo "${BIN_DIR}"
