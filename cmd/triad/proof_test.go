package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"github.com/triad-custody/triad/custody/holdings"
)

// `triad proof verify` (issue 13) checks a proof offline against the group
// key alone: a good proof exits 0; an altered one, another key or a
// malformed file is the caller's mistake (exit 1), never a crash.
func TestProofVerifyOffline(t *testing.T) {
	d := sha256.Sum256([]byte("attest"))
	key, _ := btcec.PrivKeyFromBytes(d[:])
	block := strings.Repeat("0f", 32)
	tr, err := holdings.Build([]holdings.Leaf{
		{Account: "acct-1", Asset: "BTC", Amount: big.NewInt(120_000), Height: 150, Block: block},
		{Account: "acct-2", Asset: "BTC", Amount: big.NewInt(9_000), Height: 150, Block: block},
	})
	if err != nil {
		t.Fatal(err)
	}
	snap := holdings.Snapshot{Time: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), Root: tr.Root(), Leaves: 2,
		Chains: []holdings.ChainHead{{Chain: "bitcoin/regtest", Height: 150, Block: block}}}
	digest, _ := snap.Digest()
	sig, err := ecdsa.SignCompact(key, digest[:], true)
	if err != nil {
		t.Fatal(err)
	}
	att := holdings.Attestation{KeyID: "attest-1", Snapshot: snap}
	copy(att.R[:], sig[1:33])
	copy(att.S[:], sig[33:])
	proof, err := holdings.ProofFor(tr, att, "acct-1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, p any) string {
		b, _ := json.Marshal(p)
		if s, ok := p.(string); ok {
			b = []byte(s)
		}
		path := filepath.Join(dir, name)
		os.WriteFile(path, b, 0o600)
		return path
	}
	good := write("good.json", proof)
	altered := proof
	altered.Entries = append([]holdings.Entry(nil), proof.Entries...)
	altered.Entries[0].Leaf.Amount = big.NewInt(1_200_000)
	bad := write("altered.json", altered)
	junk := write("junk.json", `{"version":1,"account":"acct-1","entries":[{"leaf":{"amount":"-1"}}]}`)
	pub := hex.EncodeToString(key.PubKey().SerializeCompressed())
	d2 := sha256.Sum256([]byte("someone else"))
	other, _ := btcec.PrivKeyFromBytes(d2[:])
	otherPub := hex.EncodeToString(other.PubKey().SerializeCompressed())

	run := func(args ...string) (string, error) {
		return runRoot(t, append([]string{"proof", "verify", "--json=false", "--group-key-file="}, args...)...)
	}
	out, err := run("--proof", good, "--group-key", pub, "--account", "acct-1")
	if err != nil || !strings.Contains(out, "proof verifies: account acct-1") || !strings.Contains(out, "BTC 120000") {
		t.Fatalf("good proof: %v\n%s", err, out)
	}
	for name, args := range map[string][]string{
		"altered amount":  {"--proof", bad, "--group-key", pub, "--account="},
		"another key":     {"--proof", good, "--group-key", otherPub, "--account="},
		"another account": {"--proof", good, "--group-key", pub, "--account", "acct-2"},
		"malformed":       {"--proof", junk, "--group-key", pub, "--account="},
		"no such file":    {"--proof", filepath.Join(dir, "none.json"), "--group-key", pub, "--account="},
		"bad key":         {"--proof", good, "--group-key", "02zz", "--account="},
		"no key":          {"--proof", good, "--group-key=", "--account="},
	} {
		_, err := run(args...)
		if _, ok := err.(userError); !ok {
			t.Errorf("%s: %v is not the caller's mistake (exit 1)", name, err)
		}
	}
}
