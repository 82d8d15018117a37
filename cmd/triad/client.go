package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/triad-custody/triad/node"
)

// apiAddrFile is where `node run` writes the API's address in the data dir.
const apiAddrFile = "api.addr"

// client talks to a running node's API on behalf of the CLI.
type client struct {
	base  string
	token string
	http  *http.Client
}

// clientFlags are shared by every command that talks to a node.
type clientFlags struct {
	config    string
	api       string
	tokenFile string
	role      string
}

func (f *clientFlags) register(c *cobra.Command, role string) {
	c.Flags().StringVarP(&f.config, "config", "c", "", "node config file (finds the API address and the token)")
	c.Flags().StringVar(&f.api, "api", "", "API address host:port (default: from the node's data dir)")
	c.Flags().StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token (default: $TRIAD_TOKEN, else the config's first "+role+" credential)")
	f.role = role
}

func (f *clientFlags) client() (*client, error) {
	var cfg *node.Config
	if f.config != "" {
		c, err := node.LoadConfig(f.config)
		if err != nil {
			return nil, userError{err}
		}
		cfg = c
	}
	addr := f.api
	if addr == "" {
		if cfg == nil {
			return nil, userErr("give --config or --api")
		}
		b, err := os.ReadFile(filepath.Join(cfg.Resolve(cfg.DataDir), apiAddrFile))
		if err != nil {
			return nil, fmt.Errorf("finding the API address (is `triad node run` running?): %w", err)
		}
		addr = strings.TrimSpace(string(b))
	}
	token := os.Getenv("TRIAD_TOKEN")
	switch {
	case f.tokenFile != "":
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, userErr("reading --token-file: %v", err)
		}
		token = strings.TrimSpace(string(b))
	case token == "" && cfg != nil:
		for _, cr := range cfg.API.Credentials {
			if cr.Role == f.role && cr.TokenFile != "" {
				b, err := os.ReadFile(cfg.Resolve(cr.TokenFile))
				if err == nil {
					token = strings.TrimSpace(string(b))
					break
				}
			}
		}
	}
	if token == "" {
		return nil, userErr("no API token: set TRIAD_TOKEN, --token-file, or a %s credential with token_file in the config", f.role)
	}
	return &client{base: "http://" + addr, token: token, http: &http.Client{}}, nil
}

// apiError is a JSON error from the node.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message) }

// do sends a JSON request and decodes a JSON response into out. A 4xx
// answer is the caller's mistake (exit 1), anything else the server's.
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// stream sends a JSON request and hands each line of a newline-delimited
// JSON answer to line as it arrives (lines of at most 1 MiB).
func (c *client) stream(ctx context.Context, method, path string, in any, line func([]byte) error) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := line(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the node's answer: %w", err)
	}
	return nil
}

// send makes the request; an answer of 300 or more becomes the error
// (apiError; a 4xx one is the caller's mistake).
func (c *client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling the node: %w", err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	var eb struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.Unmarshal(raw, &eb)
	ae := &apiError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	if ae.Code == "" {
		ae.Message = strings.TrimSpace(string(raw))
	}
	if resp.StatusCode < 500 {
		return nil, userError{ae}
	}
	return nil, ae
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
