package custody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

const maxJSONDepth = 8

// DecodeRequest strictly decodes a request from JSON (the API body or a peer
// message): at most MaxRequestBytes, one JSON object, no unknown fields, no
// duplicate keys (compared case-insensitively, as encoding/json matches
// them), no trailing data; then it normalizes and validates. It never panics.
func DecodeRequest(b []byte) (Request, error) {
	var r Request
	if err := strictUnmarshal(b, MaxRequestBytes, &r); err != nil {
		return Request{}, fmt.Errorf("decoding request: %w", err)
	}
	r = r.Normalize()
	if err := r.Validate(); err != nil {
		return Request{}, fmt.Errorf("decoding request: %w", err)
	}
	return r, nil
}

// DecodeCanonicalRequest is DecodeRequest that also demands b be exactly the
// canonical encoding, so a request travels between nodes in one form only.
func DecodeCanonicalRequest(b []byte) (Request, error) {
	r, err := DecodeRequest(b)
	if err != nil {
		return Request{}, err
	}
	if !bytes.Equal(b, r.Canonical()) {
		return Request{}, fmt.Errorf("decoding canonical request: %w: not in canonical form", ErrMalformed)
	}
	return r, nil
}

// DecodeStrict decodes one JSON object of at most max bytes into v with
// the checks of DecodeRequest (no unknown or duplicate keys, bounded
// nesting, no trailing data); every error wraps ErrMalformed. For the
// node's other JSON bodies.
func DecodeStrict(b []byte, max int, v any) error { return strictUnmarshal(b, max, v) }

// strictUnmarshal decodes one JSON value into v with the checks above.
func strictUnmarshal(b []byte, max int, v any) error {
	if len(b) > max {
		return fmt.Errorf("%w: %d bytes exceeds the %d-byte limit", ErrMalformed, len(b), max)
	}
	if err := checkJSONShape(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s", ErrMalformed, clipErr(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data after the JSON object", ErrMalformed)
	}
	return nil
}

// checkJSONShape walks the token stream: the top level must be an object,
// nesting is bounded, and no object repeats a key.
func checkJSONShape(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var stack []*jsonFrame
	first := true
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s", ErrMalformed, clipErr(err))
		}
		if first {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return fmt.Errorf("%w: want a JSON object", ErrMalformed)
			}
			first = false
		}
		var top *jsonFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.expKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				markValue(stack)
				continue
			}
			k, _ := tok.(string)
			fk := strings.ToLower(k)
			if top.keys[fk] {
				return fmt.Errorf("%w: duplicate key %q", ErrMalformed, clip(k))
			}
			top.keys[fk] = true
			top.expKey = false
			continue
		}
		switch d, _ := tok.(json.Delim); d {
		case '{', '[':
			if len(stack) >= maxJSONDepth {
				return fmt.Errorf("%w: nested deeper than %d", ErrMalformed, maxJSONDepth)
			}
			stack = append(stack, &jsonFrame{obj: d == '{', keys: map[string]bool{}, expKey: d == '{'})
		case ']':
			stack = stack[:len(stack)-1]
			markValue(stack)
		default:
			markValue(stack)
		}
	}
}

// markValue records that the enclosing object got its value and now expects
// a key again.
func markValue(stack []*jsonFrame) {
	if n := len(stack); n > 0 && stack[n-1].obj {
		stack[n-1].expKey = true
	}
}

type jsonFrame struct {
	obj    bool            // object (else array)
	keys   map[string]bool // keys seen, lower-cased
	expKey bool            // next token is a key or '}'
}

func clipErr(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
