package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/viper"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/hsm"
)

// Config is one node's configuration file (configs/sample.yaml documents
// every key). Environment variables TRIAD_<SECTION>_<KEY> override it,
// e.g. TRIAD_API_LISTEN or TRIAD_SESSIONS_SIGN_TIMEOUT. Secrets are never
// in it: only the names of environment variables or files holding them.
type Config struct {
	Party     string          `mapstructure:"party"`
	DataDir   string          `mapstructure:"data_dir"`
	Parties   []string        `mapstructure:"parties"`
	P2P       P2PConfig       `mapstructure:"p2p"`
	Peers     []PeerConfig    `mapstructure:"peers"`
	API       APIConfig       `mapstructure:"api"`
	Sessions  SessionsConfig  `mapstructure:"sessions"`
	PreParams PreParamsConfig `mapstructure:"preparams"`
	HSM       hsm.Config      `mapstructure:"hsm"`
	Policy    custody.Policy  `mapstructure:"policy"`
	Bitcoin   BitcoinConfig   `mapstructure:"bitcoin"`
	EVM       EVMConfig       `mapstructure:"evm"`
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

// APIConfig configures the HTTP API.
type APIConfig struct {
	Listen string `mapstructure:"listen"`
	// Credentials: every caller has its own token and role.
	Credentials  []Credential `mapstructure:"credentials"`
	MaxBodyBytes int64        `mapstructure:"max_body_bytes"`
	// TLS serves the API over HTTPS, optionally with client certificates.
	TLS APITLSConfig `mapstructure:"tls"`
}

// APITLSConfig serves the API over TLS. Paths resolve against the config
// file's directory. A node whose api.listen is not a loopback address
// refuses to start without TLS unless InsecurePlaintext is set.
type APITLSConfig struct {
	// CertFile is the server's PEM certificate chain (leaf first) and
	// KeyFile its PEM private key (not accessible to other users).
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
	// ClientCAFile, when set, turns on mutual TLS: every client must
	// present a certificate signed by one of these PEM CA certificates.
	ClientCAFile string `mapstructure:"client_ca_file"`
	// InsecurePlaintext allows plain HTTP on a non-loopback api.listen,
	// for a node behind a TLS-terminating proxy on a trusted network.
	InsecurePlaintext bool `mapstructure:"insecure_plaintext"`
}

// Enabled reports whether the API is served over TLS.
func (t APITLSConfig) Enabled() bool { return t.CertFile != "" }

// Credential is one API caller. The token is read from TokenEnv or
// TokenFile; only its hash is kept in memory.
type Credential struct {
	Name      string `mapstructure:"name"`
	Role      string `mapstructure:"role"` // admin | operator | margin-engine | auditor
	TokenEnv  string `mapstructure:"token_env"`
	TokenFile string `mapstructure:"token_file"`
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

// BitcoinConfig points at a btcd/bitcoind RPC endpoint (optional).
type BitcoinConfig struct {
	Network    string `mapstructure:"network"`
	RPCHost    string `mapstructure:"rpc_host"`
	RPCUser    string `mapstructure:"rpc_user"`
	RPCPassEnv string `mapstructure:"rpc_pass_env"`
	Broadcast  bool   `mapstructure:"broadcast"`
}

// EVMConfig lists the EVM chains this node signs for, each with its OWN
// EVM node (rpc_url), its fee and gas caps and the confirmation depth at
// which a settlement counts as paid (optional: a node without a chain
// signs no transaction on it).
type EVMConfig struct {
	Chains []evm.Config `mapstructure:"chains"`
}

// Chain returns the configured chain with the given chain ID.
func (e EVMConfig) Chain(chainID uint64) (evm.Config, bool) {
	for _, c := range e.Chains {
		if c.ChainID == chainID {
			return c, true
		}
	}
	return evm.Config{}, false
}

// LogConfig sets the log level: debug, info, warn, error.
type LogConfig struct {
	Level string `mapstructure:"level"`
}

// ErrConfig prefixes every configuration error; the message names the key.
var ErrConfig = errors.New("invalid config")

func cfgErr(key, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, a...))
}

// DefaultParties are the three Triad parties.
var DefaultParties = []string{"custodian", "exchange", "regulator"}

// LoadConfig reads a YAML file, applies TRIAD_* environment overrides and
// defaults, and validates. Unknown keys are errors, and so are TRIAD_*
// variables that are no key (checkEnv).
func LoadConfig(path string) (*Config, error) {
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	v.SetEnvPrefix("TRIAD")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	setDefaults(v)
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v", ErrConfig, path, err)
	}
	var c Config
	hook := mapstructure.ComposeDecodeHookFunc(mapstructure.StringToTimeDurationHookFunc(), mapstructure.StringToSliceHookFunc(","))
	if err := v.UnmarshalExact(&c, viper.DecodeHook(hook)); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrConfig, path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	c.dir = filepath.Dir(abs)
	// The local sealer's salt file is named relative to the config file,
	// like data_dir, whatever the working directory.
	c.HSM.Local.SaltFile = c.Resolve(c.HSM.Local.SaltFile)
	if c.Policy.Party == "" {
		c.Policy.Party = custody.Party(c.Party)
	}
	if err := checkEnv(&c, os.Environ()); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func setDefaults(v *viper.Viper) {
	v.SetDefault("parties", DefaultParties)
	v.SetDefault("p2p.listen", []string{"/ip4/127.0.0.1/tcp/0"})
	v.SetDefault("p2p.dial_timeout", "3s")
	v.SetDefault("api.listen", "127.0.0.1:0")
	v.SetDefault("api.max_body_bytes", 64<<10)
	v.SetDefault("api.tls.insecure_plaintext", false)
	v.SetDefault("sessions.sign_timeout", "30s")
	v.SetDefault("sessions.keygen_timeout", "5m")
	v.SetDefault("preparams.target", 2)
	v.SetDefault("preparams.concurrency", 1)
	v.SetDefault("preparams.generate", true)
	v.SetDefault("hsm.backend", "local")
	v.SetDefault("log.level", "info")
	// Policy defaults are the pilot's (custody.DefaultPolicy).
	d := custody.DefaultPolicy("")
	for k, val := range map[string]any{
		"policy.settlements_per_day": d.SettlementsPerDay, "policy.max_fee_rate": d.MaxFeeRate,
		"policy.liquidation_batches_per_day": d.LiquidationBatchesPerDay, "policy.max_fee": d.MaxFee,
		"policy.max_leverage_bps": d.MaxLeverageBps, "policy.evidence_max_age": d.EvidenceMaxAge.String(),
		"policy.approval_max_ttl": d.ApprovalMaxTTL.String(), "policy.clock_skew": d.ClockSkew.String(),
		"policy.notice_period": d.NoticePeriod.String(), "policy.unfreeze_lapse": d.UnfreezeLapse.String(),
		"policy.canary_notice_period":     "0s",
		"policy.liquidation_batch_window": d.LiquidationBatchWindow.String(), "policy.liquidation_batch_max": d.LiquidationBatchMax,
		"policy.max_signing_attempts": d.MaxSigningAttempts,
	} {
		v.SetDefault(k, val)
	}
	// Every key must be known to viper for TRIAD_* overrides to apply.
	for _, k := range []string{"party", "data_dir", "bitcoin.network", "bitcoin.rpc_host", "bitcoin.rpc_user",
		"bitcoin.rpc_pass_env", "bitcoin.broadcast", "hsm.local.passphrase_env", "hsm.local.passphrase_file",
		"api.tls.cert_file", "api.tls.key_file", "api.tls.client_ca_file"} {
		v.SetDefault(k, nil)
	}
}

// Resolve makes a config-relative path absolute.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// Validate checks every key and names the first bad one.
func (c *Config) Validate() error {
	for _, check := range []func() error{c.validateIdentity, c.validatePeers, c.validateAPI, c.validateAPITLS,
		c.validateLimits, c.HSM.Validate, c.validatePolicy} {
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

// validateAPI checks api.credentials and api.max_body_bytes.
func (c *Config) validateAPI() error {
	for i, cr := range c.API.Credentials {
		key := fmt.Sprintf("api.credentials[%d]", i)
		if !validName(cr.Name) {
			return cfgErr(key+".name", "required")
		}
		if !contains(Roles, cr.Role) {
			return cfgErr(key+".role", "%q is not one of %v", cr.Role, Roles)
		}
		if (cr.TokenEnv == "") == (cr.TokenFile == "") {
			return cfgErr(key+".token_env", "set exactly one of token_env and token_file")
		}
	}
	if c.API.MaxBodyBytes <= 0 || c.API.MaxBodyBytes > 16<<20 {
		return cfgErr("api.max_body_bytes", "must be in 1..16777216")
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

// validatePolicy checks log.level, then policy against this node's party.
func (c *Config) validatePolicy() error {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return cfgErr("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	if string(c.Policy.Party) != c.Party {
		return cfgErr("policy.party", "%q is not this node's party %q", c.Policy.Party, c.Party)
	}
	if err := c.Policy.Validate(); err != nil {
		return fmt.Errorf("%w: policy.%v", ErrConfig, strings.TrimPrefix(err.Error(), custody.ErrInvalidPolicy.Error()+": "))
	}
	return c.validateEVM()
}

// validateEVM checks every evm.chains entry: an http(s) rpc_url, a chain
// ID listed once, caps and confirmations in range (evm.Config.Validate),
// and the policy's assets and accounts on that chain well-formed
// (evm.NewPolicy: contract and recipient addresses).
func (c *Config) validateEVM() error {
	seen := map[uint64]bool{}
	for i, ch := range c.EVM.Chains {
		key := fmt.Sprintf("evm.chains[%d]", i)
		if ch.RPCURL == "" {
			return cfgErr(key+".rpc_url", "required: this node's own EVM node (http(s) JSON-RPC)")
		}
		if err := ch.Validate(); err != nil {
			msg := strings.TrimPrefix(err.Error(), evm.ErrConfig.Error()+": evm.")
			return fmt.Errorf("%w: %s.%s", ErrConfig, key, msg)
		}
		if seen[ch.ChainID] {
			return cfgErr(key+".chain_id", "chain %d is listed twice", ch.ChainID)
		}
		seen[ch.ChainID] = true
		if _, err := evm.NewPolicy(ch, c.Policy); err != nil {
			return cfgErr(key, "%v", strings.TrimPrefix(err.Error(), evm.ErrConfig.Error()+": "))
		}
	}
	return nil
}

// validateAPITLS checks api.tls and refuses plain HTTP off loopback.
func (c *Config) validateAPITLS() error {
	t := c.API.TLS
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		return cfgErr("api.tls.key_file", "required with api.tls.cert_file")
	case t.KeyFile != "" && t.CertFile == "":
		return cfgErr("api.tls.cert_file", "required with api.tls.key_file")
	case t.ClientCAFile != "" && t.CertFile == "":
		return cfgErr("api.tls.client_ca_file", "needs api.tls.cert_file and api.tls.key_file (client certificates are checked on top of TLS)")
	case t.InsecurePlaintext && t.Enabled():
		return cfgErr("api.tls.insecure_plaintext", "contradicts api.tls.cert_file: set one or the other")
	}
	for _, f := range []struct{ key, path string }{
		{"api.tls.cert_file", t.CertFile}, {"api.tls.key_file", t.KeyFile}, {"api.tls.client_ca_file", t.ClientCAFile},
	} {
		if f.path == "" {
			continue
		}
		st, err := os.Stat(c.Resolve(f.path))
		if err != nil {
			return cfgErr(f.key, "%v", err)
		}
		if st.IsDir() {
			return cfgErr(f.key, "%s is a directory", c.Resolve(f.path))
		}
	}
	host, _, err := net.SplitHostPort(c.API.Listen)
	if err != nil {
		return cfgErr("api.listen", "%q is not host:port: %v", c.API.Listen, err)
	}
	if !t.Enabled() && !t.InsecurePlaintext && !isLoopback(host) {
		return cfgErr("api.listen", "%q is not a loopback address and the API would serve bearer tokens in plain HTTP: "+
			"set api.tls.cert_file and api.tls.key_file (and api.tls.client_ca_file for client certificates), "+
			"or api.tls.insecure_plaintext: true behind your own TLS proxy", c.API.Listen)
	}
	return nil
}

// isLoopback: "localhost", 127.0.0.0/8 or ::1. An empty host (every
// interface) and other names are not.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Roles of API callers.
var Roles = []string{"admin", "operator", "margin-engine", "auditor"}

// PinnedPeers resolves the peers section (reading peer_id_file where set).
func (c *Config) PinnedPeers() ([]Peer, error) {
	var out []Peer
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
		pp := Peer{Party: p.Party, ID: id}
		for _, a := range p.Addrs {
			pp.Addrs = append(pp.Addrs, ma.StringCast(a))
		}
		out = append(out, pp)
	}
	return out, nil
}
