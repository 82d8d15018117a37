package api

import (
	"net/http"
	"strconv"

	"github.com/triad-custody/triad/custody/audit"
	"github.com/triad-custody/triad/custody/service"
)

// AuditStatus is GET /v1/audit: the chain's head and whether it verifies.
type AuditStatus struct {
	Party         string                    `json:"party"`
	Head          audit.Head                `json:"head"`
	Verified      bool                      `json:"verified"`
	Error         string                    `json:"error,omitempty"`
	LastReconcile []service.ReconcileResult `json:"last_reconcile,omitempty"`
}

func (s *Server) auditStatus(w http.ResponseWriter, _ *http.Request, _ string) {
	head, err := s.svc.Store().Audit().Head()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	st := AuditStatus{Party: string(s.svc.Party()), Head: head, Verified: true, LastReconcile: s.svc.LastReconcile()}
	if err := s.svc.VerifyAudit(); err != nil {
		st.Verified, st.Error = false, err.Error()
	}
	writeJSON(w, http.StatusOK, st)
}

// AuditRecords is GET /v1/audit/records?from=<seq>&limit=<n>.
type AuditRecords struct {
	Head    audit.Head     `json:"head"`
	Records []audit.Record `json:"records"`
}

func (s *Server) auditRecords(w http.ResponseWriter, r *http.Request, _ string) {
	from, limit := uint64(1), 1000
	q := r.URL.Query()
	if v := q.Get("from"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "bad_query", "from must be a sequence number >= 1")
			return
		}
		from = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5000 {
			writeError(w, http.StatusBadRequest, "bad_query", "limit must be 1..5000")
			return
		}
		limit = n
	}
	chain := s.svc.Store().Audit()
	head, err := chain.Head()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	recs, err := chain.Records(from, limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	if recs == nil {
		recs = []audit.Record{}
	}
	writeJSON(w, http.StatusOK, AuditRecords{Head: head, Records: recs})
}

// ReconcileResponse is POST /v1/audit/reconcile: a reconciliation now.
type ReconcileResponse struct {
	Results []service.ReconcileResult `json:"results"`
}

func (s *Server) reconcile(w http.ResponseWriter, r *http.Request, who string) {
	s.log.Info("reconciliation requested", "caller", who)
	writeJSON(w, http.StatusOK, ReconcileResponse{Results: s.svc.Reconcile(r.Context())})
}
