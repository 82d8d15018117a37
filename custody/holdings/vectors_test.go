package holdings

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/internal/testkey"
)

// readVectors reads the ```vectors block of SPEC.md: the document is the
// test's input, so the two cannot drift apart.
func readVectors(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, in := map[string]string{}, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "```vectors":
			in = true
		case in && line == "```":
			in = false
		case in:
			k, v, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("SPEC.md vector line %q", line)
			}
			out[k] = v
		}
	}
	if len(out) != 17 {
		t.Fatalf("SPEC.md has %d vectors", len(out))
	}
	return out
}

func TestSpecVectors(t *testing.T) {
	v := readVectors(t)
	check := func(name, got string) {
		t.Helper()
		if v[name] != got {
			t.Errorf("%s: code gives %s, SPEC.md says %s", name, got, v[name])
		}
	}
	leaves := []Leaf{
		{Account: "alice", Asset: "BTC", Amount: big.NewInt(150000000), Height: 101, Block: testBlock},
		{Account: "alice", Asset: "MMF", Amount: new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil), Height: 101, Block: testBlock},
		{Account: "bob", Asset: "BTC", Amount: big.NewInt(0), Height: 101, Block: testBlock},
	}
	for i, l := range leaves {
		e, err := l.Encode()
		if err != nil {
			t.Fatal(err)
		}
		h, _ := l.Hash()
		check(fmt.Sprintf("leaf%d.encoding", i), hex.EncodeToString(e))
		check(fmt.Sprintf("leaf%d.hash", i), hex.EncodeToString(h[:]))
	}
	tr, err := Build([]Leaf{leaves[2], leaves[0], leaves[1]}) // any input order
	if err != nil {
		t.Fatal(err)
	}
	check("node01.hash", hex.EncodeToString(tr.levels[1][0][:]))
	root := tr.Root()
	check("root", hex.EncodeToString(root[:]))
	empty, _ := Build(nil)
	er := empty.Root()
	check("empty.root", hex.EncodeToString(er[:]))
	for i := range 3 {
		p, _ := tr.Prove(i)
		var s []string
		for _, h := range p.Path {
			s = append(s, h.String())
		}
		check(fmt.Sprintf("leaf%d.path", i), strings.Join(s, " "))
	}
	snap := Snapshot{Time: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), Root: root, Leaves: 3, Chains: []ChainHead{testHead()}}
	enc, _ := snap.Encode()
	d, _ := snap.Digest()
	check("snapshot.encoding", hex.EncodeToString(enc))
	check("snapshot.digest", hex.EncodeToString(d[:]))
	pub, err := ParseGroupKey(v["group.pubkey"])
	if err != nil {
		t.Fatal(err)
	}
	check("group.pubkey", hex.EncodeToString(testkey.Private("attest").PubKey().SerializeCompressed()))
	a := Attestation{KeyID: "attest-1", Snapshot: snap}
	if err := a.R.UnmarshalText([]byte(v["signature.r"])); err != nil {
		t.Fatal(err)
	}
	if err := a.S.UnmarshalText([]byte(v["signature.s"])); err != nil {
		t.Fatal(err)
	}
	if err := a.Verify(pub); err != nil {
		t.Fatalf("the SPEC.md signature: %v", err)
	}
}
