package drill

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/tss"
)

// canary has coord sign the drill message of a fresh nonce with partner
// and verifies the signature, over the digest computed here, under the
// group key.
func (r *run) canary(coord, partner string) (string, error) {
	if err := r.c.Reachable(coord); err != nil {
		return "", fmt.Errorf("%s's API is not reachable", coord)
	}
	// The drill message of a fresh nonce: every signer recomputes its digest.
	nonce := "drill-" + r.id + "-" + coord + "-" + partner
	d, err := custody.DrillDigest(nonce)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := r.c.CanarySign(ctx, coord, api.CanarySignRequest{KeyID: r.cfg.KeyID, Nonce: nonce, Partner: partner})
	if err != nil {
		return "", err
	}
	if err := Verify(res.PublicKey, res.R, res.S, d); err != nil {
		return "", err
	}
	if r.pub != "" && res.PublicKey != r.pub {
		return "", fmt.Errorf("signed under %s, expected the group key %s", res.PublicKey, r.pub)
	}
	r.pub = res.PublicKey
	signers := slices.Clone(res.Signers)
	slices.Sort(signers)
	want := []string{coord, partner}
	slices.Sort(want)
	if !slices.Equal(signers, want) {
		return "", fmt.Errorf("signed by %v, not %v: the pair could not sign (the node failed over)", signers, want)
	}
	return fmt.Sprintf("signature by %s verified under %s", strings.Join(signers, "+"), res.PublicKey[:16]+"…"), nil
}

// Verify checks a hex signature (r, s) over digest under a hex compressed
// public key.
func Verify(pubHex, rHex, sHex string, digest [32]byte) error {
	pub, err := parsePub(pubHex)
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	rb, err1 := hex.DecodeString(rHex)
	sb, err2 := hex.DecodeString(sHex)
	if err1 != nil || err2 != nil {
		return errors.New("signature is not hex")
	}
	sig := tss.Signature{R: new(big.Int).SetBytes(rb), S: new(big.Int).SetBytes(sb), Digest: digest}
	if !sig.Verify(pub) {
		return errors.New("signature does NOT verify under the group key")
	}
	return nil
}

func parsePub(h string) (*btcec.PublicKey, error) {
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, err
	}
	return btcec.ParsePubKey(b)
}
