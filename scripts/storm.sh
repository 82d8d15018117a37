#!/usr/bin/env bash
# The liquidation storm benchmark (issue 9): three `triad node run`
# processes and a regtest btcd; N accounts funded on their own child
# addresses; N liquidations from 64 concurrent margin-engine clients plus
# repeats of earlier idempotency keys; every payment checked on btcd; the
# drain compared with raw tss-lib for as many signatures, same machine,
# same run. Prints the markdown table (also written to $TRIAD_STORM_REPORT,
# default storm-report.md) and exits non-zero unless every liquidation was
# paid on chain exactly once.
#
#   scripts/storm.sh                  # N=300, 64 clients, 30 repeats
#   TRIAD_STORM_N=50 scripts/storm.sh # smaller
#
# Needs btcd (scripts/install-btcd.sh installs it, pinned).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-btcd.sh >/dev/null
export TRIAD_REQUIRE_TOOLS=1 TRIAD_STORM=1
export TRIAD_STORM_REPORT="${TRIAD_STORM_REPORT:-$PWD/storm-report.md}"
rm -f "$TRIAD_STORM_REPORT"
status=0
go test ./cmd/triad -run '^TestLiquidationStorm$' -count=1 -v -timeout 60m || status=$?
if [ -f "$TRIAD_STORM_REPORT" ]; then
  printf '\n%s\n' "$(cat "$TRIAD_STORM_REPORT")"
fi
exit "$status"
