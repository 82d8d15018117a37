package holdings

import (
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/triad-custody/triad/custody"
)

// CreditBook keeps, on the exchange's node, the latest proof of holdings
// it verified for each account and the latest price input it checked, and
// gives the custody service the credit facts a liquidation's evidence is
// checked against (custody.State.Credit). Facts recomputes the credit at
// the time asked, so a price that has since gone stale gives no figure.
type CreditBook struct {
	Policy custody.Policy

	mu     sync.Mutex
	proofs map[string]bookProof
	prices *PriceInput
}

type bookProof struct {
	proof AccountProof
	key   *btcec.PublicKey
}

// Record computes the account's credit with CreditFor and, if it is
// valid, keeps the proof (unless one of a later snapshot is kept) and the
// prices (unless later ones are kept).
func (b *CreditBook) Record(proof AccountProof, groupKey *btcec.PublicKey, prices PriceInput, now time.Time) (Credit, error) {
	c, err := CreditFor(b.Policy, proof, groupKey, prices, now)
	if err != nil {
		return c, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proofs == nil {
		b.proofs = map[string]bookProof{}
	}
	if old, ok := b.proofs[proof.Account]; !ok || !proof.Attestation.Snapshot.Time.Before(old.proof.Attestation.Snapshot.Time) {
		b.proofs[proof.Account] = bookProof{proof: proof, key: groupKey}
	}
	if b.prices == nil || !prices.Time.Before(b.prices.Time) {
		p := prices
		b.prices = &p
	}
	return c, nil
}

// Facts is the account's credit figure at now: from its latest verified
// proof and the latest price input, both checked again. Without either,
// or with a price gone stale, Unknown says why.
func (b *CreditBook) Facts(account string, now time.Time) custody.CreditFacts {
	b.mu.Lock()
	kept, ok := b.proofs[account]
	prices := b.prices
	b.mu.Unlock()
	switch {
	case !ok:
		return custody.CreditFacts{Unknown: "no verified proof of holdings for " + clip(account)}
	case prices == nil:
		return custody.CreditFacts{Unknown: "no signed price input"}
	}
	c, err := CreditFor(b.Policy, kept.proof, kept.key, *prices, now)
	if err != nil {
		return custody.CreditFacts{Unknown: err.Error()}
	}
	limit, ok := new(big.Int).SetString(c.Limit, 10)
	if !ok {
		return custody.CreditFacts{Unknown: fmt.Sprintf("credit limit %q is no number", clip(c.Limit))}
	}
	return custody.CreditFacts{Limit: limit, SnapshotTime: c.SnapshotTime, PriceTime: c.PriceTime}
}
