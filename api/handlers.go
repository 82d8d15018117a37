package api

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/tss"
)

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.rt.Ready(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true})
}

// Status is GET /v1/status.
type Status struct {
	Party    string   `json:"party"`
	PeerID   string   `json:"peer_id"`
	Addrs    []string `json:"addrs"`
	Ready    bool     `json:"ready"`
	NotReady string   `json:"not_ready,omitempty"`
	HSM      string   `json:"hsm"`
	// Protocol is the range of peer protocol versions this node speaks.
	Protocol ProtocolRange `json:"protocol"`
	Peers    []PeerStatus  `json:"peers"`
	Keys     []string      `json:"keys"`
	// Undecided names the keys whose reshare is undecided here: the old
	// share in force, the new one pending (`triad reshare resolve`).
	Undecided []string        `json:"undecided_reshares,omitempty"`
	PreParams PreParams       `json:"preparams"`
	Counters  map[string]int  `json:"counters"`
	Incidents []node.Incident `json:"incidents"`
	// Clock is the wall clock against the monotonic one (custody nodes).
	Clock *ClockStatus `json:"clock,omitempty"`
}

// ClockStatus reports a wall-clock jump (drift against the monotonic clock).
type ClockStatus struct {
	Drift  string `json:"drift"`
	Jumped bool   `json:"jumped"`
}

// PeerStatus is one pinned peer.
type PeerStatus struct {
	Party     string `json:"party"`
	Connected bool   `json:"connected"`
	// Breaker is the peer's circuit breaker: open after repeated aborts
	// blamed on it, when the other partner is preferred for signing.
	Breaker node.Breaker `json:"breaker"`
	// Protocol is the peer's protocol versions as this node knows them:
	// the range from its hello and the version spoken to it.
	Protocol node.PeerVersions `json:"protocol"`
}

// ProtocolRange is a range of protocol versions.
type ProtocolRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// PreParams is the pool's state.
type PreParams struct {
	Ready   int `json:"ready"`
	Running int `json:"running"`
	Target  int `json:"target"`
}

func (s *Server) status(w http.ResponseWriter, r *http.Request, _ string) {
	st := Status{Party: s.rt.Cfg.Party, HSM: s.rt.Sealer.Backend(),
		Counters: s.rt.Node.Counters(), Incidents: s.rt.Node.Incidents()}
	st.Protocol.Min, st.Protocol.Max = s.rt.Node.ProtocolRange()
	if s.rt.Host != nil { // nil on an in-memory network (tests)
		st.PeerID = s.rt.Host.ID().String()
		for _, a := range s.rt.Host.Addrs() {
			st.Addrs = append(st.Addrs, a.String())
		}
	}
	if s.svc != nil {
		c := s.svc.ClockReport()
		st.Clock = &ClockStatus{Drift: c.Drift.String(), Jumped: c.Jumped}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.rt.Ready(ctx); err != nil {
		st.NotReady = err.Error()
	} else {
		st.Ready = true
	}
	for _, p := range s.rt.Node.Peers() {
		st.Peers = append(st.Peers, PeerStatus{Party: p, Connected: s.rt.Node.Connected(p), Breaker: s.rt.Node.Breaker(p),
			Protocol: s.rt.Node.PeerVersions(p)})
	}
	keys, err := s.rt.Keys.List()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	st.Keys = keys
	st.Undecided = s.rt.Keys.PendingKeys()
	st.PreParams.Ready, st.PreParams.Running = s.rt.Pool.Ready()
	st.PreParams.Target = s.rt.Cfg.PreParams.Target
	writeJSON(w, http.StatusOK, st)
}

// KeygenRequest is POST /v1/admin/keygen. A custody key's keygen carries
// two parties' operator approvals (Order); a canary key's none.
type KeygenRequest struct {
	KeyID string            `json:"key_id"`
	Order *node.KeygenOrder `json:"order,omitempty"`
}

// KeygenResponse carries the new group key (compressed, hex).
type KeygenResponse struct {
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"`
}

func (s *Server) keygen(w http.ResponseWriter, r *http.Request, who string) {
	var req KeygenRequest
	if !decode(w, r, &req) {
		return
	}
	// Refused at once, before any partner hears of it.
	if err := s.rt.Node.CheckKeygen(req.KeyID); err != nil {
		writeNodeError(w, nil, "keygen_failed", err)
		return
	}
	s.log.Info("keygen requested", "caller", who, "key", req.KeyID)
	ctx, cancel := context.WithTimeout(r.Context(), s.rt.Cfg.Sessions.KeygenTimeout)
	defer cancel()
	var share *tss.KeyShare
	var err error
	if req.Order != nil {
		if req.Order.Spec.KeyID != req.KeyID {
			writeError(w, http.StatusBadRequest, "bad_request", "the approved spec is for another key")
			return
		}
		share, err = s.rt.Node.KeygenCustody(ctx, *req.Order)
	} else {
		share, err = s.rt.Node.Keygen(ctx, req.KeyID)
	}
	if errors.Is(err, node.ErrKeygenRefused) || errors.Is(err, node.ErrKeygenApproval) {
		writeError(w, http.StatusUnprocessableEntity, "keygen_refused", err.Error())
		return
	}
	if err != nil {
		writeNodeError(w, nil, "keygen_failed", err)
		return
	}
	pub, err := share.PublicKey()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, KeygenResponse{KeyID: req.KeyID, PublicKey: hex.EncodeToString(pub.SerializeCompressed())})
}

// SignRequest is POST /v1/admin/sign: a canary key signs the drill message
// of Nonce, SHA-256(custody.DrillTag || nonce), which every signer
// recomputes (../shared/SECURITY.md scenario 33). Digest, when given, must be that digest: every
// node's policy refuses any other (and custody keys altogether).
type SignRequest struct {
	KeyID     string `json:"key_id"`
	Nonce     string `json:"nonce,omitempty"`
	Digest    string `json:"digest,omitempty"`
	ChildPath string `json:"child_path,omitempty"`
}

// SignResponse is the signature (r, s as 32-byte hex), the drill message
// it is over, and its history.
type SignResponse struct {
	Nonce    string         `json:"nonce"`
	Digest   string         `json:"digest"`
	R        string         `json:"r"`
	S        string         `json:"s"`
	Signers  []string       `json:"signers"`
	Attempts []node.Attempt `json:"attempts"`
}

func (s *Server) sign(w http.ResponseWriter, r *http.Request, who string) {
	var req SignRequest
	if !decode(w, r, &req) {
		return
	}
	sr, err := rawSignRequest(req.KeyID, req.Nonce, req.Digest)
	if err != nil {
		writeNodeError(w, nil, "sign_failed", err)
		return
	}
	if req.ChildPath != "" {
		if _, err := btc.ParsePath(req.ChildPath); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "child_path: "+err.Error())
			return
		}
	}
	sr.ChildPath = req.ChildPath
	s.log.Info("raw canary signature requested", "caller", who, "key", req.KeyID, "nonce", sr.RequestID)
	res, err := s.rt.Node.Sign(r.Context(), sr)
	if err != nil {
		writeNodeError(w, res, "sign_failed", err)
		return
	}
	writeJSON(w, http.StatusOK, SignResponse{Nonce: sr.RequestID, Digest: hex.EncodeToString(sr.Digest[:]),
		R: tss.Hex32(res.Signature.R), S: tss.Hex32(res.Signature.S), Signers: res.Signers, Attempts: res.Attempts})
}

// rawSignRequest builds a raw-path signing request: the nonce travels as
// the request ID, from which every signer recomputes the drill digest. A
// digest without a nonce goes to the node's own policy as it is, to be
// refused there.
func rawSignRequest(keyID, nonce, digestHex string) (node.SignRequest, error) {
	sr := node.SignRequest{KeyID: keyID, RequestID: nonce}
	if nonce != "" {
		d, err := custody.DrillDigest(nonce)
		if err != nil {
			return sr, err
		}
		sr.Digest = d
	}
	if digestHex == "" {
		if nonce == "" {
			return sr, fmt.Errorf("%w: give nonce: a canary key signs the drill message of a nonce", node.ErrInvalidInput)
		}
		return sr, nil
	}
	d, err := hexDigest(digestHex)
	if err != nil {
		return sr, fmt.Errorf("%w: %v", node.ErrInvalidInput, err)
	}
	if nonce == "" {
		sr.RequestID = "raw-" + hex.EncodeToString(d[:8])
	}
	sr.Digest = d
	return sr, nil
}

// writeNodeError answers a failed keygen or signature, the one place the
// node's sentinel errors become status codes: the caller's mistakes are
// 4xx (400 invalid input, 403 refused by this node's own policy, 404 no
// share of the key, 409 the key exists); anything else is the cluster's
// failure (502), with the attempts made, if any.
func writeNodeError(w http.ResponseWriter, res *node.SignResult, code string, err error) {
	status := http.StatusBadGateway
	switch {
	case errors.Is(err, node.ErrInvalidInput), errors.Is(err, custody.ErrMalformed):
		status, code = http.StatusBadRequest, "bad_request"
	case errors.Is(err, node.ErrPolicyRefused):
		status, code = http.StatusForbidden, "policy_refused"
	case errors.Is(err, keystore.ErrNoKey):
		status = http.StatusNotFound
	case errors.Is(err, node.ErrKeyExists):
		status, code = http.StatusConflict, "key_exists"
	}
	body := map[string]any{"error": map[string]string{"code": code, "message": err.Error()}}
	if res != nil {
		body["attempts"] = res.Attempts
	}
	writeJSON(w, status, body)
}
