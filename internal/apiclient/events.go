package apiclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/triad-custody/triad/custody/service"
)

// Subscription is an open GET /v1/events stream.
type Subscription struct {
	body io.ReadCloser
	sc   *bufio.Scanner
}

// Subscribe opens the node's event stream (query: "?request=ID", "?since=N"
// or ""). It returns once the node has subscribed (its stream's opening
// comment has arrived), so no event after that moment is missed. The
// stream ends with ctx; Close releases it earlier.
func (c *Client) Subscribe(ctx context.Context, query string) (*Subscription, error) {
	resp, err := c.Send(ctx, "GET", "/v1/events"+query, nil)
	if err != nil {
		return nil, err
	}
	s := &Subscription{body: resp.Body, sc: bufio.NewScanner(resp.Body)}
	s.sc.Buffer(make([]byte, 64<<10), 1<<20)
	for s.sc.Scan() {
		if strings.HasPrefix(s.sc.Text(), ":") {
			return s, nil
		}
	}
	s.Close()
	return nil, fmt.Errorf("the node's event stream ended before it opened: %w", s.err())
}

// Next blocks until the next event (keepalives are skipped) or the end of
// the stream.
func (s *Subscription) Next() (service.Event, error) {
	for s.sc.Scan() {
		data, ok := strings.CutPrefix(s.sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e service.Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return e, fmt.Errorf("an event from the node: %w", err)
		}
		return e, nil
	}
	return service.Event{}, fmt.Errorf("the node's event stream ended: %w", s.err())
}

func (s *Subscription) err() error {
	if err := s.sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}

// Close ends the subscription.
func (s *Subscription) Close() error {
	err := s.body.Close()
	if errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}
