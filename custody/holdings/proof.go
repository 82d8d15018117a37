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
	// Before and After are the leaves next to the account's in the sorted
	// tree (other accounts'), absent only at the tree's ends: they show
	// Entries are all of the account's leaves.
	Before *Entry `json:"before,omitempty"`
	After  *Entry `json:"after,omitempty"`
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
	entry := func(i int) (*Entry, error) {
		inc, err := t.Prove(i)
		if err != nil {
			return nil, err
		}
		return &Entry{Leaf: t.leaves[i], Inclusion: inc}, nil
	}
	for _, i := range idx {
		e, err := entry(i)
		if err != nil {
			return AccountProof{}, err
		}
		p.Entries = append(p.Entries, *e)
	}
	var err error
	if first := idx[0]; first > 0 {
		if p.Before, err = entry(first - 1); err != nil {
			return AccountProof{}, err
		}
	}
	if last := idx[len(idx)-1]; last+1 < t.Size() {
		if p.After, err = entry(last + 1); err != nil {
			return AccountProof{}, err
		}
	}
	return p, nil
}

// Verify checks the proof against the attestation key's group public key:
// the signature over the snapshot; that every leaf is the account's, read
// at one of the snapshot's chain heads, and included under the signed root
// at consecutive positions (the tree is sorted by account, then asset);
// and that the leaves next to them (Before, After) are other accounts',
// included too, or that the account's leaves are at the tree's ends: so
// Entries are all of the account's leaves.
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
		switch {
		case l.Account != p.Account:
			return fmt.Errorf("%w: entry %d is account %q's, not %q's", ErrProof, i, l.Account, clip(p.Account))
		case i > 0 && (l.Asset <= p.Entries[i-1].Leaf.Asset || e.Inclusion.Index != p.Entries[i-1].Inclusion.Index+1):
			return fmt.Errorf("%w: entries are not consecutive leaves in tree order", ErrProof)
		}
		if err := included(snap, e, fmt.Sprintf("entry %d", i)); err != nil {
			return err
		}
	}
	first, last := p.Entries[0].Inclusion.Index, p.Entries[len(p.Entries)-1].Inclusion.Index
	switch {
	case p.Before == nil && first != 0:
		return fmt.Errorf("%w: no leaf before the account's, which are not the tree's first", ErrProof)
	case p.Before != nil && (p.Before.Leaf.Account >= p.Account || p.Before.Inclusion.Index+1 != first):
		return fmt.Errorf("%w: the leaf before is not the previous account's, just before", ErrProof)
	case p.After == nil && last+1 != snap.Leaves:
		return fmt.Errorf("%w: no leaf after the account's, which are not the tree's last", ErrProof)
	case p.After != nil && (p.After.Leaf.Account <= p.Account || p.After.Inclusion.Index != last+1):
		return fmt.Errorf("%w: the leaf after is not the next account's, just after", ErrProof)
	}
	for _, n := range []struct {
		what string
		e    *Entry
	}{{"the leaf before", p.Before}, {"the leaf after", p.After}} {
		if n.e != nil {
			if err := included(snap, *n.e, n.what); err != nil {
				return err
			}
		}
	}
	return nil
}

// included checks one entry is a valid leaf read at one of the snapshot's
// heads and included under its signed root in a tree of its size.
func included(snap Snapshot, e Entry, what string) error {
	l := e.Leaf
	if err := l.Validate(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	switch {
	case !snap.head(l.Height, l.Block):
		return fmt.Errorf("%w: %s was read at height %d, no chain head of the snapshot", ErrProof, what, l.Height)
	case e.Inclusion.Size != snap.Leaves:
		return fmt.Errorf("%w: %s proves a tree of %d leaves, the snapshot has %d", ErrProof, what, e.Inclusion.Size, snap.Leaves)
	}
	h, err := l.Hash()
	if err != nil {
		return err
	}
	root, err := RootFromInclusion(h, e.Inclusion)
	if err != nil {
		return fmt.Errorf("%s (%s/%s): %w", what, l.Account, l.Asset, err)
	}
	if root != [32]byte(snap.Root) {
		return fmt.Errorf("%w: %s (%s/%s) does not lead to the signed root", ErrProof, what, l.Account, l.Asset)
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
