package apiclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client talks to one node's API.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// Base is the node's API as the client calls it: scheme://host:port.
func (c *Client) Base() string { return c.base }

// Do sends a JSON request and decodes a JSON response into out. A 4xx
// answer is a UserError around an *Error, anything else from the node an
// *Error.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.Send(ctx, method, path, in)
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

// Stream sends a JSON request and hands each line of a newline-delimited
// JSON answer to line as it arrives (lines of at most 1 MiB).
func (c *Client) Stream(ctx context.Context, method, path string, in any, line func([]byte) error) error {
	resp, err := c.Send(ctx, method, path, in)
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

// Send makes the request and returns the answer (its body for the caller
// to close); an answer of 300 or more becomes the error instead.
func (c *Client) Send(ctx context.Context, method, path string, in any) (*http.Response, error) {
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
		return nil, callError(err)
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
	ae := &Error{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	if ae.Code == "" {
		ae.Message = strings.TrimSpace(string(raw))
		if strings.HasPrefix(c.base, "http://") && strings.Contains(ae.Message, "HTTPS server") {
			ae.Message += " (the node serves https: give --tls-ca, or a --config with api.tls)"
		}
	}
	if resp.StatusCode < 500 {
		return nil, UserError{ae}
	}
	return nil, ae
}
