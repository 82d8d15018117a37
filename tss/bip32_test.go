package tss_test

import (
	"crypto/ecdsa"
	"errors"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/crypto/ckd"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/triad-custody/triad/internal/testkey"
	"github.com/triad-custody/triad/tss"
)

// BIP32 published test vectors: each case derives the non-hardened steps
// from a level's extended key to a deeper level, with public derivation.
var bip32Vectors = []struct {
	name             string
	parentPub, child string // xpubs
	parentPriv       string // xprv of the parent, to check child = parent + delta
	childPriv        string
	path             []uint32
}{
	{
		name:       "vector 1: m/0H -> m/0H/1",
		parentPub:  "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw",
		parentPriv: "xprv9uHRZZhk6KAJC1avXpDAp4MDc3sQKNxDiPvvkX8Br5ngLNv1TxvUxt4cV1rGL5hj6KCesnDYUhd7oWgT11eZG7XnxHrnYeSvkzY7d2bhkJ7",
		child:      "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ",
		childPriv:  "xprv9wTYmMFdV23N2TdNG573QoEsfRrWKQgWeibmLntzniatZvR9BmLnvSxqu53Kw1UmYPxLgboyZQaXwTCg8MSY3H2EU4pWcQDnRnrVA1xe8fs",
		path:       []uint32{1},
	},
	{
		name:       "vector 1: m/0H/1/2H -> m/0H/1/2H/2/1000000000",
		parentPub:  "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5",
		parentPriv: "xprv9z4pot5VBttmtdRTWfWQmoH1taj2axGVzFqSb8C9xaxKymcFzXBDptWmT7FwuEzG3ryjH4ktypQSAewRiNMjANTtpgP4mLTj34bhnZX7UiM",
		child:      "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy",
		childPriv:  "xprvA41z7zogVVwxVSgdKUHDy1SKmdb533PjDz7J6N6mV6uS3ze1ai8FHa8kmHScGpWmj4WggLyQjgPie1rFSruoUihUZREPSL39UNdE3BBDu76",
		path:       []uint32{2, 1000000000},
	},
	{
		name:       "vector 2: m -> m/0",
		parentPub:  "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
		parentPriv: "xprv9s21ZrQH143K31xYSDQpPDxsXRTUcvj2iNHm5NUtrGiGG5e2DtALGdso3pGz6ssrdK4PFmM8NSpSBHNqPqm55Qn3LqFtT2emdEXVYsCzC2U",
		child:      "xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH",
		childPriv:  "xprv9vHkqa6EV4sPZHYqZznhT2NPtPCjKuDKGY38FBWLvgaDx45zo9WQRUT3dKYnjwih2yJD9mkrocEZXo1ex8G81dwSM1fwqWpWkeS3v86pgKt",
		path:       []uint32{0},
	},
	{
		name:       "vector 2: m/0/2147483647H -> m/0/2147483647H/1",
		parentPub:  "xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a",
		parentPriv: "xprv9wSp6B7kry3Vj9m1zSnLvN3xH8RdsPP1Mh7fAaR7aRLcQMKTR2vidYEeEg2mUCTAwCd6vnxVrcjfy2kRgVsFawNzmjuHc2YmYRmagcEPdU9",
		child:      "xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon",
		childPriv:  "xprv9zFnWC6h2cLgpmSA46vutJzBcfJ8yaJGg8cX1e5StJh45BBciYTRXSd25UEPVuesF9yog62tGAQtHjXajPPdbRCHuWS6T8XA2ECKADdw4Ef",
		path:       []uint32{1},
	},
	{
		name:       "vector 2: m/0/2147483647H/1/2147483646H -> .../2",
		parentPub:  "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL",
		parentPriv: "xprvA1RpRA33e1JQ7ifknakTFpgNXPmW2YvmhqLQYMmrj4xJXXWYpDPS3xz7iAxn8L39njGVyuoseXzU6rcxFLJ8HFsTjSyQbLYnMpCqE2VbFWc",
		child:      "xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt",
		childPriv:  "xprvA2nrNbFZABcdryreWet9Ea4LvTJcGsqrMzxHx98MMrotbir7yrKCEXw7nadnHM8Dq38EGfSh6dqA9QWTyefMLEcBYJUuekgW4BYPJcr9E7j",
		path:       []uint32{2},
	},
}

func parseXKey(t *testing.T, s string) *hdkeychain.ExtendedKey {
	t.Helper()
	k, err := hdkeychain.NewKeyFromString(s)
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return k
}

func TestDeriveChildBIP32Vectors(t *testing.T) {
	for _, v := range bip32Vectors {
		t.Run(v.name, func(t *testing.T) {
			parent := parseXKey(t, v.parentPub)
			parentPub, err := parent.ECPubKey()
			if err != nil {
				t.Fatal(err)
			}
			childPub, delta, err := tss.DeriveChild(parentPub, parent.ChainCode(), v.path)
			if err != nil {
				t.Fatalf("DeriveChild: %v", err)
			}
			want, err := parseXKey(t, v.child).ECPubKey()
			if err != nil {
				t.Fatal(err)
			}
			if !childPub.IsEqual(want) {
				t.Fatalf("child pub %x, want %x", childPub.SerializeCompressed(), want.SerializeCompressed())
			}

			// childPub = parentPub + delta·G
			var d btcec.ModNScalar
			d.SetByteSlice(delta.Bytes())
			var dG, p, sum btcec.JacobianPoint
			btcec.ScalarBaseMultNonConst(&d, &dG)
			parentPub.AsJacobian(&p)
			btcec.AddNonConst(&dG, &p, &sum)
			sum.ToAffine()
			if !btcec.NewPublicKey(&sum.X, &sum.Y).IsEqual(childPub) {
				t.Fatal("childPub != parentPub + delta*G")
			}

			// childPriv = parentPriv + delta, against the vector's xprv.
			parentPriv, err := parseXKey(t, v.parentPriv).ECPrivKey()
			if err != nil {
				t.Fatal(err)
			}
			wantPriv, err := parseXKey(t, v.childPriv).ECPrivKey()
			if err != nil {
				t.Fatal(err)
			}
			if got := testkey.Child(parentPriv, delta); !got.Key.Equals(&wantPriv.Key) {
				t.Fatal("parent priv + delta != vector child priv")
			}
		})
	}
}

// TestDeriveChildMatchesTSSLib checks that our delta is the one tss-lib's
// own derivation (crypto/ckd, used by its signing package) computes.
func TestDeriveChildMatchesTSSLib(t *testing.T) {
	group := testkey.Private("group").PubKey()
	chain := tss.ChainCode(group)
	for _, path := range [][]uint32{{0}, {7}, {0, 7}, {3, 1, 4, 1, 5}, {tss.HardenedKeyStart - 1}} {
		childPub, delta, err := tss.DeriveChild(group, chain, path)
		if err != nil {
			t.Fatal(err)
		}
		ext := &ckd.ExtendedKey{
			PublicKey: ecdsa.PublicKey{Curve: btcec.S256(), X: group.X(), Y: group.Y()},
			ChainCode: chain, ParentFP: []byte{0, 0, 0, 0}, Version: chaincfg.MainNetParams.HDPublicKeyID[:],
		}
		tssDelta, tssChild, err := ckd.DeriveChildKeyFromHierarchy(path, ext, btcec.S256().N, btcec.S256())
		if err != nil {
			t.Fatal(err)
		}
		if delta.Cmp(tssDelta) != 0 {
			t.Fatalf("path %v: delta %x, tss-lib %x", path, delta, tssDelta)
		}
		if childPub.X().Cmp(tssChild.X) != 0 || childPub.Y().Cmp(tssChild.Y) != 0 {
			t.Fatalf("path %v: child key differs from tss-lib", path)
		}
	}
}

func TestDeriveChildKeyMatchesParentPlusDelta(t *testing.T) {
	parent := testkey.Private("group")
	childPub, delta, err := tss.DeriveChild(parent.PubKey(), tss.ChainCode(parent.PubKey()), []uint32{0, 7})
	if err != nil {
		t.Fatal(err)
	}
	if !testkey.Child(parent, delta).PubKey().IsEqual(childPub) {
		t.Fatal("child priv (parent + delta) does not match child pub")
	}
	// Every node derives the same thing independently.
	again, delta2, _ := tss.DeriveChild(parent.PubKey(), tss.ChainCode(parent.PubKey()), []uint32{0, 7})
	if !again.IsEqual(childPub) || delta2.Cmp(delta) != 0 {
		t.Fatal("derivation is not deterministic")
	}
	// An empty path is the key itself.
	same, zero, err := tss.DeriveChild(parent.PubKey(), tss.ChainCode(parent.PubKey()), nil)
	if err != nil || !same.IsEqual(parent.PubKey()) || zero.Sign() != 0 {
		t.Fatalf("empty path: %v %v", zero, err)
	}
}

func TestDeriveChildRefusals(t *testing.T) {
	pub := testkey.Private("group").PubKey()
	chain := tss.ChainCode(pub)
	cases := []struct {
		name  string
		pub   *btcec.PublicKey
		chain []byte
		path  []uint32
		want  error
	}{
		{"hardened", pub, chain, []uint32{0, tss.HardenedKeyStart}, tss.ErrHardenedIndex},
		{"hardened max", pub, chain, []uint32{0xffffffff}, tss.ErrHardenedIndex},
		{"short chain code", pub, chain[:31], []uint32{0}, tss.ErrBadChainCode},
		{"nil key", nil, chain, []uint32{0}, tss.ErrBadPublicKey},
		{"too deep", pub, chain, make([]uint32, tss.MaxPathDepth+1), tss.ErrBadPath},
	}
	for _, c := range cases {
		if _, _, err := tss.DeriveChild(c.pub, c.chain, c.path); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestParsePath(t *testing.T) {
	good := map[string][]uint32{
		"m":            {},
		"m/0":          {0},
		"m/0/7":        {0, 7},
		"M/2147483647": {2147483647},
	}
	for s, want := range good {
		got, err := tss.ParsePath(s)
		if err != nil || len(got) != len(want) {
			t.Fatalf("%q: %v %v", s, got, err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%q: got %v, want %v", s, got, want)
			}
		}
		if s != "M/2147483647" && tss.FormatPath(got) != s {
			t.Fatalf("FormatPath(%v) = %q", got, tss.FormatPath(got))
		}
	}
	bad := map[string]error{
		"m/0'":          tss.ErrHardenedIndex,
		"m/0h":          tss.ErrHardenedIndex,
		"m/1H/2":        tss.ErrHardenedIndex,
		"m/2147483648":  tss.ErrHardenedIndex,
		"":              tss.ErrBadPath,
		"0/1":           tss.ErrBadPath,
		"m/":            tss.ErrBadPath,
		"m//1":          tss.ErrBadPath,
		"m/-1":          tss.ErrBadPath,
		"m/+1":          tss.ErrBadPath,
		"m/01":          tss.ErrBadPath,
		"m/1 ":          tss.ErrBadPath,
		"m/4294967296":  tss.ErrBadPath,
		"m/99999999999": tss.ErrBadPath,
	}
	for s, want := range bad {
		if _, err := tss.ParsePath(s); !errors.Is(err, want) {
			t.Errorf("%q: got %v, want %v", s, err, want)
		}
	}
}

func TestChainCodeIsPerKey(t *testing.T) {
	a, b := testkey.Private("a").PubKey(), testkey.Private("b").PubKey()
	if len(tss.ChainCode(a)) != 32 || string(tss.ChainCode(a)) == string(tss.ChainCode(b)) {
		t.Fatal("chain code must be 32 bytes and differ per key")
	}
	if string(tss.ChainCode(a)) != string(tss.ChainCode(a)) {
		t.Fatal("chain code must be deterministic")
	}
}

// ChildKey is the one derivation every caller uses: "" is the group key
// without a tweak, a path the child and the tweak DeriveChild gives.
func TestChildKey(t *testing.T) {
	group := testkey.Private("group").PubKey()
	if k, d, err := tss.ChildKey(group, ""); err != nil || k != group || d != nil {
		t.Fatalf("empty path: %v %v %v", k, d, err)
	}
	want, wantDelta, _ := tss.DeriveChild(group, tss.ChainCode(group), []uint32{0, 7})
	if k, d, err := tss.ChildKey(group, "m/0/7"); err != nil || !k.IsEqual(want) || d.Cmp(wantDelta) != 0 {
		t.Fatalf("m/0/7: %v %v", d, err)
	}
	for path, want := range map[string]error{"m/0'": tss.ErrHardenedIndex, "0/7": tss.ErrBadPath} {
		if _, _, err := tss.ChildKey(group, path); !errors.Is(err, want) {
			t.Errorf("%q: %v", path, err)
		}
	}
	if _, _, err := tss.ChildKey(nil, "m/1"); !errors.Is(err, tss.ErrBadPublicKey) {
		t.Errorf("nil group: %v", err)
	}
}
