#!/usr/bin/env bash
# Installs the pinned solc compiler (the `solc` npm package, solc-js) that
# compiles the EVM tests' token contract (scripts/compile-token.sh).
#
# Idempotent: if the package is already present for the pinned version it
# does nothing. Prints the directory holding solc.js on stdout (last line).
#
# Env:
#   TRIAD_TOOLS_DIR  tools cache root (default: $HOME/.cache/triad-tools)
set -euo pipefail

SOLC_VERSION="0.8.37"
TOOLS_DIR="${TRIAD_TOOLS_DIR:-$HOME/.cache/triad-tools}"
DIR="${TOOLS_DIR}/solc-${SOLC_VERSION}"
SOLC_DIR="${DIR}/node_modules/solc"

if [[ -f "${SOLC_DIR}/solc.js" ]]; then
  echo "solc ${SOLC_VERSION} already installed" >&2
  echo "${SOLC_DIR}"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  # A fresh machine may lack Node.js: take it from Debian, as install-softhsm.sh does SoftHSM2.
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then command -v sudo >/dev/null && SUDO="sudo"; fi
  command -v apt-get >/dev/null 2>&1 || { echo "install-solc: npm not found in PATH and no apt-get to install it" >&2; exit 1; }
  echo "install-solc: installing nodejs and npm (Debian packages)" >&2
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >&2
fi

mkdir -p "${TOOLS_DIR}"
tmp="$(mktemp -d "${TOOLS_DIR}/solc-build.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT
echo "installing solc ${SOLC_VERSION} (npm) into ${DIR}" >&2
npm install --prefix "${tmp}" --no-audit --no-fund --ignore-scripts "solc@${SOLC_VERSION}" >&2
got="$(node -e 'console.log(require(process.argv[1]).version())' "${tmp}/node_modules/solc/index.js")"
case "${got}" in
  "${SOLC_VERSION}+"*) ;;
  *) echo "install-solc: installed solc reports ${got}, want ${SOLC_VERSION}" >&2; exit 1 ;;
esac
# Move into place only when complete, so an interrupted install is never mistaken for one.
rm -rf "${DIR}"
mv "${tmp}" "${DIR}"
echo "${SOLC_DIR}"
