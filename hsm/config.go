package hsm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"time"
)

// Config selects and configures one backend. It is a plain struct decoded
// by the caller (viper, mapstructure tags). Secrets are never in it: only the
// names of environment variables or files that hold them.
//
//	hsm:
//	  backend: vault-transit        # vault-transit | pkcs11 | local
//	  vault:
//	    address: https://vault.internal:8200
//	    transit_key: triad-node-a
//	    auth: {method: approle, role_id_file: /run/triad/role-id, secret_id_file: /run/triad/secret-id}
//	    tls: {ca_cert: /etc/triad/vault-ca.pem}
type Config struct {
	Backend string       `mapstructure:"backend"`
	Vault   VaultConfig  `mapstructure:"vault"`
	PKCS11  PKCS11Config `mapstructure:"pkcs11"`
	Local   LocalConfig  `mapstructure:"local"`

	// Logger receives structured events (re-login, session reopen); never
	// key material. Nil means slog.Default().
	Logger *slog.Logger `mapstructure:"-"`
}

// VaultConfig configures the vault-transit backend.
type VaultConfig struct {
	// Address of Vault, e.g. https://vault:8200. Plain http is accepted only
	// for loopback addresses (tests, a local agent).
	Address string `mapstructure:"address"`
	// Namespace (Vault Enterprise / HCP); empty for none.
	Namespace string `mapstructure:"namespace"`
	// TransitMount is where the transit engine is mounted; default "transit".
	TransitMount string `mapstructure:"transit_mount"`
	// TransitKey names this node's key, e.g. "triad-node-a". Created if
	// absent as a derived aes256-gcm96 key (the AAD is its context).
	TransitKey string `mapstructure:"transit_key"`
	// Timeout for one request; default 10s.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxRetries on 5xx and connection errors; default 0 (callers retry).
	MaxRetries int `mapstructure:"max_retries"`

	Auth VaultAuthConfig `mapstructure:"auth"`
	TLS  VaultTLSConfig  `mapstructure:"tls"`
}

// VaultAuthConfig selects token or AppRole login. Every secret comes from an
// environment variable or a file, re-read on each (re-)login.
type VaultAuthConfig struct {
	Method string `mapstructure:"method"` // "token" (default) or "approle"

	TokenEnv  string `mapstructure:"token_env"`
	TokenFile string `mapstructure:"token_file"`

	AppRoleMount string `mapstructure:"approle_mount"` // default "approle"
	RoleIDEnv    string `mapstructure:"role_id_env"`
	RoleIDFile   string `mapstructure:"role_id_file"`
	SecretIDEnv  string `mapstructure:"secret_id_env"`
	SecretIDFile string `mapstructure:"secret_id_file"`
}

// VaultTLSConfig configures TLS to Vault. Verification cannot be disabled.
type VaultTLSConfig struct {
	CACert     string `mapstructure:"ca_cert"`     // PEM file
	CAPath     string `mapstructure:"ca_path"`     // directory of PEM files
	ClientCert string `mapstructure:"client_cert"` // PEM file, for cert auth / mTLS
	ClientKey  string `mapstructure:"client_key"`  // PEM file
	ServerName string `mapstructure:"server_name"` // SNI / name to verify
}

// PKCS11Config configures the pkcs11 backend.
type PKCS11Config struct {
	// Module is the path of the PKCS#11 library, e.g.
	// /usr/lib/softhsm/libsofthsm2.so.
	Module string `mapstructure:"module"`
	// TokenLabel selects the token; Slot selects by slot ID. At least one is
	// required; with both, the slot's token must carry the label.
	TokenLabel string `mapstructure:"token_label"`
	Slot       *uint  `mapstructure:"slot"`
	// PINEnv or PINFile holds the user PIN.
	PINEnv  string `mapstructure:"pin_env"`
	PINFile string `mapstructure:"pin_file"`
	// KeyLabel is the CKA_LABEL of this node's AES-256 key, e.g.
	// "triad-node-a". InitPKCS11 generates it if absent.
	KeyLabel string `mapstructure:"key_label"`
	// Sessions bounds concurrent sessions; default 4.
	Sessions int `mapstructure:"sessions"`
}

// LocalConfig configures the local (passphrase) backend.
type LocalConfig struct {
	PassphraseEnv  string       `mapstructure:"passphrase_env"`
	PassphraseFile string       `mapstructure:"passphrase_file"`
	Argon2         Argon2Params `mapstructure:"argon2"`
	// SaltFile holds the key epoch's salt, replaced at every reshare's
	// re-key (Rekeyer); keep it outside the data dir. Empty: the key is
	// the passphrase's alone and cannot be re-keyed.
	SaltFile string `mapstructure:"salt_file"`
}

var (
	namePattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	mountPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)
)

func cfgErr(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, args...))
}

// Validate checks the configuration of the selected backend without touching
// the network, the HSM or secret files. Errors name the offending key.
func (c Config) Validate() error {
	switch c.Backend {
	case BackendVault:
		return c.Vault.Validate()
	case BackendPKCS11:
		return c.PKCS11.Validate()
	case BackendLocal:
		return c.Local.Validate()
	case BackendMemory:
		return cfgErr("hsm.backend", "%q is for tests only and loses every key on restart", c.Backend)
	case "":
		return cfgErr("hsm.backend", "required (%s, %s or %s)", BackendVault, BackendPKCS11, BackendLocal)
	}
	return cfgErr("hsm.backend", "unknown backend %q (want %s, %s or %s)", c.Backend, BackendVault, BackendPKCS11, BackendLocal)
}

// Validate checks a VaultConfig.
func (v VaultConfig) Validate() error {
	var errs []error
	if v.Address == "" {
		errs = append(errs, cfgErr("hsm.vault.address", "required"))
	} else if u, err := url.Parse(v.Address); err != nil || u.Host == "" {
		errs = append(errs, cfgErr("hsm.vault.address", "%q is not a URL like https://vault:8200", v.Address))
	} else if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		errs = append(errs, cfgErr("hsm.vault.address", "scheme must be https (http only for loopback), got %q", u.Scheme))
	}
	if !namePattern.MatchString(v.TransitKey) {
		errs = append(errs, cfgErr("hsm.vault.transit_key", "required: letters, digits, '_', '.', '-' (got %q)", v.TransitKey))
	}
	if v.TransitMount != "" && !mountPattern.MatchString(v.TransitMount) {
		errs = append(errs, cfgErr("hsm.vault.transit_mount", "invalid mount path %q", v.TransitMount))
	}
	if v.Timeout < 0 {
		errs = append(errs, cfgErr("hsm.vault.timeout", "must not be negative"))
	}
	if v.MaxRetries < 0 || v.MaxRetries > 10 {
		errs = append(errs, cfgErr("hsm.vault.max_retries", "must be 0..10"))
	}
	a := v.Auth
	switch a.Method {
	case "", "token":
		errs = append(errs, oneOf("hsm.vault.auth.token", a.TokenEnv, a.TokenFile))
	case "approle":
		errs = append(errs, oneOf("hsm.vault.auth.role_id", a.RoleIDEnv, a.RoleIDFile))
		errs = append(errs, oneOf("hsm.vault.auth.secret_id", a.SecretIDEnv, a.SecretIDFile))
	default:
		errs = append(errs, cfgErr("hsm.vault.auth.method", "unknown method %q (want token or approle)", a.Method))
	}
	if (v.TLS.ClientCert == "") != (v.TLS.ClientKey == "") {
		errs = append(errs, cfgErr("hsm.vault.tls.client_cert", "client_cert and client_key go together"))
	}
	return errors.Join(errs...)
}

// Validate checks a PKCS11Config.
func (p PKCS11Config) Validate() error {
	var errs []error
	if p.Module == "" {
		errs = append(errs, cfgErr("hsm.pkcs11.module", "required (path of the PKCS#11 library)"))
	}
	if p.TokenLabel == "" && p.Slot == nil {
		errs = append(errs, cfgErr("hsm.pkcs11.token_label", "token_label or slot is required"))
	}
	if len(p.TokenLabel) > 32 {
		errs = append(errs, cfgErr("hsm.pkcs11.token_label", "longer than 32 bytes"))
	}
	errs = append(errs, oneOf("hsm.pkcs11.pin", p.PINEnv, p.PINFile))
	if !namePattern.MatchString(p.KeyLabel) {
		errs = append(errs, cfgErr("hsm.pkcs11.key_label", "required: letters, digits, '_', '.', '-' (got %q)", p.KeyLabel))
	}
	if p.Sessions < 0 || p.Sessions > 64 {
		errs = append(errs, cfgErr("hsm.pkcs11.sessions", "must be 0..64"))
	}
	return errors.Join(errs...)
}

// Validate checks a LocalConfig.
func (l LocalConfig) Validate() error {
	var errs []error
	errs = append(errs, oneOf("hsm.local.passphrase", l.PassphraseEnv, l.PassphraseFile))
	if err := l.Argon2.withDefaults().validate(); err != nil {
		errs = append(errs, cfgErr("hsm.local.argon2", "%v", err))
	}
	return errors.Join(errs...)
}

// oneOf requires exactly one of key_env and key_file.
func oneOf(key, env, file string) error {
	switch {
	case env == "" && file == "":
		return cfgErr(key+"_env", "%s_env or %s_file is required (secrets never go in the config file)", key, key)
	case env != "" && file != "":
		return cfgErr(key+"_env", "set %s_env or %s_file, not both", key, key)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// New validates cfg, loads the secrets it names and returns a ready Sealer.
// For vault-transit and pkcs11 it logs in and checks the key before
// returning; an unreachable backend gives an error wrapping ErrUnavailable
// (callers retry). The memory backend is refused: use NewMemory in tests.
func New(ctx context.Context, cfg Config) (Sealer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	switch cfg.Backend {
	case BackendVault:
		return NewVault(ctx, cfg.Vault, log)
	case BackendPKCS11:
		return NewPKCS11(ctx, cfg.PKCS11, log)
	case BackendLocal:
		pass, err := readSecret("hsm.local.passphrase", cfg.Local.PassphraseEnv, cfg.Local.PassphraseFile)
		if err != nil {
			return nil, err
		}
		defer zero(pass)
		l, err := NewLocal(pass, cfg.Local.Argon2)
		if err != nil || cfg.Local.SaltFile == "" {
			return l, err
		}
		if err := l.LoadSaltFile(cfg.Local.SaltFile); err != nil {
			l.Close()
			return nil, err
		}
		return l, nil
	}
	return nil, cfgErr("hsm.backend", "unknown backend %q", cfg.Backend) // unreachable after Validate
}
