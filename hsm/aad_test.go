package hsm_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/triad-custody/triad/hsm"
)

func TestAADEncodingIsUnambiguous(t *testing.T) {
	aads := []hsm.AAD{
		{Node: "ab", Party: "c", KeyID: "k"},
		{Node: "a", Party: "bc", KeyID: "k"},
		{Node: "a", Party: "b", KeyID: "ck"},
		{Node: "a", Party: "", KeyID: "bck"},
		{Node: "a\x00\x00\x00\x01", Party: "b", KeyID: "k"},
		{Node: "a", Party: "\x00\x00\x00\x01b", KeyID: "k"},
		{Node: "a", Party: "b", KeyID: "k", Version: 1},
		{Node: "a", Party: "b", KeyID: "k", Version: 1 << 24},
	}
	seen := map[string]int{}
	for i, a := range aads {
		enc := string(a.Encode())
		if j, dup := seen[enc]; dup {
			t.Fatalf("AAD %d and %d encode the same: %x", i, j, enc)
		}
		seen[enc] = i
	}
}

func TestAADGolden(t *testing.T) {
	got := hsm.AAD{Node: "node-a", Party: "1", KeyID: "k", Version: 2}.Encode()
	want, _ := hex.DecodeString("00000010" + hex.EncodeToString([]byte("triad/hsm/aad/v1")) +
		"00000006" + hex.EncodeToString([]byte("node-a")) + "00000001" + "31" + "00000001" + "6b" + "00000002")
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding changed (this breaks every sealed shard):\n got %x\nwant %x", got, want)
	}
}

func TestAADValidate(t *testing.T) {
	if err := (hsm.AAD{Node: "a", KeyID: "k"}).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, a := range []hsm.AAD{{KeyID: "k"}, {Node: "a"}, {Node: string(make([]byte, 2000)), KeyID: "k"}} {
		if a.Validate() == nil {
			t.Errorf("%v: want error", a)
		}
	}
}
