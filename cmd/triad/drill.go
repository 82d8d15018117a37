package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/spf13/cobra"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/api"
	"github.com/triad-custody/triad/recovery"
	"github.com/triad-custody/triad/tss"
)

// Drill exit codes: 0 the drill passed, 1 it failed (or a usage
// mistake), 2 it could not run.

// drillFlags are shared by the drills that talk to the cluster.
type drillFlags struct {
	configs   []string
	keyID     string
	reportDir string
}

func (f *drillFlags) register(c *cobra.Command) {
	c.Flags().StringArrayVarP(&f.configs, "config", "c", nil, "a node's config file (once per node; admin token from its credentials)")
	c.Flags().StringVar(&f.keyID, "key-id", "", "canary key to drill with")
	c.Flags().StringVar(&f.reportDir, "report-dir", ".", "where to write the drill report (JSON and Markdown)")
}

// drill is one drill run against the cluster.
type drill struct {
	f       *drillFlags
	out     io.Writer
	d       *recovery.Drill
	kind    string
	id      string
	clients map[string]*client
	cfgs    map[string]*node.Config
	paths   map[string]string // party → config file
	pub     string            // group key seen so far
}

func newDrill(out io.Writer, f *drillFlags, kind string) (*drill, error) {
	if len(f.configs) == 0 {
		return nil, userErr("give each node's config with --config (at least one)")
	}
	id := time.Now().UTC().Format("20060102T150405Z") + "-" + recovery.NewNonce()[:6]
	dr := &drill{f: f, out: out, kind: kind, id: id, d: recovery.NewDrill(kind, id, nil),
		clients: map[string]*client{}, cfgs: map[string]*node.Config{}, paths: map[string]string{}}
	nodes, err := adminNodes(f.configs)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.err != nil {
			// A node that is down has no api.addr: the drill records it.
			fmt.Fprintf(out, "  note: %s: %v\n", n.cfg.Party, n.err)
		} else {
			dr.clients[n.cfg.Party] = n.cl
		}
		dr.cfgs[n.cfg.Party] = n.cfg
		dr.paths[n.cfg.Party] = n.path
	}
	if f.keyID != "" {
		dr.d.Param("key_id", f.keyID)
		if err := dr.checkCanary(); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(out, "drill %s %s\n", kind, id)
	return dr, nil
}

// checkCanary refuses to drill with a key any node's policy does not list
// as a canary key: drills never touch custody keys.
func (dr *drill) checkCanary() error {
	for p, cfg := range dr.cfgs {
		if err := custody.CheckRawDigest(cfg.Policy, dr.f.keyID); err != nil {
			return userErr("%s: %s is not a canary key in %s's policy: %v", dr.f.keyID, dr.f.keyID, p, err)
		}
	}
	return nil
}

// step runs and prints one drill step.
func (dr *drill) step(name string, f func() (string, error)) bool {
	fmt.Fprintf(dr.out, "  ... %s\n", name)
	st := dr.d.Step(name).End(f())
	mark := "ok  "
	if !st.OK {
		mark = "FAIL"
	}
	line := fmt.Sprintf("  %s %s (%s)", mark, st.Name, time.Duration(st.DurationMS)*time.Millisecond)
	if st.Detail != "" {
		line += ": " + st.Detail
	}
	if st.Error != "" {
		line += ": " + st.Error
	}
	fmt.Fprintln(dr.out, line)
	return st.OK
}

// canary has coord sign the drill message of a fresh nonce with partner
// and verifies the signature, over the digest computed here, under the
// group key.
func (dr *drill) canary(coord, partner string) (string, error) {
	cl, ok := dr.clients[coord]
	if !ok {
		return "", fmt.Errorf("%s's API is not reachable", coord)
	}
	// The drill message of a fresh nonce: every signer recomputes its digest.
	nonce := "drill-" + dr.id + "-" + coord + "-" + partner
	d, err := custody.DrillDigest(nonce)
	if err != nil {
		return "", err
	}
	req := api.CanarySignRequest{KeyID: dr.f.keyID, Nonce: nonce, Partner: partner}
	ctx, cancel := withTimeout(2 * time.Minute)
	defer cancel()
	var res api.CanarySignResponse
	if err := cl.do(ctx, "POST", "/v1/recovery/canary-sign", req, &res); err != nil {
		return "", err
	}
	if err := verifyCanary(res, d); err != nil {
		return "", err
	}
	if dr.pub != "" && res.PublicKey != dr.pub {
		return "", fmt.Errorf("signed under %s, expected the group key %s", res.PublicKey, dr.pub)
	}
	dr.pub = res.PublicKey
	signers := append([]string(nil), res.Signers...)
	sort.Strings(signers)
	want := []string{coord, partner}
	sort.Strings(want)
	if strings.Join(signers, "+") != strings.Join(want, "+") {
		return "", fmt.Errorf("signed by %v, not %v: the pair could not sign (the node failed over)", signers, want)
	}
	return fmt.Sprintf("signature by %s verified under %s", strings.Join(signers, "+"), res.PublicKey[:16]+"…"), nil
}

func verifyCanary(res api.CanarySignResponse, digest [32]byte) error {
	pb, err := hex.DecodeString(res.PublicKey)
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	pub, err := btcec.ParsePubKey(pb)
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	rb, err1 := hex.DecodeString(res.R)
	sb, err2 := hex.DecodeString(res.S)
	if err1 != nil || err2 != nil {
		return errors.New("signature is not hex")
	}
	sig := tss.Signature{R: new(big.Int).SetBytes(rb), S: new(big.Int).SetBytes(sb), Digest: digest}
	if !sig.Verify(pub) {
		return errors.New("signature does NOT verify under the group key")
	}
	return nil
}

// finish has every reachable node record the report on its audit chain
// and sign it (the participants first, then any other reachable node, so
// that the drill lands on every chain it can), writes it and maps the
// verdict to an exit code.
func (dr *drill) finish(participants []string) error {
	rep := dr.d.Finish()
	var signed []string
	order := append([]string(nil), participants...)
	for _, p := range drillParties {
		if !drillContains(order, p) {
			order = append(order, p)
		}
	}
	for _, p := range order {
		cl, ok := dr.clients[p]
		if !ok {
			continue
		}
		ctx, cancel := withTimeout(30 * time.Second)
		var a recovery.Attestation
		err := cl.do(ctx, "POST", "/v1/recovery/attest", rep, &a)
		cancel()
		if err == nil {
			err = rep.Attest(a)
		}
		if err != nil {
			fmt.Fprintf(dr.out, "  note: %s did not record and sign the report: %v\n", p, err)
			continue
		}
		signed = append(signed, p)
	}
	if err := os.MkdirAll(dr.f.reportDir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(dr.f.reportDir, "drill-"+dr.kind+"-"+dr.id)
	if err := hsm.WriteFileAtomic(base+".json", rep.JSON(), 0o644); err != nil {
		return err
	}
	if err := hsm.WriteFileAtomic(base+".md", []byte(rep.Markdown()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(dr.out, "report: %s.json (recorded on the audit chain and signed by %s), %s.md\n", base, strings.Join(signed, ", "), base)
	fmt.Fprintf(dr.out, "verdict: %s\n", strings.ToUpper(rep.Verdict))
	if rep.Verdict != recovery.Pass {
		return userErr("drill %s failed", dr.kind)
	}
	return nil
}

var drillParties = node.DefaultParties

func init() {
	dc := &cobra.Command{
		Use:   "drill",
		Short: "Rehearse recovery against a live cluster with canary keys",
		Long: `Drills are safe against a live cluster: canary keys sign drill messages (SHA-256 of a
fixed tag and a nonce, recomputed by every signer; every node's policy refuses the raw
path for custody keys and for any other digest), never a production transaction. Each prints its steps, writes a report (JSON and Markdown) signed by the
participating nodes, and exits 0 when it passed, 1 when it failed, 2 when it could not run.

Example:
  triad drill all-pairs --key-id canary-1 -c configs/custodian.yaml -c configs/exchange.yaml -c configs/regulator.yaml
  triad drill verify drill-all-pairs-20260101T000000Z-abcdef.json -c configs/regulator.yaml`,
	}

	var nl drillFlags
	var lost string
	nodeLoss := &cobra.Command{
		Use:   "node-loss --party P --key-id K -c CONFIG...",
		Short: "The two parties other than P sign a canary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !drillContains(drillParties, lost) || nl.keyID == "" {
				return userErr("--party must be one of %v and --key-id is required", drillParties)
			}
			dr, err := newDrill(cmd.OutOrStdout(), &nl, "node-loss")
			if err != nil {
				return err
			}
			dr.d.Param("lost_party", lost)
			var rest []string
			for _, p := range drillParties {
				if p != lost {
					rest = append(rest, p)
				}
			}
			if _, ok := dr.clients[rest[0]]; !ok {
				rest[0], rest[1] = rest[1], rest[0]
			}
			if len(dr.clients) == 0 {
				return errors.New("no node's API is reachable: the drill could not run")
			}
			dr.step(fmt.Sprintf("%s treated as lost; %s and %s remain", lost, rest[0], rest[1]), func() (string, error) { return "", nil })
			dr.step(fmt.Sprintf("%s+%s sign a canary", rest[0], rest[1]), func() (string, error) { return dr.canary(rest[0], rest[1]) })
			return dr.finish(rest)
		},
	}
	nl.register(nodeLoss)
	nodeLoss.Flags().StringVar(&lost, "party", "", "the party whose node is treated as lost")

	var ap drillFlags
	allPairs := &cobra.Command{
		Use:   "all-pairs --key-id K -c CONFIG...",
		Short: "Each of the three pairs signs a canary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ap.keyID == "" {
				return userErr("--key-id is required")
			}
			dr, err := newDrill(cmd.OutOrStdout(), &ap, "all-pairs")
			if err != nil {
				return err
			}
			if len(dr.clients) == 0 {
				return errors.New("no node's API is reachable: the drill could not run")
			}
			for _, pair := range [][2]string{{"custodian", "exchange"}, {"custodian", "regulator"}, {"exchange", "regulator"}} {
				a, b := pair[0], pair[1]
				if _, ok := dr.clients[a]; !ok {
					a, b = b, a
				}
				dr.step(fmt.Sprintf("%s+%s sign a canary", pair[0], pair[1]), func() (string, error) { return dr.canary(a, b) })
			}
			return dr.finish(drillParties)
		},
	}
	ap.register(allPairs)

	var us drillFlags
	unseal := &cobra.Command{
		Use:   "unseal -c CONFIG...",
		Short: "Each node proves it can unseal its shards (public data only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dr, err := newDrill(cmd.OutOrStdout(), &us, "unseal")
			if err != nil {
				return err
			}
			if len(dr.clients) == 0 {
				return errors.New("no node's API is reachable: the drill could not run")
			}
			views := map[string]map[string]string{} // key → party → view
			for _, p := range drillParties {
				if _, ok := dr.cfgs[p]; !ok {
					continue
				}
				dr.step(p+" unseals its shards", func() (string, error) {
					cl, ok := dr.clients[p]
					if !ok {
						return "", fmt.Errorf("%s's API is not reachable", p)
					}
					ctx, cancel := withTimeout(time.Minute)
					defer cancel()
					var res api.UnsealCheckResponse
					if err := cl.do(ctx, "GET", "/v1/recovery/unseal-check", nil, &res); err != nil {
						return "", err
					}
					var ok2 []string
					for _, k := range res.Keys {
						if k.Error != "" {
							return "", fmt.Errorf("%s: %s", k.KeyID, k.Error)
						}
						if k.PendingView != "" {
							return "", fmt.Errorf("%s: a reshare is undecided here (pending share %.16s…): run `triad reshare resolve`", k.KeyID, k.PendingView)
						}
						if views[k.KeyID] == nil {
							views[k.KeyID] = map[string]string{}
						}
						views[k.KeyID][p] = k.PublicKey + "/" + k.View
						ok2 = append(ok2, k.KeyID)
					}
					return fmt.Sprintf("%d shard(s) unsealed with %s: %s", len(ok2), res.HSM, strings.Join(ok2, ", ")), nil
				})
			}
			dr.step("every node holds the same public view of each key", func() (string, error) {
				for k, byParty := range views {
					var first string
					for p, v := range byParty {
						if first == "" {
							first = v
						} else if v != first {
							return "", fmt.Errorf("key %s: %s's view differs", k, p)
						}
					}
				}
				return fmt.Sprintf("%d key(s) consistent", len(views)), nil
			})
			return dr.finish(drillParties)
		},
	}
	us.register(unseal)

	var rs drillFlags
	var spec string
	var approvals []string
	reshare := &cobra.Command{
		Use:   "reshare --key-id K --spec FILE --approval FILE --approval FILE -c CONFIG...",
		Short: "A full reshare of a canary key to a fresh node, then every pair signs",
		Long: `Start the fresh node first ('triad init' gives it a new identity), write and approve a
spec for the canary key ('triad reshare spec', 'triad reshare approve'), then run this.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := loadOrder(spec, approvals)
			if err != nil {
				return err
			}
			rs.keyID = o.Spec.KeyID
			dr, err := newDrill(cmd.OutOrStdout(), &rs, "reshare")
			if err != nil {
				return err
			}
			dr.d.Param("replace", o.Spec.Replace)
			dr.d.Param("new_peer_id", o.Spec.NewPeerID)
			var coord string
			for _, p := range drillParties {
				if _, ok := dr.clients[p]; ok && p != o.Spec.Replace && coord == "" {
					coord = p
				}
			}
			if coord == "" {
				return errors.New("no surviving node's API is reachable: the drill could not run")
			}
			dr.pub = o.Spec.PublicKey
			ok := dr.step("reshare "+o.Spec.KeyID+" to the fresh "+o.Spec.Replace, func() (string, error) {
				res, err := runReshare(dr.out, "      ", dr.clients[coord], o)
				if err != nil {
					return "", err
				}
				return fmt.Sprintf("coordinated by %s in %s; public key unchanged", coord, res.Duration.Round(time.Millisecond)), nil
			})
			if ok {
				for _, pair := range [][2]string{{"custodian", "exchange"}, {"custodian", "regulator"}, {"exchange", "regulator"}} {
					dr.step(fmt.Sprintf("%s+%s sign a canary with the new shares", pair[0], pair[1]), func() (string, error) { return dr.canary(pair[0], pair[1]) })
				}
			}
			return dr.finish(drillParties)
		},
	}
	rs.register(reshare)
	reshare.Flags().StringVar(&spec, "spec", "", "approved reshare spec")
	reshare.Flags().StringArrayVar(&approvals, "approval", nil, "approval file (two parties)")

	unfreeze := newDrillUnfreezeCmd()

	var vcfg string
	var minSigners int
	verify := &cobra.Command{
		Use:   "verify REPORT.json [-c CONFIG]",
		Short: "Check a drill report's signatures",
		Long: `Check every node signature on a drill report. With --config, each signature must come
from the peer ID that node's config (and pins.json) pins for the party — what a
regulator does; without it the check proves only that the report was not altered
after the listed nodes signed it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return userErr("reading the report: %v", err)
			}
			rep, err := recovery.DecodeReport(b)
			if err != nil {
				return userError{err}
			}
			trusted := map[string]string{}
			if vcfg != "" {
				if trusted, err = trustedPeers(vcfg); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if err := rep.Verify(trusted, minSigners); err != nil {
				fmt.Fprintf(out, "INVALID: %v\n", err)
				return userErr("drill report %s does not verify", args[0])
			}
			var who []string
			for _, a := range rep.Signatures {
				who = append(who, a.Party)
			}
			how := "against the pinned peer IDs"
			if len(trusted) == 0 {
				how = "for integrity only (no --config: signers not checked against pinned peers)"
			}
			fmt.Fprintf(out, "VALID: drill %s %s, verdict %s, signed by %s, checked %s\n",
				rep.Drill, rep.ID, strings.ToUpper(rep.Verdict), strings.Join(who, ", "), how)
			return nil
		},
	}
	verify.Flags().StringVarP(&vcfg, "config", "c", "", "a node config whose pinned peers are trusted")
	verify.Flags().IntVar(&minSigners, "min-signers", 2, "fewest distinct parties that must have signed")

	dc.AddCommand(nodeLoss, allPairs, unseal, reshare, unfreeze, verify)
	root.AddCommand(dc)
}

// trustedPeers maps every party to its peer ID as the node at cfgPath
// pins it: its own peer.id, the configured peers and any reshare re-pins.
func trustedPeers(cfgPath string) (map[string]string, error) {
	cfg, err := node.LoadConfig(cfgPath)
	if err != nil {
		return nil, userError{err}
	}
	peers, err := cfg.PinnedPeers()
	if err != nil {
		return nil, userError{err}
	}
	if peers, err = node.ApplyPins(cfg, peers); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, p := range peers {
		out[p.Party] = p.ID.String()
	}
	if b, err := os.ReadFile(filepath.Join(cfg.Resolve(cfg.DataDir), "peer.id")); err == nil {
		out[cfg.Party] = strings.TrimSpace(string(b))
	}
	return out, nil
}

func drillContains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
