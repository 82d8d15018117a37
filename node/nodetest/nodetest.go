package nodetest

import (
	"context"
	"testing"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

// Share returns party's decoded share of the fixture key.
func Share(t testing.TB, party string) *tss.KeyShare {
	t.Helper()
	b, err := fixtures.Share(party)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tss.UnmarshalShare(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// KeyStore opens a key store in dir sealed by sealer and saves party's
// fixture share in it.
func KeyStore(t testing.TB, dir, party string, sealer hsm.Sealer) *keystore.Store {
	t.Helper()
	ks, err := keystore.New(dir, party, sealer)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Save(context.Background(), Share(t, party)); err != nil {
		t.Fatal(err)
	}
	return ks
}
