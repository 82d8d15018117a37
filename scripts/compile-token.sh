#!/usr/bin/env bash
# Compiles the EVM tests' token contract with the pinned solc (npm solc-js,
# scripts/install-solc.sh) into a JSON artifact: compiler version, the
# source's SHA-256, ABI and creation bytecode.
#
# Usage: scripts/compile-token.sh [OUT]   (default: custody/evm/gethtest/TestToken.json)
# The artifact is committed; gethtest's TestArtifactMatchesSource recompiles
# and compares, so an edited source without a recompiled artifact fails.
set -euo pipefail
cd "$(dirname "$0")/.."

SRC="custody/evm/gethtest/TestToken.sol"
OUT="${1:-custody/evm/gethtest/TestToken.json}"
SOLC_DIR="$(scripts/install-solc.sh | tail -n 1)"

node - "${SOLC_DIR}" "${SRC}" "${OUT}" <<'JS'
const fs = require('fs');
const crypto = require('crypto');
const [solcDir, src, out] = process.argv.slice(2);
const solc = require(solcDir);
const source = fs.readFileSync(src, 'utf8');
const input = {
  language: 'Solidity',
  sources: { 'TestToken.sol': { content: source } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    metadata: { bytecodeHash: 'none' },
    outputSelection: { '*': { TestToken: ['abi', 'evm.bytecode.object'] } },
  },
};
const res = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (res.errors || []).filter((e) => e.severity === 'error');
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const c = res.contracts['TestToken.sol'].TestToken;
const artifact = {
  contract: 'TestToken',
  compiler: 'solc-js ' + solc.version(),
  source_sha256: crypto.createHash('sha256').update(source).digest('hex'),
  abi: c.abi,
  bytecode: '0x' + c.evm.bytecode.object,
};
fs.writeFileSync(out, JSON.stringify(artifact, null, 2) + '\n');
JS
echo "${OUT}"
