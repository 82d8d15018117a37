package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/hsm/softhsmtest"
	"github.com/triad-custody/triad/hsm/vaulttest"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/node/nodetest"
	"github.com/triad-custody/triad/tss/fixtures"
)

// runTriad runs the CLI in this process and returns what it printed.
func runTriad(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func mustContain(t *testing.T, what, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Fatalf("%s: output lacks %q:\n%s", what, s, out)
		}
	}
}

func randomPeerID(t *testing.T) string {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// testOperatorsYAML is a policy section with the demo operators (a policy
// must name every party's operators).
const testOperatorsYAML = `policy:
  operators:
    custodian: [{name: alice, public_key: 43f24f97b86dbb8cec4a4ce5d939c248bc57786d02039c0e9a581c5550120ae7}]
    exchange: [{name: bob, public_key: 7e8aea5a283ba9428634fc035b4b3a58e0c6ec1ca887c6c6fa1954504e017c18}]
    regulator: [{name: carol, public_key: 7cd9562ba0913debaaabb9753d86da8ac148de058b06094270834eb7edf63efa}]
`

// writeHSMConfig writes a node config for party with the given hsm section
// (indented under "hsm:"); the other parties are pinned by random IDs.
func writeHSMConfig(t *testing.T, party, hsmYAML string) string {
	t.Helper()
	dir := t.TempDir()
	var peers strings.Builder
	for _, o := range node.DefaultParties {
		if o != party {
			fmt.Fprintf(&peers, "  - {party: %s, peer_id: %s}\n", o, randomPeerID(t))
		}
	}
	y := fmt.Sprintf("party: %s\ndata_dir: data\np2p: {listen: [/ip4/127.0.0.1/tcp/0]}\npeers:\n%s"+
		"preparams: {target: 1, concurrency: 1, generate: false}\nhsm:\n%s\n"+testOperatorsYAML, party, peers.String(), hsmYAML)
	p := filepath.Join(dir, party+".yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// `triad hsm init` creates the PKCS#11 key once and then finds it; `hsm
// status` checks it; the local backend has nothing to initialize or rewrap.
func TestHSMInitStatusCLI(t *testing.T) {
	tok := softhsmtest.NewToken(t)
	pc := tok.Config("triad-custodian")
	cfg := writeHSMConfig(t, "custodian", fmt.Sprintf("  backend: pkcs11\n  pkcs11: {module: %s, token_label: %s, pin_file: %s, key_label: %s}",
		pc.Module, pc.TokenLabel, pc.PINFile, pc.KeyLabel))

	out, err := runTriad(t, "hsm", "status", "-c", cfg)
	if err == nil {
		t.Fatalf("hsm status before hsm init succeeded:\n%s", out)
	}
	mustContain(t, "status before init", out, "NOT READY", "triad hsm init")
	out, err = runTriad(t, "hsm", "init", "-c", cfg)
	if err != nil {
		t.Fatalf("hsm init: %v\n%s", err, out)
	}
	mustContain(t, "first hsm init", out, `created AES-256 key "triad-custodian"`, "not extractable", "key usable: ok")
	out, err = runTriad(t, "hsm", "init", "-c", cfg)
	if err != nil {
		t.Fatalf("second hsm init: %v\n%s", err, out)
	}
	mustContain(t, "second hsm init", out, "already in the token: nothing to do")
	if out, err = runTriad(t, "init", "-c", cfg); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	out, err = runTriad(t, "hsm", "status", "-c", cfg)
	if err != nil {
		t.Fatalf("hsm status: %v\n%s", err, out)
	}
	mustContain(t, "hsm status", out, "health     ok", "identity.sealed", hsm.BackendPKCS11)

	t.Setenv("TRIAD_TEST_PASSPHRASE", "cli-local-test-passphrase")
	local := writeHSMConfig(t, "regulator", "  backend: local\n  local: {passphrase_env: TRIAD_TEST_PASSPHRASE}")
	out, err = runTriad(t, "hsm", "init", "-c", local)
	if err != nil {
		t.Fatalf("hsm init (local): %v\n%s", err, out)
	}
	mustContain(t, "hsm init (local)", out, "nothing to initialize", "NOT HSM-backed")
	_, err = runTriad(t, "shard", "rewrap", "-c", local)
	var ue userError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "only to vault-transit") {
		t.Fatalf("shard rewrap on a local node: %v", err)
	}
}

// Transit key rotation end to end through the CLI: `shard rewrap --rotate`
// moves every sealed file to the new version, the minimum is raised, the
// node still opens everything, and a copy left at the old version is
// refused with a clear message. Then Vault stops: /readyz answers 503 and
// `hsm status` says NOT READY; Vault back, ready again without a restart.
func TestShardRewrapRotationCLI(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	vc := srv.SealerConfig(t, "triad-exchange")
	cfgPath := writeHSMConfig(t, "exchange", fmt.Sprintf("  backend: vault-transit\n  vault: {address: %q, transit_key: %s, auth: {token_file: %s}}",
		vc.Address, vc.TransitKey, vc.Auth.TokenFile))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	out, err := runTriad(t, "hsm", "init", "-c", cfgPath)
	if err != nil {
		t.Fatalf("hsm init: %v\n%s", err, out)
	}
	mustContain(t, "hsm init", out, `transit key "triad-exchange"`, "derived, not exportable", "latest version 1")
	if out, err := runTriad(t, "init", "-c", cfgPath); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	cfg, err := loadNodeConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := hsm.New(ctx, cfg.HSM)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list, err := fixtures.PreParamsList(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.SeedPreParams(ctx, cfg, s, list); err != nil {
		t.Fatal(err)
	}
	keysDir := filepath.Join(cfg.Resolve(cfg.DataDir), "keys")
	nodetest.KeyStore(t, keysDir, "exchange", s)
	sharePath := filepath.Join(keysDir, fixtures.KeyID+".share")
	oldBlob, err := os.ReadFile(sharePath)
	if err != nil {
		t.Fatal(err)
	}

	out, err = runTriad(t, "shard", "rewrap", "-c", cfgPath, "--rotate")
	if err != nil {
		t.Fatalf("shard rewrap --rotate: %v\n%s", err, out)
	}
	mustContain(t, "shard rewrap --rotate", out, "latest version now 2", "rewrapped  identity.sealed", "rewrapped  preparams.sealed",
		"rewrapped  keys/fixture.share", "v1 -> v2", "all 3 sealed file(s) are at version 2", "min_decryption_version=2")
	out, err = runTriad(t, "shard", "rewrap", "-c", cfgPath)
	if err != nil || strings.Count(out, "current ") != 3 {
		t.Fatalf("second rewrap should find every file current: %v\n%s", err, out)
	}

	// The operator raises the minimum: version 1 is gone for good.
	if _, err := srv.Client(t).Logical().WriteWithContext(ctx, "transit/keys/triad-exchange/config",
		map[string]any{"min_decryption_version": 2}); err != nil {
		t.Fatal(err)
	}
	out, err = runTriad(t, "hsm", "status", "-c", cfgPath)
	if err != nil {
		t.Fatalf("hsm status after rotation: %v\n%s", err, out)
	}
	mustContain(t, "hsm status", out, "health     ok", "latest version 2, min_decryption_version 2", "vault-transit v2")
	files, err := keystore.SealedFiles(cfg.SealedDir(), s)
	if err != nil || len(files) != 3 {
		t.Fatalf("sealed files: %v %v", files, err)
	}
	for _, f := range files {
		pt, err := f.Read(ctx)
		if err != nil {
			t.Fatalf("%s after rewrap and raised minimum: %v", f.Rel, err)
		}
		clear(pt)
	}
	fresh, err := keystore.New(keysDir, "exchange", s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Load(ctx, fixtures.KeyID); err != nil {
		t.Fatalf("share after rewrap: %v", err)
	}

	// A copy left at version 1 (an old backup put back) is refused.
	if err := os.WriteFile(sharePath, oldBlob, 0o600); err != nil {
		t.Fatal(err)
	}
	stale, err := keystore.New(keysDir, "exchange", s)
	if err != nil {
		t.Fatal(err)
	}
	_, err = stale.Load(ctx, fixtures.KeyID)
	if !errors.Is(err, hsm.ErrVersionBelowMinimum) || !strings.Contains(err.Error(), "version below minimum") {
		t.Fatalf("old ciphertext after the minimum was raised: %v", err)
	}
	out, err = runTriad(t, "hsm", "status", "-c", cfgPath)
	if err == nil {
		t.Fatalf("hsm status passed with an unusable shard:\n%s", out)
	}
	mustContain(t, "hsm status with an old shard", out, "keys/fixture.share", "vault-transit v1  UNUSABLE: below min_decryption_version 2")
	out, err = runTriad(t, "shard", "rewrap", "-c", cfgPath)
	if err == nil {
		t.Fatalf("rewrap of an old shard succeeded:\n%s", out)
	}
	mustContain(t, "rewrap of an old shard", out, "FAILED     keys/fixture.share", "below its min_decryption_version 2",
		"lower min_decryption_version to 1")

	// Vault goes away under a running node, then comes back.
	rt, err := node.Start(ctx, cfg, node.StartOptions{Sealer: s})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if err := rt.Serve(node.AllowAll{}); err != nil {
		t.Fatal(err)
	}
	a, err := api.New(rt, api.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a)
	defer hs.Close()
	readyz := func() (int, string) {
		t.Helper()
		resp, err := hs.Client().Get(hs.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("readyz with Vault up: %d %s", code, body)
	}
	srv.Stop(t)
	if code, body := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "unavailable") {
		t.Fatalf("readyz with Vault down: %d %s", code, body)
	}
	out, err = runTriad(t, "hsm", "status", "-c", cfgPath)
	if err == nil {
		t.Fatalf("hsm status with Vault down succeeded:\n%s", out)
	}
	mustContain(t, "hsm status with Vault down", out, "health     NOT READY", "unavailable")
	srv.Restart(t, true)
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("readyz once Vault is back: %d %s", code, body)
	}
}
