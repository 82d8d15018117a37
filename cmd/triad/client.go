package main

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/internal/apiclient"
)

// apiAddrFile is where `node run` writes the API's address in the data dir.
const apiAddrFile = apiclient.AddrFile

// client talks to a running node's API on behalf of the CLI.
type client = apiclient.Client

// apiError is a JSON error from the node.
type apiError = apiclient.Error

// clientFlags are shared by every command that talks to a node
// (apiclient.Options says what each means).
type clientFlags struct {
	config    string
	api       string
	tokenFile string
	role      string
	tlsCA     string
	tlsCert   string
	tlsKey    string
}

func (f *clientFlags) register(c *cobra.Command, role string) {
	c.Flags().StringVarP(&f.config, "config", "c", "", "node config file (finds the API address and the token)")
	c.Flags().StringVar(&f.api, "api", "", "API address host:port (default: from the node's data dir)")
	c.Flags().StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token (default: $TRIAD_TOKEN, else the config's first "+role+" credential)")
	c.Flags().StringVar(&f.tlsCA, "tls-ca", "", "PEM CA certificate(s) the node's API certificate must chain to; with --api it means https (default: the config's api.tls.cert_file)")
	c.Flags().StringVar(&f.tlsCert, "tls-cert", "", "PEM client certificate, for a node that requires one (api.tls.client_ca_file) (default: $TRIAD_TLS_CERT)")
	c.Flags().StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert (default: $TRIAD_TLS_KEY)")
	f.role = role
}

func (f *clientFlags) client() (*client, error) {
	return apiclient.New(apiclient.Options{Config: f.config, API: f.api, TokenFile: f.tokenFile, Role: f.role,
		TLSCA: f.tlsCA, TLSCert: f.tlsCert, TLSKey: f.tlsKey})
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
