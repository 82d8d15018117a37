package btc_test

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/triad-custody/triad/custody/btc"
)

func TestNetParams(t *testing.T) {
	for _, name := range btc.Networks {
		if p, err := btc.NetParams(name); err != nil || p == nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"", "main", "signet", "Mainnet", "testnet4"} {
		_, err := btc.NetParams(name)
		if !errors.Is(err, btc.ErrUnknownNetwork) || !strings.Contains(err.Error(), "regtest") {
			t.Fatalf("%q: got %v", name, err)
		}
	}
}

// BIP173 test vectors for P2WPKH.
func TestCustodyAddressBIP173(t *testing.T) {
	pubBytes, _ := hex.DecodeString("0279BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798")
	pub, err := btcec.ParsePubKey(pubBytes)
	if err != nil {
		t.Fatal(err)
	}
	for network, want := range map[string]string{
		"mainnet":  "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
		"testnet3": "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
	} {
		addr, err := btc.CustodyAddress(pub, network)
		if err != nil || addr.String() != want {
			t.Fatalf("%s: got %v %v, want %s", network, addr, err, want)
		}
	}
	for network, prefix := range map[string]string{"regtest": "bcrt1q", "simnet": "sb1q"} {
		addr, err := btc.CustodyAddress(pub, network)
		if err != nil || !strings.HasPrefix(addr.String(), prefix) {
			t.Fatalf("%s: got %v %v", network, addr, err)
		}
	}
	script, _ := btc.P2WPKHScript(pub)
	if hex.EncodeToString(script) != "0014751e76e8199196d454941c45d1b3a323f1433bd6" {
		t.Fatalf("script %x", script)
	}
	// Upper case is valid bech32 and decodes to the same script.
	got, err := btc.DecodeAddress("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "mainnet")
	if err != nil || hex.EncodeToString(got) != "0014751e76e8199196d454941c45d1b3a323f1433bd6" {
		t.Fatalf("upper case: %x %v", got, err)
	}
}

func TestDecodeAddressRefusals(t *testing.T) {
	cases := []struct {
		addr, network string
		want          error
	}{
		// BIP173 invalid addresses.
		{"tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty", "mainnet", btc.ErrBadAddress}, // invalid hrp
		{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "mainnet", btc.ErrBadAddress}, // bad checksum
		{"BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2", "mainnet", btc.ErrBadAddress}, // bad witness version
		{"bc1rw5uspcuh", "mainnet", btc.ErrBadAddress},                               // bad program length
		{"bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90", "mainnet", btc.ErrBadAddress},
		{"BC1QR508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2", "mainnet", btc.ErrBadAddress},
		{"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7", "testnet3", btc.ErrBadAddress}, // mixed case
		{"bc1zw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90", "mainnet", btc.ErrBadAddress},
		// Right format, wrong network.
		{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "regtest", btc.ErrWrongNetwork},
		{"tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "mainnet", btc.ErrWrongNetwork},
		{"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "testnet3", btc.ErrWrongNetwork},
		// A bare public key is not a destination.
		{"0279BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798", "mainnet", btc.ErrBadAddress},
		{"", "mainnet", btc.ErrBadAddress},
		{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "nonet", btc.ErrUnknownNetwork},
	}
	for _, c := range cases {
		if _, err := btc.DecodeAddress(c.addr, c.network); !errors.Is(err, c.want) {
			t.Errorf("%q on %s: got %v, want %v", c.addr, c.network, err, c.want)
		}
	}
	for _, ok := range []struct{ addr, network string }{
		{"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "mainnet"},                             // P2PKH
		{"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "mainnet"},                             // P2SH
		{"bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", "mainnet"}, // P2WSH
		{"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "mainnet"}, // P2TR (BIP350)
	} {
		if _, err := btc.DecodeAddress(ok.addr, ok.network); err != nil {
			t.Errorf("%q: %v", ok.addr, err)
		}
	}
}
