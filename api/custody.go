package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/custody/store"
)

func (s *Server) registerCustody() {
	s.Handle("POST /v1/requests", []string{"operator", "margin-engine", "admin"}, s.createRequest)
	s.Handle("GET /v1/requests", allRoles, s.listRequests)
	s.Handle("GET /v1/requests/{id}", allRoles, s.getRequest)
	s.Handle("POST /v1/requests/{id}/approvals", []string{"operator"}, s.approve)
	s.Handle("GET /v1/events", allRoles, s.streamEvents)
	s.Handle("GET /v1/audit", []string{"admin", "operator", "auditor"}, s.auditStatus)
	s.Handle("GET /v1/audit/records", []string{"admin", "operator", "auditor"}, s.auditRecords)
	s.Handle("POST /v1/audit/reconcile", []string{"admin", "auditor"}, s.reconcile)
}

// custodyErrors maps the custody layers' sentinel errors (all of them
// the caller's mistake) to HTTP answers.
var custodyErrors = []struct {
	err  error
	code int
	name string
}{
	{custody.ErrMalformed, http.StatusBadRequest, "malformed"},
	{service.ErrForbidden, http.StatusForbidden, "forbidden"},
	{store.ErrNotFound, http.StatusNotFound, "not_found"},
	{store.ErrIdempotencyConflict, http.StatusConflict, "idempotency_conflict"},
	{store.ErrEvidenceReused, http.StatusConflict, "evidence_reused"},
	{custody.ErrReplay, http.StatusConflict, "replay"},
	{custody.ErrBadSignature, http.StatusUnprocessableEntity, "bad_signature"},
	{custody.ErrExpired, http.StatusUnprocessableEntity, "expired"},
	{custody.ErrMismatch, http.StatusUnprocessableEntity, "mismatch"},
	{settle.ErrPolicy, http.StatusUnprocessableEntity, "policy"},
	{settle.ErrNoInputs, http.StatusUnprocessableEntity, "no_inputs"},
	{btc.ErrInsufficientFunds, http.StatusUnprocessableEntity, "insufficient_funds"},
}

// custodyError answers err: a 4xx for the caller's mistakes, else 500.
func custodyError(w http.ResponseWriter, err error) {
	for _, x := range custodyErrors {
		if errors.Is(err, x.err) {
			writeError(w, x.code, x.name, err.Error())
			return
		}
	}
	writeError(w, http.StatusInternalServerError, "internal", err.Error())
}

// isCallerError reports whether err is one custodyError answers with a 4xx.
func isCallerError(err error) bool {
	for _, x := range custodyErrors {
		if errors.Is(err, x.err) {
			return true
		}
	}
	return false
}

// createRequest is POST /v1/requests: a typed request; requester and
// created_at are filled in by the node. 201 when stored, 200 when the
// idempotency key already named this request.
func (s *Server) createRequest(w http.ResponseWriter, r *http.Request, who string) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	draft, err := custody.DecodeRequestDraft(body)
	if err != nil {
		custodyError(w, err)
		return
	}
	// No chain work here: the coins are chosen and reserved when signing
	// begins, so a request is stored and answered at once, whatever the
	// Bitcoin node's state.
	v, created, err := s.svc.Submit(r.Context(), callerOf(r), draft)
	if err != nil {
		if !isCallerError(err) {
			// Nothing was stored: the caller may send the same request again.
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the request was not stored: "+err.Error())
			return
		}
		custodyError(w, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
		s.log.Info("custody request created", "caller", who, "request", v.ID[:12], "kind", v.Request.Kind)
	}
	writeJSON(w, code, v)
}

func (s *Server) getRequest(w http.ResponseWriter, r *http.Request, _ string) {
	v, err := s.svc.Get(r.PathValue("id"))
	if err != nil {
		custodyError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// RequestList is GET /v1/requests.
type RequestList struct {
	Requests []service.View `json:"requests"`
}

func (s *Server) listRequests(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	f := service.ListFilter{Status: custody.Status(q.Get("status")), Kind: custody.Kind(q.Get("kind"))}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			writeError(w, http.StatusBadRequest, "bad_query", "limit must be 1..500")
			return
		}
		f.Limit = n
	}
	if f.Kind != "" && !f.Kind.Valid() {
		writeError(w, http.StatusBadRequest, "bad_query", "unknown kind")
		return
	}
	list, err := s.svc.List(f)
	if err != nil {
		custodyError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, RequestList{Requests: list})
}

// approve is POST /v1/requests/{id}/approvals: an operator's signed
// approval or veto (custody.Approval), bound to this request.
func (s *Server) approve(w http.ResponseWriter, r *http.Request, who string) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	a, err := custody.DecodeApproval(body)
	if err != nil {
		custodyError(w, err)
		return
	}
	if a.RequestID != r.PathValue("id") {
		writeError(w, http.StatusUnprocessableEntity, "mismatch", "the approval is signed for another request than the path names")
		return
	}
	v, err := s.svc.Endorse(r.Context(), a)
	if err != nil {
		custodyError(w, err)
		return
	}
	s.log.Info("custody "+string(a.Stance)+" accepted", "caller", who, "request", v.ID[:12], "party", a.Party, "operator", a.Operator)
	writeJSON(w, http.StatusOK, v)
}

// streamEvents is GET /v1/events: server-sent events, one JSON Event per
// message; ?since=<seq> replays buffered events, ?request=<id> filters.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, _ string) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "internal", "streaming unsupported")
		return
	}
	var since uint64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_query", "since must be an event sequence number")
			return
		}
		since = n
	}
	filter := r.URL.Query().Get("request")
	ch, cancel := s.svc.Subscribe(since)
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": triad events\n\n")
	fl.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return
			}
			if filter != "" && e.RequestID != filter {
				continue
			}
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, b)
			fl.Flush()
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
			fl.Flush()
		case <-r.Context().Done():
			return
		}
	}
}
