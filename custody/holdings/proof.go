package holdings

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
)

// ProofVersion is the version of AccountProof documents.
const ProofVersion = 1

// Entry is one leaf of an account with its inclusion proof.
type Entry struct {
	Leaf      Leaf      `json:"leaf"`
	Inclusion Inclusion `json:"inclusion"`
}

// AccountProof is what the exchange receives per account: the signed
// snapshot and every leaf of the account with its inclusion proof. It is
// checked offline with the attestation key's group public key alone.
type AccountProof struct {
	Version     int         `json:"version"`
	Account     string      `json:"account"`
	Attestation Attestation `json:"attestation"`
	Entries     []Entry     `json:"entries"`
}

// ProofFor builds account's proof from a tree and its attestation (made
// over this tree's root): ErrNoAccount if the tree has no leaf of it.
func ProofFor(t *Tree, a Attestation, account string) (AccountProof, error) {
	idx := t.Find(account)
	if len(idx) == 0 {
		return AccountProof{}, fmt.Errorf("%w: %q", ErrNoAccount, clip(account))
	}
	if a.Snapshot.Root != HexHash(t.Root()) || a.Snapshot.Leaves != uint64(t.Size()) {
		return AccountProof{}, fmt.Errorf("%w: the attestation is of another tree", ErrProof)
	}
	p := AccountProof{Version: ProofVersion, Account: account, Attestation: a}
	for _, i := range idx {
		inc, err := t.Prove(i)
		if err != nil {
			return AccountProof{}, err
		}
		p.Entries = append(p.Entries, Entry{Leaf: t.leaves[i], Inclusion: inc})
	}
	return p, nil
}

// Verify checks the proof against the attestation key's group public key:
// the signature over the snapshot, and that every leaf is the account's,
// read at one of the snapshot's chain heads, and included under the
// signed root at consecutive positions (the tree is sorted by account, then
// asset).
func (p AccountProof) Verify(pub *btcec.PublicKey) error {
	if p.Version != ProofVersion {
		return fmt.Errorf("%w: proof version %d, want %d", ErrMalformed, p.Version, ProofVersion)
	}
	if err := p.Attestation.Verify(pub); err != nil {
		return err
	}
	snap := p.Attestation.Snapshot
	if len(p.Entries) == 0 {
		return fmt.Errorf("%w: no leaf of account %q", ErrNoAccount, clip(p.Account))
	}
	for i, e := range p.Entries {
		l := e.Leaf
		if err := l.Validate(); err != nil {
			return err
		}
		switch {
		case l.Account != p.Account:
			return fmt.Errorf("%w: entry %d is account %q's, not %q's", ErrProof, i, l.Account, clip(p.Account))
		case !snap.head(l.Height, l.Block):
			return fmt.Errorf("%w: entry %d was read at height %d, no chain head of the snapshot", ErrProof, i, l.Height)
		case e.Inclusion.Size != snap.Leaves:
			return fmt.Errorf("%w: entry %d proves a tree of %d leaves, the snapshot has %d", ErrProof, i, e.Inclusion.Size, snap.Leaves)
		case i > 0 && (l.Asset <= p.Entries[i-1].Leaf.Asset || e.Inclusion.Index != p.Entries[i-1].Inclusion.Index+1):
			return fmt.Errorf("%w: entries are not consecutive leaves in tree order", ErrProof)
		}
		h, err := l.Hash()
		if err != nil {
			return err
		}
		root, err := RootFromInclusion(h, e.Inclusion)
		if err != nil {
			return fmt.Errorf("entry %d (%s): %w", i, l.Asset, err)
		}
		if root != [32]byte(snap.Root) {
			return fmt.Errorf("%w: entry %d (%s/%s) does not lead to the signed root", ErrProof, i, l.Account, l.Asset)
		}
	}
	return nil
}

// DecodeProof reads an AccountProof strictly: unknown fields and trailing
// data are errors; at most maxBytes are read.
func DecodeProof(b []byte, maxBytes int) (AccountProof, error) {
	var p AccountProof
	if len(b) > maxBytes {
		return p, fmt.Errorf("%w: proof of %d bytes, at most %d", ErrMalformed, len(b), maxBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("%w: proof: %w", ErrMalformed, err)
	}
	if dec.More() {
		return p, fmt.Errorf("%w: proof: trailing data", ErrMalformed)
	}
	return p, nil
}
