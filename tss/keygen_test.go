package tss

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/triad-custody/triad/tss/fixtures"
)

var regen = flag.Bool("regen", false, "rewrite fixtures/testdata/share-*.json from a fresh DKG")

func keygenSessions(t testing.TB, sid SessionID) map[string]*Session {
	t.Helper()
	m := map[string]*Session{}
	for i, n := range testParties {
		s, err := NewKeygenSession(KeygenConfig{
			Config:    testConfig(sid, n, 5*time.Minute),
			KeyID:     "fixture",
			Parties:   NodeParties(testParties...),
			Threshold: 1,
			PreParams: loadPreParams(t, i),
		})
		if err != nil {
			t.Fatal(err)
		}
		m[n] = s
	}
	return m
}

// TestKeygen runs a full 2-of-3 DKG over the channel network; with -regen
// it rewrites the fixture shares the other tests sign with.
func TestKeygen(t *testing.T) {
	if testing.Short() && !*regen {
		t.Skip("keygen takes seconds; -short skips it")
	}
	sid := DeriveSessionID(Keygen, []byte("fixture"))
	net := newMemNet(testParties...)
	res := runAll(t, net, keygenSessions(t, sid))
	var pub []byte
	for _, n := range testParties {
		o := res[n]
		if o.err != nil {
			t.Fatalf("%s: %v", n, o.err)
		}
		share, err := o.s.KeyShare()
		if err != nil {
			t.Fatal(err)
		}
		p, err := share.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if pub != nil && string(pub) != string(p.SerializeCompressed()) {
			t.Fatalf("%s derived a different group key", n)
		}
		pub = p.SerializeCompressed()
		if *regen {
			b, err := MarshalShare(share)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(fixtures.Dir, "share-"+n+".json"), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if st := o.s.Stats(); st.Accepted == 0 || st.Duplicates+st.Malformed+st.Spoofed != 0 {
			t.Fatalf("%s: unexpected guard stats %+v", n, st)
		}
	}
}
