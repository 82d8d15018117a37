package custody

import "fmt"

// DecodeRequestDraft strictly decodes a request as a caller sends it to its
// node's API (bounded, one object, no unknown or duplicate keys, no trailing
// data) but does not validate it: the node fills in what only it knows
// (requester, created_at) and then calls Normalize and Validate.
func DecodeRequestDraft(b []byte) (Request, error) {
	var r Request
	if err := strictUnmarshal(b, MaxRequestBytes, &r); err != nil {
		return Request{}, fmt.Errorf("decoding request: %w", err)
	}
	return r, nil
}
