package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/holdings"
)

// registerHoldings adds the proofs-of-holdings endpoints (issue 13); New
// calls it. A node without an attester answers the proof and snapshot
// endpoints with 404 no_attester.
func (s *Server) registerHoldings() {
	s.Handle("POST /v1/credit", []string{"admin", "margin-engine", "auditor"}, s.credit)
	s.Handle("GET /v1/holdings/{account}/proof", allRoles, s.holdingsProof)
	s.Handle("POST /v1/admin/holdings/snapshot", []string{"admin"}, s.holdingsSnapshot)
	s.Handle("GET /v1/holdings/view", []string{"admin", "auditor"}, s.holdingsView)
	s.Handle("POST /v1/holdings/reconcile", []string{"admin", "auditor"}, s.holdingsReconcile)
}

// holdingsReconcile is POST /v1/holdings/reconcile: reconcile the three
// nodes' holdings views now (any node with a reconciler; the regulator's
// does it on schedule), as the scheduled run does: recorded on this node's
// audit chain, a disagreement an incident.
func (s *Server) holdingsReconcile(w http.ResponseWriter, r *http.Request, _ string) {
	if s.reconciler == nil {
		writeError(w, http.StatusNotFound, "no_chain", "this node has no chain node (bitcoin or evm.chains) to read holdings from")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	rep, err := s.reconciler.Reconcile(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "not_reconciled", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// holdingsView is GET /v1/holdings/view: this node's own holdings view now
// (chain heads, root, leaves), what reconciliation compares between nodes
// (holdings.Compare).
func (s *Server) holdingsView(w http.ResponseWriter, r *http.Request, _ string) {
	if s.view == nil {
		writeError(w, http.StatusNotFound, "no_chain", "this node has no chain node (bitcoin or evm.chains) to read holdings from")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	leaves, heads, err := s.view.Read(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "chain_unavailable", err.Error())
		return
	}
	v, err := holdings.ViewOf(s.rt.Cfg.Party, leaves, heads)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// holdingsProof is GET /v1/holdings/{account}/proof: the account's
// inclusion proofs under the latest snapshot the attestation key signed.
func (s *Server) holdingsProof(w http.ResponseWriter, r *http.Request, _ string) {
	if !s.hasAttester(w) {
		return
	}
	p, err := s.holdings.Proof(r.PathValue("account"))
	switch {
	case errors.Is(err, holdings.ErrNoSnapshot):
		writeError(w, http.StatusNotFound, "no_snapshot", err.Error())
	case errors.Is(err, holdings.ErrNoAccount):
		writeError(w, http.StatusNotFound, "no_account", err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
	default:
		writeJSON(w, http.StatusOK, p)
	}
}

// holdingsSnapshot is POST /v1/admin/holdings/snapshot: take a snapshot of
// this node's chain view now and have it signed (the partner recomputes it).
func (s *Server) holdingsSnapshot(w http.ResponseWriter, r *http.Request, _ string) {
	if !s.hasAttester(w) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*s.rt.Cfg.Sessions.SignTimeout+30*time.Second)
	defer cancel()
	att, err := s.holdings.Attest(ctx)
	if err != nil {
		s.log.Warn("holdings snapshot", "err", err)
		writeError(w, http.StatusServiceUnavailable, "not_signed", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, att)
}

func (s *Server) hasAttester(w http.ResponseWriter) bool {
	if s.holdings == nil {
		writeError(w, http.StatusNotFound, "no_attester", "this node takes no holdings snapshots (no attestation key, or no bitcoin node)")
		return false
	}
	return true
}

// CreditRequest is POST /v1/credit: a proof of holdings (from the
// custodian's GET /v1/holdings/{account}/proof) and a signed price input.
type CreditRequest struct {
	Proof  holdings.AccountProof `json:"proof"`
	Prices holdings.PriceInput   `json:"prices"`
}

// credit is POST /v1/credit: the account's credit line, computed by this
// node from a proof it verifies against the attestation key's group key
// (from its own share) and prices it checks against its own policy. With
// a credit book (the exchange's node) both are kept for its liquidations.
func (s *Server) credit(w http.ResponseWriter, r *http.Request, _ string) {
	var req CreditRequest
	if !decode(w, r, &req) {
		return
	}
	keyID := req.Proof.Attestation.KeyID
	if role, ok := s.policy.KeyRoleOf(keyID); !ok || role != custody.RoleAttestation {
		writeError(w, http.StatusUnprocessableEntity, "not_attestation_key", fmt.Sprintf("key %q is not an attestation key in this node's policy", clipText(keyID)))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	share, err := s.rt.Keys.Load(ctx, keyID)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "key_unavailable", "this node holds no usable share of "+keyID)
		return
	}
	pub, err := share.PublicKey()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	var c holdings.Credit
	if s.book != nil {
		c, err = s.book.Record(req.Proof, pub, req.Prices, time.Now())
	} else {
		c, err = holdings.CreditFor(s.policy, req.Proof, pub, req.Prices, time.Now())
	}
	switch {
	case errors.Is(err, holdings.ErrPrice):
		writeError(w, http.StatusUnprocessableEntity, "price_refused", err.Error())
	case err != nil:
		writeError(w, http.StatusUnprocessableEntity, "proof_refused", err.Error())
	default:
		writeJSON(w, http.StatusOK, c)
	}
}
