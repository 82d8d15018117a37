package btc_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/triad-custody/triad/custody/btc"
)

// fakeNode answers every request with body, after checking basic auth.
func fakeNode(t *testing.T, body string, block <-chan struct{}) *btc.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		if block != nil {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := btc.NewClient(btc.ClientConfig{
		Host: strings.TrimPrefix(srv.URL, "http://"), User: "u", Pass: "p", Network: "regtest",
		Timeout: 5 * time.Second, MaxResponseBytes: 1 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	if n, err := fakeNode(t, `{"result":42,"error":null,"id":1}`, nil).BlockCount(ctx); err != nil || n != 42 {
		t.Fatalf("block count %d, %v", n, err)
	}
	_, err := fakeNode(t, `{"result":null,"error":{"code":-5,"message":"No information available about transaction"},"id":1}`, nil).
		Confirmations(ctx, &chainhash.Hash{})
	if !errors.Is(err, btc.ErrNotFound) || !errors.Is(err, btc.ErrRPC) {
		t.Fatalf("not found: %v", err)
	}
	if _, err := fakeNode(t, `not json`, nil).BlockCount(ctx); !errors.Is(err, btc.ErrRPC) {
		t.Fatalf("bad json: %v", err)
	}
	if _, err := fakeNode(t, `{"result":"`+strings.Repeat("a", 2000)+`"}`, nil).BlockCount(ctx); !errors.Is(err, btc.ErrRPC) ||
		!strings.Contains(err.Error(), "response over") {
		t.Fatalf("oversized: %v", err)
	}
	if _, err := fakeNode(t, `{"result":"zz"}`, nil).Generate(ctx, 1); !errors.Is(err, btc.ErrRPC) {
		t.Fatalf("bad result type: %v", err)
	}
}

func TestClientHonoursContext(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	c := fakeNode(t, `{"result":1}`, block)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.BlockCount(ctx); !errors.Is(err, btc.ErrRPC) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("call outlived its deadline: %v", d)
	}
}

func TestNewClientValidates(t *testing.T) {
	if _, err := btc.NewClient(btc.ClientConfig{Host: "127.0.0.1:1", User: "u", Pass: "p", Network: "moon"}); !errors.Is(err, btc.ErrUnknownNetwork) {
		t.Fatal(err)
	}
	if _, err := btc.NewClient(btc.ClientConfig{Host: "127.0.0.1:1", Network: "regtest"}); !errors.Is(err, btc.ErrRPC) {
		t.Fatal(err)
	}
}
