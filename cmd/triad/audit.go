package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
	"github.com/triad-custody/triad/custody/store"
)

func init() { addCommand(newAuditCmd) }

func newAuditCmd() *cobra.Command {
	ac := &cobra.Command{Use: "audit", Short: "Check the audit chain"}

	var f clientFlags
	var dbFile string
	verify := &cobra.Command{
		Use:   "verify [-c CONFIG | --api ADDR | --db FILE]",
		Short: "Verify a node's audit hash chain, record by record",
		Long: `Fetches every audit record from the running node (or reads a stopped node's
store file with --db) and checks the chain here: sequence, links and hashes.
It names the first record that was altered, removed or reordered.

  triad audit verify -c regulator.yaml
  triad audit verify --db data/custodian/custody.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var recs []audit.Record
			var head audit.Head
			var err error
			if dbFile != "" {
				recs, head, err = readStoreChain(dbFile)
			} else {
				recs, head, err = fetchChain(&f)
			}
			if err != nil {
				return err
			}
			return reportChain(cmd.OutOrStdout(), recs, head)
		},
	}
	f.register(verify, "auditor")
	verify.Flags().StringVar(&dbFile, "db", "", "a stopped node's custody store file")

	var rf clientFlags
	reconcile := &cobra.Command{
		Use:   "reconcile [-c CONFIG]",
		Short: "Reconcile this node's shared audit facts with each peer's now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := rf.client()
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(2 * time.Minute)
			defer cancel()
			var res api.ReconcileResponse
			if err := cl.Do(ctx, "POST", "/v1/audit/reconcile", nil, &res); err != nil {
				return err
			}
			bad := 0
			for _, r := range res.Results {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok=%v compared=%d mismatches=%d %s%s%s\n", r.Peer, r.OK, r.Compared, len(r.Mismatches), r.Error, r.Local, r.Remote)
				for _, m := range r.Mismatches {
					fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", m)
				}
				if !r.OK {
					bad++
				}
			}
			if bad > 0 {
				return fmt.Errorf("%d peer(s) disagree", bad)
			}
			return nil
		},
	}
	rf.register(reconcile, "auditor")
	ac.AddCommand(verify, reconcile)
	return ac
}

func fetchChain(f *clientFlags) ([]audit.Record, audit.Head, error) {
	cl, err := f.client()
	if err != nil {
		return nil, audit.Head{}, err
	}
	ctx, cancel := withTimeout(2 * time.Minute)
	defer cancel()
	var all []audit.Record
	var head audit.Head
	for from := uint64(1); ; {
		var page api.AuditRecords
		if err := cl.Do(ctx, "GET", fmt.Sprintf("/v1/audit/records?from=%d&limit=5000", from), nil, &page); err != nil {
			return nil, head, err
		}
		if from == 1 {
			head = page.Head // the chain may grow while we page; check up to this head
		}
		all = append(all, page.Records...)
		if len(page.Records) < 5000 || uint64(len(all)) >= head.Seq {
			break
		}
		from = page.Records[len(page.Records)-1].Seq + 1
	}
	if uint64(len(all)) > head.Seq {
		all = all[:head.Seq]
	}
	return all, head, nil
}

func readStoreChain(path string) ([]audit.Record, audit.Head, error) {
	st, err := store.Open(path, custody.Custodian) // the party does not matter for reading the chain
	if err != nil {
		return nil, audit.Head{}, userErr("opening %s (is its node still running? then verify through its API): %v", path, err)
	}
	defer st.Close()
	recs, err := st.Audit().Records(1, 0)
	if err != nil {
		return nil, audit.Head{}, err
	}
	head, err := st.Audit().Head()
	return recs, head, err
}

func reportChain(w io.Writer, recs []audit.Record, head audit.Head) error {
	if err := audit.Verify(recs); err != nil {
		return fmt.Errorf("audit chain broken: %w", err)
	}
	if got := audit.HeadOf(audit.GenesisHead(), recs); got != head {
		return fmt.Errorf("audit chain broken: its head is %d/%.12s but the records end at %d/%.12s", head.Seq, head.Hash, got.Seq, got.Hash)
	}
	fmt.Fprintf(w, "audit chain OK: %d records, head %d/%s\n", len(recs), head.Seq, head.Hash)
	return nil
}
