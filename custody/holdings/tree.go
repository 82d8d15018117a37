package holdings

import (
	"fmt"
	"slices"
)

// Tree is the Merkle tree of one snapshot's leaves, sorted by (account,
// asset). Its shape is RFC 9162's (a tree of n leaves splits at the
// largest power of two below n), built bottom-up: an unpaired last node
// is carried up unchanged, never paired with itself, so no two leaf lists
// share a root. Hashes are tagged (SPEC.md): H_leaf for leaves, H_node
// for inner nodes, H_empty for a tree of no leaves.
type Tree struct {
	leaves []Leaf
	// levels[0] are the leaf hashes, the last level is the root.
	levels [][][32]byte
}

// Build sorts a copy of leaves by (account, asset) and builds their tree.
// A leaf that does not validate, two leaves of one (account, asset) or
// more than MaxLeaves leaves is an error.
func Build(leaves []Leaf) (*Tree, error) {
	if len(leaves) > MaxLeaves {
		return nil, fmt.Errorf("%w: %d leaves, at most %d", ErrMalformed, len(leaves), MaxLeaves)
	}
	sorted := slices.Clone(leaves)
	slices.SortFunc(sorted, less)
	lh := newHasher(LeafTag)
	hashes := make([][32]byte, len(sorted))
	buf := make([]byte, 0, 256)
	for i, l := range sorted {
		if i > 0 && less(sorted[i-1], l) == 0 {
			return nil, fmt.Errorf("%w: two leaves of %s/%s", ErrMalformed, l.Account, l.Asset)
		}
		enc, err := l.appendEncoding(buf[:0])
		if err != nil {
			return nil, err
		}
		hashes[i] = lh.sum(enc)
	}
	return &Tree{leaves: sorted, levels: buildLevels(hashes)}, nil
}

// buildLevels hashes leaf hashes up to the root.
func buildLevels(hashes [][32]byte) [][][32]byte {
	levels := [][][32]byte{hashes}
	nh := newHasher(NodeTag)
	for cur := hashes; len(cur) > 1; {
		next := make([][32]byte, (len(cur)+1)/2)
		for i := 0; i+1 < len(cur); i += 2 {
			next[i/2] = nh.sum(cur[i][:], cur[i+1][:])
		}
		if len(cur)%2 == 1 {
			next[len(next)-1] = cur[len(cur)-1] // carried up
		}
		levels = append(levels, next)
		cur = next
	}
	return levels
}

// Root is the tree's root: H_empty("") for no leaves.
func (t *Tree) Root() [32]byte {
	top := t.levels[len(t.levels)-1]
	if len(top) == 0 {
		return newHasher(EmptyTag).sum()
	}
	return top[0]
}

// Size is the number of leaves.
func (t *Tree) Size() int { return len(t.leaves) }

// Leaves returns the sorted leaves (a copy of the slice).
func (t *Tree) Leaves() []Leaf { return slices.Clone(t.leaves) }

// Inclusion is one leaf's inclusion proof: its index in the sorted leaves,
// the tree size and the sibling hashes from the leaf up (RFC 9162 §2.1.3).
type Inclusion struct {
	Index uint64    `json:"index"`
	Size  uint64    `json:"size"`
	Path  []HexHash `json:"path"`
}

// Prove returns the inclusion proof of leaf i.
func (t *Tree) Prove(i int) (Inclusion, error) {
	if i < 0 || i >= len(t.leaves) {
		return Inclusion{}, fmt.Errorf("%w: leaf %d of %d", ErrNoAccount, i, len(t.leaves))
	}
	p := Inclusion{Index: uint64(i), Size: uint64(len(t.leaves)), Path: make([]HexHash, 0, len(t.levels)-1)}
	idx := i
	for _, level := range t.levels[:len(t.levels)-1] {
		if sib := idx ^ 1; sib < len(level) {
			p.Path = append(p.Path, HexHash(level[sib]))
		}
		idx /= 2
	}
	return p, nil
}

// Find returns the indexes of account's leaves (they are adjacent).
func (t *Tree) Find(account string) []int {
	lo, _ := slices.BinarySearchFunc(t.leaves, account, func(l Leaf, a string) int {
		if l.Account < a {
			return -1
		} else if l.Account > a {
			return 1
		}
		return 0
	})
	var out []int
	for i := lo; i < len(t.leaves) && t.leaves[i].Account == account; i++ {
		out = append(out, i)
	}
	return out
}

// RootFromInclusion recomputes the root from a leaf hash and its proof
// (RFC 9162 §2.1.3.2 with tagged node hashes). It fails on a proof of the
// wrong length for its index and size.
func RootFromInclusion(leaf [32]byte, p Inclusion) ([32]byte, error) {
	if p.Size == 0 || p.Index >= p.Size || p.Size > MaxLeaves {
		return [32]byte{}, fmt.Errorf("%w: leaf %d of a tree of %d", ErrProof, p.Index, p.Size)
	}
	nh := newHasher(NodeTag)
	fn, sn, r := p.Index, p.Size-1, leaf
	for _, sib := range p.Path {
		if sn == 0 {
			return [32]byte{}, fmt.Errorf("%w: path longer than the tree", ErrProof)
		}
		if fn&1 == 1 || fn == sn {
			r = nh.sum(sib[:], r[:])
			for fn&1 == 0 && fn != 0 {
				fn, sn = fn>>1, sn>>1
			}
		} else {
			r = nh.sum(r[:], sib[:])
		}
		fn, sn = fn>>1, sn>>1
	}
	if sn != 0 {
		return [32]byte{}, fmt.Errorf("%w: path shorter than the tree", ErrProof)
	}
	return r, nil
}
