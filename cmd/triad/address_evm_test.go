package main

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/node/nodetest"
)

// `triad address --chain evm` shows the EIP-55 Ethereum address of the
// group key and of a client's BIP32 child, the same as custody/evm derives
// (and so every node); bad flags are the caller's mistake (issue 12).
func TestAddressEVM(t *testing.T) {
	group, _ := nodetest.Share(t, "regulator").PublicKey()
	pub := hex.EncodeToString(group.SerializeCompressed())
	run := func(args ...string) (string, error) { return runRoot(t, args...) }
	// The flags are global: leave them as the other tests expect.
	t.Cleanup(func() { _, _ = run("address", "--pubkey", pub, "--chain", "bitcoin", "--network=", "--json=false") })
	for _, path := range []string{"m", "m/0/7"} {
		out, err := run("address", "--pubkey", pub, "--path", path, "--chain", "evm", "--network=", "--json")
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var got evmAddressView
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		want, _ := evm.DeriveAccount(group, path)
		if got.Address != want.Address.Hex() || got.Chain != "evm" || got.Address == strings.ToLower(got.Address) {
			t.Fatalf("%s: %+v, want EIP-55 %s", path, got, want.Address.Hex())
		}
		text, err := run("address", "--pubkey", pub, "--path", path, "--chain", "evm", "--network=", "--json=false")
		if err != nil || !strings.Contains(text, "address    "+want.Address.Hex()) {
			t.Fatalf("%s: text view %q, %v", path, text, err)
		}
	}
	for _, args := range [][]string{
		{"address", "--pubkey", pub, "--path", "m", "--chain", "solana", "--network="},
		{"address", "--pubkey", pub, "--path", "m", "--chain", "evm", "--network", "regtest"},
		{"address", "--pubkey", pub, "--path", "m/1'", "--chain", "evm", "--network="},
	} {
		if _, err := run(args...); err == nil {
			t.Errorf("%v: no error", args)
		} else if _, ok := err.(userError); !ok {
			t.Errorf("%v: %v is not the caller's mistake", args, err)
		}
	}
}
