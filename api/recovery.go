package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/recovery"
)

// Recovery endpoints (drills and resharing). The API owner wires them with
// one line in New: s.registerRecovery()
//
//	POST /v1/recovery/reshare       admin            run an approved reshare (reshare.Order); ?stream=1: its steps as they happen
//	POST /v1/recovery/reshare/resolve admin        end an undecided reshare here (commit or discard the pending share)
//	POST /v1/recovery/canary-sign   admin            sign a drill message with a canary key and a chosen partner
//	GET  /v1/recovery/unseal-check  admin, auditor   prove every shard unseals (public data only)
//	POST /v1/recovery/attest        admin, operator, auditor   record a drill report on the audit chain and sign it with the node identity
func (s *Server) registerRecovery() {
	s.Handle("POST /v1/recovery/reshare", []string{"admin"}, s.reshare)
	s.Handle("POST /v1/recovery/reshare/resolve", []string{"admin"}, s.resolveReshare)
	s.Handle("POST /v1/recovery/canary-sign", []string{"admin"}, s.canarySign)
	s.Handle("GET /v1/recovery/unseal-check", []string{"admin", "auditor"}, s.unsealCheck)
	s.Handle("POST /v1/recovery/attest", []string{"admin", "operator", "auditor"}, s.attest)
}

func (s *Server) reshare(w http.ResponseWriter, r *http.Request, who string) {
	var o reshare.Order
	if !decode(w, r, &o) {
		return
	}
	s.log.Info("reshare requested", "caller", who, "reshare", o.Spec.ReshareID, "key", o.Spec.KeyID, "replace", o.Spec.Replace)
	ctx, cancel := context.WithTimeout(r.Context(), s.rt.Cfg.Sessions.KeygenTimeout+time.Minute)
	defer cancel()
	if r.URL.Query().Get("stream") == "1" {
		s.reshareStream(ctx, w, o)
		return
	}
	res, err := s.rt.Node.Reshare(ctx, o, nil)
	if err != nil {
		writeJSON(w, reshareStatus(err), map[string]any{"error": reshareError(err), "result": res})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// ResolveRequest is POST /v1/recovery/reshare/resolve: end the undecided
// reshare of KeyID at this node. PendingView must be the pending share's
// public view (GET /v1/recovery/unseal-check shows it).
type ResolveRequest struct {
	KeyID       string `json:"key_id"`
	PendingView string `json:"pending_view"`
	Action      string `json:"action"` // "commit" or "discard"
}

func (s *Server) resolveReshare(w http.ResponseWriter, r *http.Request, who string) {
	var req ResolveRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Action != "commit" && req.Action != "discard" {
		writeError(w, http.StatusBadRequest, "bad_request", `action must be "commit" or "discard"`)
		return
	}
	s.log.Warn("undecided reshare resolved by an operator", "caller", who, "key", req.KeyID, "action", req.Action)
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	err := s.rt.Node.ResolveReshare(ctx, req.KeyID, req.PendingView, req.Action == "commit")
	switch {
	case errors.Is(err, keystore.ErrNoPending):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case err != nil:
		writeError(w, http.StatusConflict, "conflict", err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]string{"key_id": req.KeyID, "action": req.Action})
	}
}

// ReshareLine is one line of POST /v1/recovery/reshare?stream=1, whose
// body is newline-delimited JSON: a Step as each happens, then one last
// line with the Result, and the Error if the reshare failed (the HTTP
// status is 200 once the first line is out; Error.Status is what the
// unstreamed call would have answered).
type ReshareLine struct {
	Step   *reshare.Event  `json:"step,omitempty"`
	Result *reshare.Result `json:"result,omitempty"`
	Error  *ReshareFailure `json:"error,omitempty"`
}

// ReshareFailure is why a reshare failed.
type ReshareFailure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

func reshareStatus(err error) int {
	if errors.Is(err, reshare.ErrApproval) {
		return http.StatusForbidden
	}
	return http.StatusBadGateway
}

func reshareError(err error) *ReshareFailure {
	return &ReshareFailure{Code: "reshare_failed", Message: err.Error(), Status: reshareStatus(err)}
}

// reshareStream runs the reshare, writing each step as it happens.
func (s *Server) reshareStream(ctx context.Context, w http.ResponseWriter, o reshare.Order) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	line := func(l ReshareLine) {
		mu.Lock()
		defer mu.Unlock()
		if err := enc.Encode(l); err == nil {
			rc.Flush()
		}
	}
	res, err := s.rt.Node.Reshare(ctx, o, func(e reshare.Event) { line(ReshareLine{Step: &e}) })
	last := ReshareLine{Result: res}
	if err != nil {
		last.Error = reshareError(err)
	}
	line(last)
}

// CanarySignRequest is POST /v1/recovery/canary-sign: the drill message
// of Nonce (custody.DrillDigest), signed with a chosen partner.
type CanarySignRequest struct {
	KeyID   string `json:"key_id"`
	Nonce   string `json:"nonce"`
	Partner string `json:"partner,omitempty"`
}

// CanarySignResponse is a verified signature, the digest it is over and
// who made it.
type CanarySignResponse struct {
	Digest    string         `json:"digest"`
	R         string         `json:"r"`
	S         string         `json:"s"`
	Signers   []string       `json:"signers"`
	PublicKey string         `json:"public_key"`
	Attempts  []node.Attempt `json:"attempts"`
}

func (s *Server) canarySign(w http.ResponseWriter, r *http.Request, who string) {
	var req CanarySignRequest
	if !decode(w, r, &req) {
		return
	}
	sr, err := rawSignRequest(req.KeyID, req.Nonce, "")
	if err != nil {
		writeNodeError(w, nil, "sign_failed", err)
		return
	}
	if req.Partner != "" && !slices.Contains(s.rt.Node.Peers(), req.Partner) {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("partner %q is not one of %v", req.Partner, s.rt.Node.Peers()))
		return
	}
	sr.Partner = req.Partner
	s.log.Info("canary signature requested", "caller", who, "key", req.KeyID, "partner", req.Partner, "nonce", req.Nonce)
	res, err := s.rt.Node.Sign(r.Context(), sr)
	if err != nil {
		writeNodeError(w, res, "sign_failed", err)
		return
	}
	share, err := s.rt.Keys.Load(r.Context(), req.KeyID)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	pub, _ := share.PublicKey()
	writeJSON(w, http.StatusOK, CanarySignResponse{Digest: hex.EncodeToString(sr.Digest[:]), R: hex.EncodeToString(res.Signature.R.Bytes()), S: hex.EncodeToString(res.Signature.S.Bytes()),
		Signers: res.Signers, PublicKey: hex.EncodeToString(pub.SerializeCompressed()), Attempts: res.Attempts})
}

// UnsealCheckResponse is GET /v1/recovery/unseal-check.
type UnsealCheckResponse struct {
	Party string                 `json:"party"`
	HSM   string                 `json:"hsm"`
	Keys  []keystore.UnsealCheck `json:"keys"`
}

func (s *Server) unsealCheck(w http.ResponseWriter, r *http.Request, _ string) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	keys, err := s.rt.Keys.CheckUnseal(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "not_ready", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, UnsealCheckResponse{Party: s.rt.Cfg.Party, HSM: s.rt.Sealer.Backend(), Keys: keys})
}

func (s *Server) attest(w http.ResponseWriter, r *http.Request, who string) {
	var rep recovery.Report
	if !decode(w, r, &rep) {
		return
	}
	if rep.Format != recovery.ReportFormat || (rep.Verdict != recovery.Pass && rep.Verdict != recovery.Fail) {
		writeError(w, http.StatusBadRequest, "bad_request", "not a finished drill report")
		return
	}
	// The report lands on this node's audit chain before the node vouches
	// for it: no signature for a drill the chain does not hold.
	d := rep.Digest()
	if s.svc != nil {
		if err := s.svc.Record(service.KindDrill, "drill/"+rep.Drill+"/"+rep.ID, d[:]); err != nil {
			if errors.Is(err, custody.ErrMalformed) {
				writeError(w, http.StatusBadRequest, "bad_request", err.Error())
			} else {
				writeError(w, http.StatusServiceUnavailable, "not_ready", err.Error())
			}
			return
		}
	}
	id, sig, err := s.rt.AttestDrill(recovery.SigningBytes(d))
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "not_ready", err.Error())
		return
	}
	s.log.Info("drill report attested", "caller", who, "drill", rep.Drill, "id", rep.ID, "verdict", rep.Verdict)
	writeJSON(w, http.StatusOK, recovery.Attestation{Party: s.rt.Cfg.Party, PeerID: id, Signature: sig})
}
