package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/node"
)

// Config is one node's configuration file, assembled from each package's
// own section (configs/sample.yaml documents every key): the MPC daemon's
// (node.Config: party, peers, libp2p, sessions, pre-params, HSM, log), the
// HTTP API's (api.Config), this party's custody policy, and the chains it settles on (settle: bitcoin,
// evm). Environment variables TRIAD_<SECTION>_<KEY> override it, e.g.
// TRIAD_API_LISTEN or TRIAD_SESSIONS_SIGN_TIMEOUT. Secrets are never in
// it: only the names of environment variables or files holding them.
type Config struct {
	node.Config `mapstructure:",squash"`
	API         api.Config           `mapstructure:"api"`
	Policy      custody.Policy       `mapstructure:"policy"`
	Bitcoin     settle.BitcoinConfig `mapstructure:"bitcoin"`
	EVM         settle.EVMConfig     `mapstructure:"evm"`
}

// ErrConfig prefixes every configuration error (node.ErrConfig); the
// message names the key.
var ErrConfig = node.ErrConfig

func cfgErr(key, format string, a ...any) error { return node.ConfigError(key, format, a...) }

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
	c.SetDir(filepath.Dir(abs))
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
	v.SetDefault("parties", node.DefaultParties)
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

// Validate checks every key and names the first bad one: the node's
// sections, the API's, then the policy against this node's party, then
// the chains.
func (c *Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if err := c.API.Validate(c.Resolve); err != nil {
		return err
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
