package hsm

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// newVaultClient builds an api.Client from cfg alone. api.NewClient reads
// VAULT_TOKEN, VAULT_NAMESPACE and VAULT_HEADERS from the environment; they
// are cleared here so only Triad's configuration applies, and TLS
// verification cannot be turned off by VAULT_SKIP_VERIFY.
func newVaultClient(cfg VaultConfig) (*vault.Client, error) {
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	transport := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	vc := &vault.Config{
		Address:      cfg.Address,
		HttpClient:   &http.Client{Transport: transport, CheckRedirect: noRedirect},
		Timeout:      timeout,
		MaxRetries:   cfg.MaxRetries,
		MinRetryWait: 250 * time.Millisecond,
		MaxRetryWait: time.Second,
	}
	if err := vc.ConfigureTLS(&vault.TLSConfig{
		CACert:        cfg.TLS.CACert,
		CAPath:        cfg.TLS.CAPath,
		ClientCert:    cfg.TLS.ClientCert,
		ClientKey:     cfg.TLS.ClientKey,
		TLSServerName: cfg.TLS.ServerName,
	}); err != nil {
		return nil, cfgErr("hsm.vault.tls", "%v", err)
	}
	c, err := vault.NewClient(vc)
	if err != nil {
		return nil, cfgErr("hsm.vault.address", "%v", err)
	}
	c.ClearToken()
	h := http.Header{}
	h.Set(vault.RequestHeaderName, "true")
	c.SetHeaders(h)
	if cfg.Namespace != "" {
		c.SetNamespace(cfg.Namespace)
	}
	return c, nil
}

// Vault's api client handles redirects itself (standby nodes).
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// classifyVault maps an error from the Vault API to the package's sentinels.
// Vault's own messages never contain plaintext; they are kept for operators.
func classifyVault(op string, err error) error {
	var re *vault.ResponseError
	if !errors.As(err, &re) {
		// Connection refused, DNS, TLS handshake, deadline: all unreachable.
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	msg := strings.Join(re.Errors, "; ")
	if re.RawError || len(msg) > 300 {
		msg = fmt.Sprintf("HTTP %d", re.StatusCode)
	}
	switch {
	case re.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%s: %w: vault permission denied", op, ErrUnavailable)
	case re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("%s: %w: vault answered %d: %s", op, ErrUnavailable, re.StatusCode, msg)
	case strings.Contains(msg, "disallowed by policy (too old)"):
		return fmt.Errorf("%s: %w: %s", op, ErrVersionBelowMinimum, msg)
	case strings.Contains(msg, "message authentication failed"),
		strings.Contains(msg, "version is too new"):
		return fmt.Errorf("%s: %w (vault: %s)", op, ErrAuthFailed, msg)
	case strings.Contains(msg, "invalid ciphertext"):
		return fmt.Errorf("%s: %w (vault: %s)", op, ErrMalformed, msg)
	case strings.Contains(msg, "encryption key not found"):
		return fmt.Errorf("%s: %w: transit key not found", op, ErrUnavailable)
	}
	return fmt.Errorf("%s: %w: vault answered %d: %s", op, ErrBackend, re.StatusCode, msg)
}

func isPermissionDenied(err error) bool {
	var re *vault.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}

// vaultLogin returns a fresh token, re-reading credentials from env/files.
func vaultLogin(ctx context.Context, login *vault.Client, a VaultAuthConfig) (string, error) {
	switch a.Method {
	case "", "token":
		tok, err := readSecret("hsm.vault.auth.token", a.TokenEnv, a.TokenFile)
		if err != nil {
			return "", err
		}
		return string(tok), nil
	case "approle":
		roleID, err := readSecret("hsm.vault.auth.role_id", a.RoleIDEnv, a.RoleIDFile)
		if err != nil {
			return "", err
		}
		secretID, err := readSecret("hsm.vault.auth.secret_id", a.SecretIDEnv, a.SecretIDFile)
		if err != nil {
			return "", err
		}
		mount := a.AppRoleMount
		if mount == "" {
			mount = "approle"
		}
		s, err := login.Logical().WriteWithContext(ctx, "auth/"+mount+"/login", map[string]any{
			"role_id": string(roleID), "secret_id": string(secretID),
		})
		zero(secretID)
		if err != nil {
			if isPermissionDenied(err) || isBadRequest(err) {
				return "", fmt.Errorf("vault approle login: %w: credentials refused", ErrUnavailable)
			}
			return "", classifyVault("vault approle login", err)
		}
		if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
			return "", fmt.Errorf("vault approle login: %w: no token in response", ErrBackend)
		}
		return s.Auth.ClientToken, nil
	}
	return "", cfgErr("hsm.vault.auth.method", "unknown method %q", a.Method)
}

func isBadRequest(err error) bool {
	var re *vault.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusBadRequest
}
