package apiclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
)

// fakeNode serves one request's view and its event stream; publish flips
// the view's status and sends one event.
type fakeNode struct {
	mu     sync.Mutex
	status custody.Status
	gets   int
	got    chan int // each GET's number
	events chan service.Event
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v1/events":
		if r.URL.Query().Get("request") != "req-1" {
			http.Error(w, "want ?request=req-1", 400)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": triad events\n\n")
		w.(http.Flusher).Flush()
		for {
			select {
			case e := <-f.events:
				b, _ := json.Marshal(e)
				fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, b)
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	case r.URL.Path == "/v1/requests/req-1":
		f.mu.Lock()
		f.gets++
		n, st := f.gets, f.status
		f.mu.Unlock()
		json.NewEncoder(w).Encode(service.View{ID: "req-1", Status: st})
		f.got <- n
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeNode) publish(st custody.Status) {
	f.mu.Lock()
	f.status = st
	f.mu.Unlock()
	f.events <- service.Event{Seq: 1, Type: service.EventStatus, RequestID: "req-1", Status: st}
}

func fakeClient(t *testing.T, h http.Handler) *Client {
	t.Helper()
	hs := httptest.NewServer(h) // 127.0.0.1, port 0
	t.Cleanup(hs.Close)
	return &Client{base: hs.URL, token: "t", http: hs.Client()}
}

// A wait reads the view once, then once per event of the request: the
// drills and margin-sim --wait follow the node's event stream instead of
// polling every 250 ms (issue 11 item 5).
func TestWatchRequestFollowsEvents(t *testing.T) {
	f := &fakeNode{status: custody.StatusApproved, got: make(chan int, 16), events: make(chan service.Event)}
	cl := fakeClient(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	var v service.View
	go func() {
		var err error
		v, err = cl.WatchRequest(ctx, "req-1", func(v service.View) (bool, error) { return v.Status == custody.StatusSigned, nil })
		done <- err
	}()
	if n := <-f.got; n != 1 {
		t.Fatalf("first read is GET %d", n)
	}
	f.publish(custody.StatusSigned)
	if err := <-done; err != nil || v.Status != custody.StatusSigned {
		t.Fatalf("watch: %v, status %s", err, v.Status)
	}
	if f.gets != 2 {
		t.Fatalf("%d reads of the view for one event, want 2", f.gets)
	}
}

// A node without an event stream fails the wait at once; it is never
// polled instead.
func TestWatchRequestNeedsTheEventStream(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/events", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusNotFound) })
	mux.HandleFunc("/v1/requests/", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(service.View{ID: "req-1", Status: custody.StatusSigned})
	})
	cl := fakeClient(t, mux)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := cl.WatchRequest(ctx, "req-1", func(service.View) (bool, error) { return true, nil })
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("watch without an event stream: %v", err)
	}
}
