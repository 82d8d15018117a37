package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
)

// serveAPI serves the node's HTTP API (over TLS when tlsCfg is set) until
// ctx ends, after writing its address to the data dir and printing the
// node's addresses to out.
func serveAPI(ctx context.Context, out io.Writer, cfg *Config, rt *node.Runtime, opts api.Options, tlsCfg *tls.Config, log *slog.Logger) error {
	srv, err := api.New(rt, opts)
	if err != nil {
		return CallerError{Err: err}
	}
	ln, err := net.Listen("tcp", cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("api listen %s: %w", cfg.API.Listen, err)
	}
	addr := ln.Addr().String()
	switch {
	case tlsCfg != nil:
		ln = tls.NewListener(ln, tlsCfg)
		log.Info("api serves https", "addr", addr, "client_certificates", tlsCfg.ClientAuth == tls.RequireAndVerifyClientCert)
	case cfg.API.TLS.InsecurePlaintext:
		log.Warn("api serves plain http (api.tls.insecure_plaintext): bearer tokens cross the network unencrypted unless a TLS proxy is in front", "addr", addr)
	}
	if err := hsm.WriteFileAtomic(filepath.Join(cfg.Resolve(cfg.DataDir), AddrFile), []byte(addr+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "party %s\npeer %s\n", cfg.Party, rt.Host.ID())
	for _, a := range rt.Host.Addrs() {
		fmt.Fprintf(out, "p2p %s\n", a)
	}
	fmt.Fprintf(out, "api %s\n", addr)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		shCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shCtx)
	case err := <-errc:
		return err
	}
}
