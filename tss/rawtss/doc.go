// Package rawtss signs with tss-lib alone: the signers' parties in one
// process, messages handed over in memory, none of Triad's checks. It is
// the baseline Triad's benchmarks measure against (node's
// BenchmarkSignVsRawTSSLib, cmd/triad's liquidation storm), so that both
// measure the same floor. It is for benchmarks and tests only.
//
//	err := rawtss.Sign(shares, []string{"custodian", "exchange"}, digest)
package rawtss
