package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/tss"
)

// Three OS processes of the built binary on random ports: keygen and
// signatures through the running nodes; one killed, the other two sign;
// two killed, a clean error within the deadline.
func TestThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a DKG")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	started := map[string]*proc{}
	for i, p := range node.DefaultParties {
		cfg := writeConfig(t, dir, p, started)
		if out, errOut, code := triad(t, bin, "init", "-c", cfg); code != 0 || !strings.Contains(out, "peer id") {
			t.Fatalf("init %s: %d %s %s", p, code, out, errOut)
		}
		seedFixturePreParams(t, cfg, i)
	}
	// Each node starts knowing the addresses of those already up; the
	// rest dial in.
	for _, p := range node.DefaultParties {
		started[p] = startNode(t, bin, writeConfig(t, dir, p, started))
	}
	// ../shared/SECURITY.md scenario 24: a running node cannot write a core dump.
	if lim, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", started["custodian"].cmd.Process.Pid)); err == nil {
		for _, l := range strings.Split(string(lim), "\n") {
			// Soft and hard limits: the hard one is unlimited by default here.
			if f := strings.Fields(l); strings.HasPrefix(l, "Max core file size") && (f[4] != "0" || f[5] != "0") {
				t.Fatalf("node may dump core: %q", l)
			}
		}
	}
	cust := started["custodian"].cfg
	out, errOut, code := triad(t, bin, "keygen", "-c", cust, "--key-id", "canary-1")
	if code != 0 {
		t.Fatalf("keygen: %d\n%s\n%s", code, out, errOut)
	}
	var pubHex string
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "public key "); ok {
			pubHex = v
		}
	}
	pubBytes, _ := hex.DecodeString(pubHex)
	pub, err := btcec.ParsePubKey(pubBytes)
	if err != nil {
		t.Fatalf("keygen printed no public key: %q", out)
	}
	sign := func(cfg, nonce string) (api.SignResponse, string, int) {
		d, err := custody.DrillDigest(nonce) // the drill message each signer recomputes
		if err != nil {
			t.Fatal(err)
		}
		out, errOut, code := triad(t, bin, "sign", "-c", cfg, "--key-id", "canary-1", "--nonce", nonce)
		var res api.SignResponse
		if code == 0 {
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("sign output: %v: %s", err, out)
			}
			if res.Digest != hex.EncodeToString(d[:]) {
				t.Fatalf("signed %s, not the drill message of %s", res.Digest, nonce)
			}
			verifyHex(t, pub, d, res)
		}
		return res, errOut, code
	}
	for _, p := range node.DefaultParties {
		if _, errOut, code := sign(started[p].cfg, "from-"+p); code != 0 {
			t.Fatalf("sign via %s: %d %s", p, code, errOut)
		}
	}
	// ../shared/SECURITY.md scenario 33: a canary key signs no digest the caller chose (a
	// canary account's sighash, say): the node's own policy refuses it
	// before any partner hears of it, as the caller's mistake (exit 1).
	d := tss.DeriveSessionID(tss.Sign, []byte("any 32 bytes"))
	for _, args := range [][]string{{"--digest", hex.EncodeToString(d[:])}, {"--nonce", "n-1", "--digest", hex.EncodeToString(d[:])}} {
		out, errOut, code := triad(t, bin, append([]string{"sign", "-c", cust, "--key-id", "canary-1"}, args...)...)
		if code != 1 || !strings.Contains(errOut, "policy_refused (403)") || !strings.Contains(errOut, "drill message") {
			t.Fatalf("canary signature over a chosen digest %v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	// The raw path is refused for a custody key by policy, before any
	// session: the key does not even need to exist for the refusal.
	if _, errOut, code := triad(t, bin, "sign", "-c", cust, "--key-id", "vault-1", "--nonce", "n-2"); code != 1 {
		t.Fatalf("raw signing with a custody key: exit %d, %s", code, errOut)
	}
	// kill -9 the regulator: the other two still sign.
	started["regulator"].cmd.Process.Signal(syscall.SIGKILL)
	started["regulator"].cmd.Wait()
	res, errOut, code := sign(cust, "regulator-dead")
	if code != 0 {
		t.Fatalf("sign with the regulator down: %d %s", code, errOut)
	}
	if strings.Join(res.Signers, "+") != "custodian+exchange" {
		t.Fatalf("signed by %v", res.Signers)
	}
	// kill -9 the exchange too: a clean error, well within the deadline.
	started["exchange"].cmd.Process.Signal(syscall.SIGKILL)
	started["exchange"].cmd.Wait()
	start := time.Now()
	_, errOut, code = sign(cust, "two-dead")
	if code == 0 || !strings.Contains(errOut, "no signer pair") {
		t.Fatalf("two down: exit %d, %s", code, errOut)
	}
	if el := time.Since(start); el > 8*time.Second {
		t.Fatalf("two down took %v, deadline 8s", el)
	}
}

func verifyHex(t *testing.T, pub *btcec.PublicKey, d [32]byte, res api.SignResponse) {
	t.Helper()
	r, _ := new(big.Int).SetString(res.R, 16)
	s, _ := new(big.Int).SetString(res.S, 16)
	if sig := (&tss.Signature{R: r, S: s, Digest: d}); !sig.Verify(pub) {
		t.Fatalf("signature by %v does not verify", res.Signers)
	}
}
