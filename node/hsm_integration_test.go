package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/hsm/softhsmtest"
	"github.com/triad-custody/triad/hsm/vaulttest"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

// syncBuffer collects the nodes' logs, to search them for key material.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

// secretForms are the encodings a leaked scalar could take on disk or in a
// log: raw big-endian bytes (minimal and 32-byte), decimal, hex, base64.
func secretForms(name string, x *big.Int) map[string][]byte {
	b32 := x.FillBytes(make([]byte, 32))
	hex := x.Text(16)
	return map[string][]byte{
		name + " bytes":          x.Bytes(),
		name + " bytes32":        b32,
		name + " decimal":        []byte(x.String()),
		name + " hex":            []byte(hex),
		name + " HEX":            []byte(strings.ToUpper(hex)),
		name + " hex32":          fmt.Appendf(nil, "%064x", b32),
		name + " base64":         []byte(base64.StdEncoding.EncodeToString(x.Bytes())),
		name + " base64 bytes32": []byte(base64.StdEncoding.EncodeToString(b32)),
	}
}

// findPlaintext returns "file: form" for every file under dirs (and the
// log) holding one of secrets. It names the form, never the value.
func findPlaintext(t *testing.T, dirs []string, logs []byte, secrets map[string][]byte) []string {
	t.Helper()
	var hits []string
	check := func(where string, b []byte) {
		for form, s := range secrets {
			if len(s) >= 16 && bytes.Contains(b, s) {
				hits = append(hits, where+": "+form)
			}
		}
	}
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			check(p, b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check("logs", logs)
	sort.Strings(hits)
	return hits
}

// snapshotDir maps each file under dir to a hash of its contents.
func snapshotDir(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = sha256.Sum256(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeNodeConfig writes and loads one node's YAML config, pinning the
// other parties by their peer.id files and, when known, their addresses.
func writeNodeConfig(t *testing.T, root, party, hsmYAML string, addrs map[string][]string) *Config {
	t.Helper()
	var peers strings.Builder
	for _, o := range parties {
		if o == party {
			continue
		}
		fmt.Fprintf(&peers, "  - party: %s\n    peer_id_file: %s\n", o, filepath.Join(root, o, "peer.id"))
		if len(addrs[o]) > 0 {
			fmt.Fprintf(&peers, "    addrs: [%s]\n", strings.Join(addrs[o], ", "))
		}
	}
	// The node's sections only: the policy is daemon.Config's, and the
	// keys to generate come from StartOptions.KeygenRule.
	y := fmt.Sprintf(`party: %s
parties: [custodian, exchange, regulator]
data_dir: %s
p2p: {listen: [/ip4/127.0.0.1/tcp/0], dial_timeout: 3s}
peers:
%ssessions: {sign_timeout: 20s, keygen_timeout: 3m}
preparams: {target: 1, concurrency: 1, generate: false}
log: {level: info}
hsm:
%s
`, party, filepath.Join(root, party), peers.String(), hsmYAML)
	p := filepath.Join(root, party+".yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadNodeConfig(p)
	if err != nil {
		t.Fatalf("%s config: %v\n%s", party, err, y)
	}
	return c
}

// loadNodeConfig decodes and validates a file holding only the node's
// sections, strictly (daemon.LoadConfig loads a whole node config; node's
// tests cannot import it).
func loadNodeConfig(path string) (*Config, error) {
	v := viper.New()
	v.SetConfigFile(path)
	if err := v.ReadInConfig(); err != nil {
		return nil, err
	}
	var c Config
	if err := v.UnmarshalExact(&c, viper.DecodeHook(mapstructure.StringToTimeDurationHookFunc())); err != nil {
		return nil, err
	}
	c.SetDir(filepath.Dir(path))
	c.HSM.Local.SaltFile = c.Resolve(c.HSM.Local.SaltFile)
	return &c, c.Validate()
}

// The three-node DKG and signing by every pair with each node on another
// backend: custodian PKCS#11 (SoftHSM2), exchange Vault Transit (a real
// Vault server), regulator local. No share is on disk or in a log in the
// clear. Vault is then stopped: the exchange refuses to sign with a clear
// error and reports not ready, the other pair still signs, nothing is
// written; Vault back, the same exchange runtime signs again.
func TestThreeBackendsKeygenSignVaultOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a DKG against Vault and SoftHSM2")
	}
	vsrv := vaulttest.Start(t, vaulttest.Options{})
	tok := softhsmtest.NewToken(t)
	t.Setenv("TRIAD_TEST_PASSPHRASE", "three-backends-test-passphrase")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	vcfg := vsrv.SealerConfig(t, "triad-exchange")
	pcfg := tok.Config("triad-custodian")
	hsmYAML := map[string]string{
		"custodian": fmt.Sprintf("  backend: pkcs11\n  pkcs11: {module: %s, token_label: %s, pin_file: %s, key_label: %s}",
			pcfg.Module, pcfg.TokenLabel, pcfg.PINFile, pcfg.KeyLabel),
		"exchange": fmt.Sprintf("  backend: vault-transit\n  vault: {address: %q, transit_key: %s, timeout: 5s, auth: {method: token, token_file: %s}}",
			vcfg.Address, vcfg.TransitKey, vcfg.Auth.TokenFile),
		"regulator": "  backend: local\n  local: {passphrase_env: TRIAD_TEST_PASSPHRASE, argon2: {time: 1, memory_kib: 8192, threads: 1}}",
	}
	// What `triad hsm init` does for the custodian; Vault creates its key.
	if created, err := hsm.InitPKCS11(ctx, pcfg); err != nil || !created {
		t.Fatalf("InitPKCS11: created=%v err=%v", created, err)
	}

	root := t.TempDir()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sealers := map[string]hsm.Sealer{}
	var dataDirs []string
	for i, p := range parties {
		cfg := writeNodeConfig(t, root, p, hsmYAML[p], nil)
		cfg.HSM.Logger = log.With("node", p)
		s, err := hsm.New(ctx, cfg.HSM)
		if err != nil {
			t.Fatalf("%s: opening %s: %v", p, cfg.HSM.Backend, err)
		}
		t.Cleanup(func() { s.Close() })
		sealers[p] = s
		if _, err := Init(ctx, cfg, s); err != nil {
			t.Fatalf("%s: init: %v", p, err)
		}
		list, err := fixtures.PreParamsList(i)
		if err != nil {
			t.Fatal(err)
		}
		if err := SeedPreParams(ctx, cfg, s, list); err != nil {
			t.Fatalf("%s: seeding pre-params: %v", p, err)
		}
		dataDirs = append(dataDirs, cfg.Resolve(cfg.DataDir))
	}
	// Each node starts knowing the addresses of those already up.
	rts := map[string]*Runtime{}
	addrs := map[string][]string{}
	for _, p := range parties {
		cfg := writeNodeConfig(t, root, p, hsmYAML[p], addrs)
		rt, err := Start(ctx, cfg, StartOptions{Sealer: sealers[p], Logger: log.With("node", p),
			KeygenRule: custody.Policy{Keys: []custody.KeyConfig{{ID: "canary-1", Role: custody.RoleCanary}}}.KeygenRule})
		if err != nil {
			t.Fatalf("%s: start: %v", p, err)
		}
		t.Cleanup(func() { rt.Close() })
		if err := rt.Serve(AllowAll{}); err != nil {
			t.Fatalf("%s: serve: %v", p, err)
		}
		for _, a := range rt.Host.Addrs() {
			addrs[p] = append(addrs[p], a.String())
		}
		rts[p] = rt
	}
	for i := len(parties) - 1; i >= 0; i-- {
		rts[parties[i]].Host.Connect(ctx)
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	for _, p := range parties {
		for _, o := range parties {
			if o == p {
				continue
			}
			if err := rts[p].Host.WaitConnected(wctx, o); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
		}
	}
	if !strings.Contains(string(logs.Bytes()), "LOCAL PASSPHRASE") {
		t.Error("the local-backend node did not warn that it is not HSM-backed")
	}

	share, err := rts["exchange"].Node.Keygen(ctx, "canary-1")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := share.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{}
	want := map[string]string{"custodian": hsm.BackendPKCS11, "exchange": hsm.BackendVault, "regulator": hsm.BackendLocal}
	for i, p := range parties {
		s, err := rts[p].Keys.Load(ctx, "canary-1")
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if pk, _ := s.PublicKey(); !pk.IsEqual(pub) {
			t.Fatalf("%s holds a different group key", p)
		}
		for form, v := range secretForms(p+" share Xi", s.Data.Xi) {
			secrets[form] = v
		}
		id, err := loadIdentity(ctx, rts[p].Cfg, sealers[p])
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := id.Raw()
		secrets[p+" identity key"] = raw[:32]
		b, err := os.ReadFile(filepath.Join(dataDirs[i], keystore.KeysDir, "canary-1.share"))
		if err != nil {
			t.Fatal(err)
		}
		if bi, err := hsm.Inspect(b); err != nil || bi.Backend != want[p] {
			t.Fatalf("%s: share sealed by %+v (%v), want %s", p, bi, err, want[p])
		}
	}
	// The search finds a share written the way Triad serializes it ...
	plain, err := tss.MarshalShare(share)
	if err != nil {
		t.Fatal(err)
	}
	control := t.TempDir()
	if err := os.WriteFile(filepath.Join(control, "plain.json"), plain, 0o600); err != nil {
		t.Fatal(err)
	}
	clear(plain)
	if hits := findPlaintext(t, []string{control}, nil, secrets); len(hits) == 0 {
		t.Fatal("the plaintext search does not find a serialized share")
	}
	// ... and finds none in the data dirs, the token or the logs.
	if hits := findPlaintext(t, append(dataDirs, tok.Dir), logs.Bytes(), secrets); len(hits) > 0 {
		t.Fatalf("secret material in the clear after keygen:\n%s", strings.Join(hits, "\n"))
	}

	sign := func(coord, partner, label string) (*SignResult, error) {
		return rts[coord].Node.Sign(ctx, SignRequest{KeyID: "canary-1", RequestID: label, Digest: sha256.Sum256([]byte(label)), Partner: partner})
	}
	for _, pr := range [][2]string{{"custodian", "exchange"}, {"exchange", "regulator"}, {"regulator", "custodian"}} {
		res, err := sign(pr[0], pr[1], "pair "+pr[0]+"+"+pr[1])
		if err != nil {
			t.Fatalf("%s with %s: %v", pr[0], pr[1], err)
		}
		verifySig(t, pub, res.Signature)
		if len(res.Attempts) != 1 {
			t.Fatalf("%s with %s: %d attempts", pr[0], pr[1], len(res.Attempts))
		}
	}

	// Vault goes away mid-run.
	vsrv.Stop(t)
	ex := rts["exchange"]
	exDir := dataDirs[1]
	before := snapshotDir(t, exDir)
	if err := ex.Ready(ctx); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("exchange ready with Vault down: %v", err)
	}
	_, err = sign("exchange", "", "vault down at the exchange")
	if !errors.Is(err, hsm.ErrUnavailable) || !strings.Contains(err.Error(), "HSM not ready") {
		t.Fatalf("exchange signed or failed unclearly with Vault down: %v", err)
	}
	res, err := sign("custodian", "exchange", "vault down, custodian asks the exchange first")
	if err != nil {
		t.Fatalf("the other pair could not sign with the exchange's Vault down: %v", err)
	}
	verifySig(t, pub, res.Signature)
	if strings.Join(res.Signers, "+") != "custodian+regulator" || len(res.Attempts) != 2 ||
		!strings.Contains(res.Attempts[0].Error, "declined") || !strings.Contains(res.Attempts[0].Error, "HSM not ready") {
		t.Fatalf("with the exchange's Vault down: signers %v, attempts %+v", res.Signers, res.Attempts)
	}
	after := snapshotDir(t, exDir)
	if len(after) != len(before) {
		t.Fatalf("files appeared in the exchange's data dir with Vault down: %d -> %d", len(before), len(after))
	}
	for p, h := range before {
		if after[p] != h {
			t.Fatalf("%s changed with Vault down", p)
		}
	}

	// Vault back: the same runtime recovers without a restart.
	vsrv.Restart(t, true)
	if err := ex.Ready(ctx); err != nil {
		t.Fatalf("exchange not ready once Vault is back: %v", err)
	}
	res, err = sign("exchange", "regulator", "vault back")
	if err != nil {
		t.Fatalf("exchange cannot sign once Vault is back: %v", err)
	}
	verifySig(t, pub, res.Signature)
	if hits := findPlaintext(t, append(dataDirs, tok.Dir), logs.Bytes(), secrets); len(hits) > 0 {
		t.Fatalf("secret material in the clear:\n%s", strings.Join(hits, "\n"))
	}
}
