package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/node/nodetest"
)

// `triad address --pubkey` derives the same custody addresses as the
// settlement package (and so as every node), for the group key and a
// client's child; bad input is the caller's mistake.
func TestAddressOffline(t *testing.T) {
	group, _ := nodetest.Share(t, "regulator").PublicKey()
	pub := hex.EncodeToString(group.SerializeCompressed())
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := newRootCmd()
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		err := root.Execute()
		return out.String(), err
	}
	for _, path := range []string{"m", "m/0/7"} {
		out, err := run("address", "--pubkey", pub, "--path", path, "--network", "regtest", "--json")
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var got api.AddressResponse
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		k, _ := settle.DeriveAddressKey(group, path)
		want, _ := btc.CustodyAddress(k, "regtest")
		if got.Address != want.String() {
			t.Fatalf("%s: %s, want %s", path, got.Address, want)
		}
	}
	for _, args := range [][]string{
		{"address", "--pubkey", pub, "--path", "m/0'/1", "--network", "regtest", "--json=false"},
		{"address", "--pubkey", "zz", "--path", "m", "--network", "regtest"},
		{"address", "--pubkey", pub, "--path", "m", "--network", "dogecoin"},
	} {
		if _, err := run(args...); err == nil {
			t.Errorf("%v: no error", args)
		} else if _, ok := err.(userError); !ok {
			t.Errorf("%v: %v is not the caller's mistake", args, err)
		}
	}
}
