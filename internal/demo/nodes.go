package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
)

// Sealers are the demo nodes' local passphrase sealers. The random
// passphrase lives in the demo dir, so cached pre-params survive between
// runs; each node has its own salt file (dir/<party>.salt, outside its data
// dir, as configs/*.yaml have), so a reshare re-keys each node's sealer on
// its own. Until the first re-key the salt file is absent and the key is
// the passphrase's alone (hsm.Local.LoadSaltFile).
func Sealers(dir string) (map[string]hsm.Sealer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	pf := filepath.Join(dir, "demo-passphrase")
	b, err := os.ReadFile(pf)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, 24)
		rand.Read(raw)
		b = []byte(hex.EncodeToString(raw))
		if err := hsm.WriteFileAtomic(pf, b, 0o600); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	out := map[string]hsm.Sealer{}
	for _, p := range node.DefaultParties {
		l, err := hsm.NewLocal([]byte(strings.TrimSpace(string(b))), hsm.Argon2Params{})
		if err != nil {
			return nil, err
		}
		if err := l.LoadSaltFile(SaltFile(dir, p)); err != nil {
			return nil, err
		}
		out[p] = l
	}
	return out, nil
}

// SaltFile is party's salt file in the demo dir.
func SaltFile(dir, party string) string { return filepath.Join(dir, party+".salt") }

func startDemoNodes(ctx context.Context, out io.Writer, dir, keyID string, sealers map[string]hsm.Sealer, log *slog.Logger) ([]*node.Runtime, error) {
	cfgs := map[string]*node.Config{}
	for _, p := range node.DefaultParties {
		c := &node.Config{Party: p, DataDir: filepath.Join(dir, p), Parties: node.DefaultParties,
			P2P:       node.P2PConfig{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, DialTimeout: 3 * time.Second},
			Sessions:  node.SessionsConfig{SignTimeout: 60 * time.Second, KeygenTimeout: 10 * time.Minute},
			PreParams: node.PreParamsConfig{Target: 1, Concurrency: 1, Generate: true},
			HSM:       hsm.Config{Backend: "local", Local: hsm.LocalConfig{SaltFile: SaltFile(dir, p)}},
			Log:       node.LogConfig{Level: "error"}}
		// Each demo run makes a fresh key; old demo shares are dropped.
		os.RemoveAll(filepath.Join(c.DataDir, "keys"))
		cached, err := restoreDemoPreParams(c.DataDir)
		if err != nil {
			return nil, err
		}
		c.PreParams.Generate = !cached
		if _, err := os.Stat(filepath.Join(c.DataDir, "identity.sealed")); errors.Is(err, os.ErrNotExist) {
			if _, err := node.Init(ctx, c, sealers[p]); err != nil {
				return nil, err
			}
		}
		cfgs[p] = c
	}
	var rts []*node.Runtime
	for _, p := range node.DefaultParties {
		c := cfgs[p]
		for _, o := range node.DefaultParties {
			if o == p {
				continue
			}
			pc := node.PeerConfig{Party: o, PeerIDFile: filepath.Join(cfgs[o].DataDir, "peer.id")}
			for _, rt := range rts {
				if rt.Cfg.Party == o {
					for _, a := range rt.Host.Addrs() {
						pc.Addrs = append(pc.Addrs, strings.TrimSuffix(a.String(), "/p2p/"+rt.Host.ID().String()))
					}
				}
			}
			c.Peers = append(c.Peers, pc)
		}
		// No custody service runs: the canary key signs drill messages only.
		pol := custody.Policy{Party: custody.Party(p), Keys: []custody.KeyConfig{{ID: keyID, Role: custody.RoleCanary}}}
		rt, err := node.Start(ctx, c, node.StartOptions{Sealer: sealers[p], Logger: log.With("party", p), KeygenRule: pol.KeygenRule})
		if err != nil {
			return rts, fmt.Errorf("starting %s: %w", p, err)
		}
		rts = append(rts, rt)
		if err := rt.Serve(service.RawSignPolicy{Policy: pol}); err != nil {
			return rts, fmt.Errorf("starting %s: %w", p, err)
		}
		fmt.Fprintf(out, "%-9s node up: peer %s on %s\n", p, shortPeer(rt.Host.ID()), rt.Host.Addrs()[0])
	}
	// Each node knows the addresses of those started before it: dialling
	// them now connects every pair before the DKG needs them.
	for _, rt := range rts {
		rt.Host.Connect(ctx)
	}
	return rts, nil
}

// The demo reuses each node's first pre-params on every run (a DKG takes
// them from the pool): a sealed copy is kept beside the pool file. Reusing
// pre-params across keys is for demos only; a real node never does.
const demoPreParams = "demo-preparams.sealed"

func restoreDemoPreParams(dataDir string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, demoPreParams))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, hsm.WriteFileAtomic(filepath.Join(dataDir, "preparams.sealed"), b, 0o600)
}

func keepDemoPreParams(rts []*node.Runtime) error {
	for _, rt := range rts {
		dir := rt.Cfg.DataDir
		if _, err := os.Stat(filepath.Join(dir, demoPreParams)); err == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "preparams.sealed"))
		if err != nil {
			return fmt.Errorf("keeping the demo pre-params: %w", err)
		}
		if err := hsm.WriteFileAtomic(filepath.Join(dir, demoPreParams), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func shortPeer(id peer.ID) string {
	s := id.String()
	return s[:8] + "…" + s[len(s)-6:]
}

// waitPreParams shows progress until every node has pre-params ready.
func waitPreParams(ctx context.Context, out io.Writer, rts []*node.Runtime) error {
	last := ""
	for {
		allReady := true
		var parts []string
		for _, rt := range rts {
			ready, _ := rt.Pool.Ready()
			allReady = allReady && ready > 0
			parts = append(parts, fmt.Sprintf("%s %d/1", rt.Cfg.Party, ready))
		}
		line := "pre-params: " + strings.Join(parts, ", ")
		switch {
		case line == last:
		case allReady && last == "":
			fmt.Fprintln(out, line+" (cached)")
		case allReady:
			fmt.Fprintln(out, line+" (ready)")
		default:
			fmt.Fprintln(out, line+" (generating safe primes: 10-80 s each, first run only)")
		}
		last = line
		if allReady {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for pre-params: %w", ctx.Err())
		case <-time.After(time.Second): // progress display, not synchronisation
		}
	}
}
