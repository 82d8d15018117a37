package demo

import (
	"context"
	"os"
	"testing"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
)

// ../shared/SECURITY.md scenario 32 in the demo: each demo node's sealer has its own salt file
// outside its data dir, as configs/*.yaml have, so a reshare can re-key
// it (before, the demo's one sealer had none and a re-key failed); a blob
// sealed before the re-key no longer opens; the other nodes' sealers are
// untouched; and state sealed before salt files existed still opens.
func TestDemoSealersRekeyable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sealers, err := Sealers(dir)
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("demo")
	before := map[string][]byte{}
	for _, p := range node.DefaultParties {
		if before[p], err = sealers[p].Seal(ctx, []byte("pre-params of "+p), aad); err != nil {
			t.Fatal(err)
		}
	}
	r, ok := sealers["custodian"].(hsm.Rekeyer)
	if !ok {
		t.Fatal("the demo sealer cannot re-key")
	}
	if err := r.Rotate(ctx); err != nil {
		t.Fatalf("re-keying the demo custodian's sealer: %v", err)
	}
	if err := r.Retire(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(SaltFile(dir, "custodian")); err != nil {
		t.Fatalf("no salt file after a re-key: %v", err)
	}
	if _, err := sealers["custodian"].Unseal(ctx, before["custodian"], aad); err == nil {
		t.Fatal("a blob sealed before the re-key still opens")
	}
	for _, p := range []string{"exchange", "regulator"} {
		if _, err := sealers[p].Unseal(ctx, before[p], aad); err != nil {
			t.Fatalf("the custodian's re-key touched %s's sealer: %v", p, err)
		}
	}
	// A second run finds the custodian's new salt; the others' are still
	// the passphrase alone, so a cache sealed before salt files opens.
	again, err := Sealers(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again["exchange"].Unseal(ctx, before["exchange"], aad); err != nil {
		t.Fatalf("state sealed by an earlier demo run: %v", err)
	}
	after, err := sealers["custodian"].Seal(ctx, []byte("x"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again["custodian"].Unseal(ctx, after, aad); err != nil {
		t.Fatalf("the custodian's re-keyed sealer after a restart: %v", err)
	}
}
