package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node/p2p"
)

// Config is the MPC daemon's part of a node's configuration file: its
// party, data dir, libp2p host and pinned peers, session deadlines,
// pre-params pool, HSM and log level. The file as a whole
// (with custody's policy and the chain sections) is daemon.Config, which
// loads it (configs/sample.yaml documents every key). Secrets are never
// in it: only the names of environment variables or files holding them.
type Config struct {
	Party     string          `mapstructure:"party"`
	DataDir   string          `mapstructure:"data_dir"`
	Parties   []string        `mapstructure:"parties"`
	P2P       P2PConfig       `mapstructure:"p2p"`
	Peers     []PeerConfig    `mapstructure:"peers"`
	Sessions  SessionsConfig  `mapstructure:"sessions"`
	PreParams PreParamsConfig `mapstructure:"preparams"`
	HSM       hsm.Config      `mapstructure:"hsm"`
	Log       LogConfig       `mapstructure:"log"`

	// dir is the directory of the config file; relative paths resolve
	// against it.
	dir string
}

// P2PConfig configures the libp2p host.
type P2PConfig struct {
	Listen      []string      `mapstructure:"listen"`
	DialTimeout time.Duration `mapstructure:"dial_timeout"`
}

// PeerConfig pins one other party. PeerID or PeerIDFile (a file written by
// that party's `triad init`, for loopback clusters) gives its identity.
type PeerConfig struct {
	Party      string   `mapstructure:"party"`
	PeerID     string   `mapstructure:"peer_id"`
	PeerIDFile string   `mapstructure:"peer_id_file"`
	Addrs      []string `mapstructure:"addrs"`
}

// SessionsConfig sets session deadlines.
type SessionsConfig struct {
	SignTimeout   time.Duration `mapstructure:"sign_timeout"`
	KeygenTimeout time.Duration `mapstructure:"keygen_timeout"`
}

// PreParamsConfig sizes the background pre-params pool.
type PreParamsConfig struct {
	Target      int `mapstructure:"target"`
	Concurrency int `mapstructure:"concurrency"`
	// Generate: make pre-params in the background (default true); false
	// when they are provisioned (node.SeedPreParams) or in tests.
	Generate bool `mapstructure:"generate"`
}

// LogConfig sets the log level: debug, info, warn, error.
type LogConfig struct {
	Level string `mapstructure:"level"`
}

// ErrConfig prefixes every configuration error; the message names the key.
var ErrConfig = errors.New("invalid config")

// ConfigError is an ErrConfig naming key.
func ConfigError(key, format string, a ...any) error { return cfgErr(key, format, a...) }

func cfgErr(key, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, a...))
}

// DefaultParties are the three Triad parties.
var DefaultParties = []string{"custodian", "exchange", "regulator"}

// SetDir sets the directory relative paths resolve against: the config
// file's (daemon.LoadConfig).
func (c *Config) SetDir(dir string) { c.dir = dir }

// Resolve makes a config-relative path absolute.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// Validate checks every key and names the first bad one.
func (c *Config) Validate() error {
	for _, check := range []func() error{c.validateIdentity, c.validatePeers, c.validateLimits, c.HSM.Validate, c.validateLog} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateIdentity checks party, parties, data_dir and p2p.listen.
func (c *Config) validateIdentity() error {
	if !validName(c.Party) {
		return cfgErr("party", "required: one of %v", c.Parties)
	}
	if len(c.Parties) != 3 || !contains(c.Parties, c.Party) {
		return cfgErr("parties", "must list three parties including %q, got %v", c.Party, c.Parties)
	}
	if c.DataDir == "" {
		return cfgErr("data_dir", "required")
	}
	for i, l := range c.P2P.Listen {
		if _, err := ma.NewMultiaddr(l); err != nil {
			return cfgErr(fmt.Sprintf("p2p.listen[%d]", i), "%q is not a multiaddr: %v", l, err)
		}
	}
	return nil
}

// validatePeers checks that peers pins each other party once.
func (c *Config) validatePeers() error {
	seen := map[string]bool{}
	for i, p := range c.Peers {
		key := fmt.Sprintf("peers[%d]", i)
		if !contains(c.Parties, p.Party) || p.Party == c.Party || seen[p.Party] {
			return cfgErr(key+".party", "%q must be another party, listed once", p.Party)
		}
		seen[p.Party] = true
		if err := p.validate(key); err != nil {
			return err
		}
	}
	if len(seen) != len(c.Parties)-1 {
		return cfgErr("peers", "must pin the other %d parties, got %d", len(c.Parties)-1, len(seen))
	}
	return nil
}

// validate checks one peer's identity and addresses; key is its config key.
func (p PeerConfig) validate(key string) error {
	if (p.PeerID == "") == (p.PeerIDFile == "") {
		return cfgErr(key+".peer_id", "set exactly one of peer_id and peer_id_file")
	}
	if p.PeerID != "" {
		if _, err := peer.Decode(p.PeerID); err != nil {
			return cfgErr(key+".peer_id", "%q is not a libp2p peer ID: %v", p.PeerID, err)
		}
	}
	for j, a := range p.Addrs {
		if _, err := ma.NewMultiaddr(a); err != nil {
			return cfgErr(fmt.Sprintf("%s.addrs[%d]", key, j), "%q is not a multiaddr: %v", a, err)
		}
	}
	return nil
}

// validateLimits checks sessions and preparams.
func (c *Config) validateLimits() error {
	if c.Sessions.SignTimeout < time.Second || c.Sessions.SignTimeout > 10*time.Minute {
		return cfgErr("sessions.sign_timeout", "must be between 1s and 10m, got %v", c.Sessions.SignTimeout)
	}
	if c.Sessions.KeygenTimeout < 10*time.Second || c.Sessions.KeygenTimeout > time.Hour {
		return cfgErr("sessions.keygen_timeout", "must be between 10s and 1h, got %v", c.Sessions.KeygenTimeout)
	}
	if c.PreParams.Target < 1 || c.PreParams.Target > 16 {
		return cfgErr("preparams.target", "must be in 1..16")
	}
	if c.PreParams.Concurrency < 1 || c.PreParams.Concurrency > 8 {
		return cfgErr("preparams.concurrency", "must be in 1..8")
	}
	return nil
}

// validateLog checks log.level.
func (c *Config) validateLog() error {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
		return nil
	}
	return cfgErr("log.level", "%q is not debug, info, warn or error", c.Log.Level)
}

// PinnedPeers resolves the peers section (reading peer_id_file where set).
func (c *Config) PinnedPeers() ([]p2p.Peer, error) {
	var out []p2p.Peer
	for i, p := range c.Peers {
		idStr := p.PeerID
		if p.PeerIDFile != "" {
			b, err := os.ReadFile(c.Resolve(p.PeerIDFile))
			if err != nil {
				return nil, cfgErr(fmt.Sprintf("peers[%d].peer_id_file", i), "%v (has %s run `triad init`?)", err, p.Party)
			}
			idStr = strings.TrimSpace(string(b))
		}
		id, err := peer.Decode(idStr)
		if err != nil {
			return nil, cfgErr(fmt.Sprintf("peers[%d]", i), "peer ID %q: %v", idStr, err)
		}
		pp := p2p.Peer{Party: p.Party, ID: id}
		for _, a := range p.Addrs {
			pp.Addrs = append(pp.Addrs, ma.StringCast(a))
		}
		out = append(out, pp)
	}
	return out, nil
}
