package btc_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody/btc"
)

// busyNode answers like btcd past its RPC client limit: plain-text
// "503 Too busy" for the first busy calls, then JSON-RPC. It records the
// most calls it saw in flight at once.
type busyNode struct {
	busy      atomic.Int64
	inFlight  atomic.Int64
	maxFlight atomic.Int64
	hold      chan struct{} // while open, calls wait here (concurrency test)
}

func (b *busyNode) client(t *testing.T, maxConcurrent int) *btc.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n := b.inFlight.Add(1)
		defer b.inFlight.Add(-1)
		for m := b.maxFlight.Load(); n > m && !b.maxFlight.CompareAndSwap(m, n); m = b.maxFlight.Load() {
		}
		if b.hold != nil {
			<-b.hold
		}
		if b.busy.Add(-1) >= 0 {
			http.Error(w, "503 Too busy", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"result":7,"error":null,"id":1}`)
	}))
	t.Cleanup(srv.Close)
	c, err := btc.NewClient(btc.ClientConfig{Host: strings.TrimPrefix(srv.URL, "http://"), User: "u", Pass: "p",
		Network: "regtest", Timeout: 10 * time.Second, MaxConcurrent: maxConcurrent, Retries: 4, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Issue 9 item 5: btcd's "503 Too busy" is not JSON. It is an
// ErrUnavailable with its text, retried within the call's deadline, never
// a parse failure; at most MaxConcurrent calls reach the node at once.
func TestClientBusyNode(t *testing.T) {
	ctx := context.Background()
	b := &busyNode{}
	b.busy.Store(3)
	if n, err := b.client(t, 2).BlockCount(ctx); err != nil || n != 7 {
		t.Fatalf("after three busy answers: %d, %v", n, err)
	}

	b = &busyNode{}
	b.busy.Store(1 << 30)
	_, err := b.client(t, 2).BlockCount(ctx)
	if !errors.Is(err, btc.ErrUnavailable) || !strings.Contains(err.Error(), "503 Too busy") || strings.Contains(err.Error(), "invalid character") {
		t.Fatalf("always busy: %v", err)
	}

	b = &busyNode{hold: make(chan struct{})}
	c := b.client(t, 3)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.BlockCount(ctx)
			errs <- err
		}()
	}
	// Let the first calls in, then release everyone.
	for b.inFlight.Load() < 3 {
		runtime.Gosched()
	}
	close(b.hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if m := b.maxFlight.Load(); m > 3 {
		t.Fatalf("%d calls in flight at once, MaxConcurrent is 3", m)
	}
}
