package apiclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/triad-custody/triad/custody/service"
)

// IsNotFound reports whether err is the node's 404.
func IsNotFound(err error) bool {
	var ae *Error
	return errors.As(err, &ae) && ae.Status == 404
}

// WatchRequest returns the node's view of request id once cond holds (or
// cond fails, or ctx ends, with the last view read). It subscribes to the
// request's events first, then reads the view, and reads it again on each
// event: never on a timer. A node that does not know id yet (404) is
// waited for.
func (c *Client) WatchRequest(ctx context.Context, id string, cond func(service.View) (bool, error)) (service.View, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := c.Subscribe(ctx, "?request="+url.QueryEscape(id))
	if err != nil {
		return service.View{}, err
	}
	defer sub.Close()
	var last service.View
	var lastErr error
	for {
		var v service.View
		err := c.Do(ctx, "GET", "/v1/requests/"+url.PathEscape(id), nil, &v)
		switch {
		case err == nil:
			last, lastErr = v, nil
			if done, cerr := cond(v); cerr != nil || done {
				return v, cerr
			}
		case IsNotFound(err):
			lastErr = err
		default:
			return last, err
		}
		if _, err := sub.Next(); err != nil {
			return last, waitError(ctx, err, lastErr)
		}
	}
}

// FollowRequest waits, on the node's events, until request id is final
// (done or refused), and returns its last view.
func (c *Client) FollowRequest(ctx context.Context, id string) (service.View, error) {
	v, err := c.WatchRequest(ctx, id, func(v service.View) (bool, error) { return v.Status.Terminal(), nil })
	if err != nil && ctx.Err() != nil {
		return v, fmt.Errorf("request %.12s still %s: %w", id, v.Status, err)
	}
	return v, err
}

// waitError says why a wait ended: the deadline (with the last answer)
// or the stream's end.
func waitError(ctx context.Context, err, lastErr error) error {
	if ctx.Err() == nil {
		return err
	}
	if lastErr != nil {
		return fmt.Errorf("%w (last: %v)", ctx.Err(), lastErr)
	}
	return fmt.Errorf("gave up waiting: %w", ctx.Err())
}
