package demo

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/node"
)

var pairs = [][2]string{{"custodian", "exchange"}, {"custodian", "regulator"}, {"exchange", "regulator"}}

// Run starts the three nodes with state under dir, runs a DKG of a
// fresh canary key and has every pair sign a drill message, printing
// each step to out; it fails unless all three signatures verify.
func Run(ctx context.Context, out io.Writer, dir string, log *slog.Logger) error {
	start := time.Now()
	sealers, err := Sealers(dir)
	if err != nil {
		return err
	}
	keyID := fmt.Sprintf("demo-%d", time.Now().Unix())
	rts, err := startDemoNodes(ctx, out, dir, keyID, sealers, log)
	for _, rt := range rts {
		defer rt.Close()
	}
	if err != nil {
		return err
	}
	if err := waitPreParams(ctx, out, rts); err != nil {
		return err
	}
	if err := keepDemoPreParams(rts); err != nil {
		return err
	}
	for _, rt := range rts {
		rt.Pool.StopRefill() // the demo reuses its cached pre-params
	}
	fmt.Fprintf(out, "\nDKG %s: 2-of-3 over libp2p...\n", keyID)
	t0 := time.Now()
	share, err := rts[0].Node.Keygen(ctx, keyID)
	if err != nil {
		return fmt.Errorf("DKG: %w", err)
	}
	pub, err := share.PublicKey()
	if err != nil {
		return err
	}
	addr, err := btc.CustodyAddress(pub, "regtest")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  group public key %x\n  regtest address  %s\n  every node sealed its own share (%.1fs)\n\n",
		pub.SerializeCompressed(), addr, time.Since(t0).Seconds())
	byParty := map[string]*node.Runtime{}
	for _, rt := range rts {
		byParty[rt.Cfg.Party] = rt
	}
	ok := 0
	for _, pair := range pairs {
		// A canary key signs only a drill message, which each signer recomputes.
		nonce := "demo/" + keyID + "/" + pair[0] + "+" + pair[1]
		digest, err := custody.DrillDigest(nonce)
		if err != nil {
			return err
		}
		t1 := time.Now()
		res, err := byParty[pair[0]].Node.Sign(ctx, node.SignRequest{KeyID: keyID, RequestID: nonce,
			Digest: digest, Partner: pair[1]})
		if err != nil {
			fmt.Fprintf(out, "  %-9s + %-9s FAILED: %v\n", pair[0], pair[1], err)
			continue
		}
		verdict := "verified with btcec"
		if !res.Signature.Verify(pub) {
			verdict = "DOES NOT VERIFY"
		} else {
			ok++
		}
		fmt.Fprintf(out, "  %-9s + %-9s r=%s… %s (%.2fs)\n", res.Signers[0], res.Signers[1],
			hex.EncodeToString(res.Signature.R.Bytes())[:16], verdict, time.Since(t1).Seconds())
	}
	fmt.Fprintf(out, "\n%d/3 pairs produced signatures that verify under %x (total %.1fs)\n", ok, pub.SerializeCompressed(), time.Since(start).Seconds())
	if ok != len(pairs) {
		return errors.New("demo failed")
	}
	return nil
}
