package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/holdings"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/node"
)

// caller is an authenticated API client.
type caller struct {
	name, role string
	hash       [32]byte
}

// Server serves the API of one node.
type Server struct {
	rt      *node.Runtime
	svc     *service.Service
	mux     *http.ServeMux
	callers []caller
	maxBody int64
	log     *slog.Logger
	srv     *http.Server
	routes  []Route
	reg     *prometheus.Registry
	// holdings, when set, signs snapshots and serves proofs of holdings.
	holdings *holdings.Attester
	view     *holdings.View
	extra    []prometheus.Collector
	// reconciler reconciles the nodes' holdings views on demand.
	reconciler *holdings.Reconciler
	book       *holdings.CreditBook
	policy     custody.Policy
	network    string
}

// Route is one registered endpoint (the OpenAPI document must list exactly
// these).
type Route struct {
	Method, Path string
	Roles        []string // empty: no authentication
}

// Options adjust a Server.
type Options struct {
	// Getenv reads token_env credentials; os.Getenv when nil.
	Getenv func(string) string
	// Custody, when set, serves the custody endpoints (requests, approvals,
	// events, audit) from this node's custody service.
	Custody *service.Service
	// Holdings, when set, serves GET /v1/holdings/{account}/proof and
	// POST /v1/admin/holdings/snapshot from this node's attester.
	Holdings *holdings.Attester
	// HoldingsView, when set, serves GET /v1/holdings/view: this node's
	// own holdings view (every node with a Bitcoin node).
	HoldingsView *holdings.View
	// Collectors are further metrics /metrics serves (the holdings
	// reconciler's).
	Collectors []prometheus.Collector
	// Reconciler, when set, serves POST /v1/holdings/reconcile.
	Reconciler *holdings.Reconciler
	// Credit, when set, keeps what POST /v1/credit verified: the latest
	// proof per account and the latest prices, which this node's
	// liquidations are checked against (the exchange's node).
	Credit *holdings.CreditBook
	// Policy is this node's own policy (daemon.Config.Policy), which the
	// credit and transaction views check against; the custody service's
	// when unset.
	Policy custody.Policy
	// BitcoinNetwork is the network of bitcoin.network ("mainnet" when
	// empty): the addresses and transactions the API shows.
	BitcoinNetwork string
	// Config is the node's api section: its callers (tokens read from
	// their token_env or token_file, resolved against the node's config
	// directory) and body limit (64 KiB when zero).
	Config Config
}

// New builds the API server for rt, loading every credential's token.
func New(rt *node.Runtime, o Options) (*Server, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	s := &Server{rt: rt, svc: o.Custody, holdings: o.Holdings, view: o.HoldingsView, extra: o.Collectors, reconciler: o.Reconciler, book: o.Credit,
		policy: o.Policy, network: o.BitcoinNetwork, mux: http.NewServeMux(), maxBody: o.Config.MaxBodyBytes, log: rt.Log}
	if s.policy.Party == "" && s.svc != nil {
		s.policy = s.svc.Policy()
	}
	if s.network == "" {
		s.network = "mainnet"
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxBody <= 0 {
		s.maxBody = 64 << 10
	}
	for i, cr := range o.Config.Credentials {
		tok, err := readToken(rt.Cfg, cr, o.Getenv)
		if err != nil {
			return nil, fmt.Errorf("api.credentials[%d] (%s): %w", i, cr.Name, err)
		}
		s.callers = append(s.callers, caller{name: cr.Name, role: cr.Role, hash: sha256.Sum256([]byte(tok))})
	}
	s.public("GET /healthz", s.healthz)
	s.public("GET /readyz", s.readyz)
	s.public("GET /openapi.yaml", serveOpenAPI)
	s.Handle("GET /v1/status", allRoles, s.status)
	s.Handle("POST /v1/admin/keygen", []string{"admin"}, s.keygen)
	s.Handle("POST /v1/admin/sign", []string{"admin"}, s.sign)
	s.registerMetrics()
	s.registerRecovery()
	if s.svc != nil {
		s.registerCustody()
	}
	s.registerBitcoin()
	s.registerHoldings()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return s, nil
}

func readToken(c *node.Config, cr Credential, getenv func(string) string) (string, error) {
	var tok string
	if cr.TokenEnv != "" {
		tok = getenv(cr.TokenEnv)
		if tok == "" {
			return "", fmt.Errorf("environment variable %s is empty", cr.TokenEnv)
		}
	} else {
		b, err := os.ReadFile(c.Resolve(cr.TokenFile))
		if err != nil {
			return "", fmt.Errorf("reading token file: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	if len(tok) < 16 {
		return "", errors.New("token shorter than 16 characters")
	}
	return tok, nil
}

var allRoles = []string{"admin", "operator", "auditor", "margin-engine"}

// Routes lists every registered endpoint.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

func (s *Server) public(pattern string, h http.HandlerFunc) {
	s.addRoute(pattern, nil)
	s.mux.HandleFunc(pattern, h)
}

func (s *Server) addRoute(pattern string, roles []string) {
	method, path, _ := strings.Cut(pattern, " ")
	s.routes = append(s.routes, Route{Method: method, Path: path, Roles: roles})
}

type callerKey struct{}

// callerOf returns the authenticated caller of a request served by Handle.
func callerOf(r *http.Request) service.Caller {
	c, _ := r.Context().Value(callerKey{}).(service.Caller)
	return c
}

// Handle registers an authenticated handler for the given roles.
func (s *Server) Handle(pattern string, roles []string, h func(http.ResponseWriter, *http.Request, string)) {
	s.addRoute(pattern, roles)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		name, role, ok := s.authenticate(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="triad"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token")
			return
		}
		allowed := false
		for _, ro := range roles {
			allowed = allowed || ro == role
		}
		if !allowed {
			writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("role %s may not call %s", role, pattern))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, service.Caller{Name: name, Role: role}))
		h(w, r, name)
	})
}

func (s *Server) authenticate(r *http.Request) (name, role string, ok bool) {
	tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found || tok == "" {
		return "", "", false
	}
	h := sha256.Sum256([]byte(tok))
	for _, c := range s.callers {
		if subtle.ConstantTimeCompare(h[:], c.hash[:]) == 1 {
			return c.name, c.role, true
		}
	}
	return "", "", false
}

// ServeHTTP lets tests drive the server without a listener.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)} // TLS handshake failures and the like, in the node's log
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server gracefully.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}

// decode reads a JSON body strictly (readBody): unknown fields,
// duplicate keys, trailing data and oversized bodies are errors.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, ok := readBody(w, r)
	if !ok {
		return false
	}
	if err := custody.DecodeStrict(b, len(b), v); err != nil {
		writeError(w, http.StatusBadRequest, "malformed_json", err.Error())
		return false
	}
	return true
}

// readBody reads the body of a JSON endpoint: 415 unless the content type
// is application/json, 413 past the size limit, 400 when empty.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("content type %q: this endpoint takes application/json", clipText(r.Header.Get("Content-Type"))))
		return nil, false
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("body exceeds %d bytes", mbe.Limit))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "bad_body", "reading the body: "+err.Error())
		return nil, false
	}
	if len(b) == 0 {
		writeError(w, http.StatusBadRequest, "malformed_json", "empty body: want a JSON object")
		return nil, false
	}
	return b, true
}

func clipText(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// ErrorBody is every error response.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, code int, errCode, msg string) {
	var b ErrorBody
	b.Error.Code, b.Error.Message = errCode, msg
	writeJSON(w, code, b)
}

func hexDigest(s string) ([32]byte, error) {
	var d [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return d, errors.New("digest must be 64 hex characters (32 bytes)")
	}
	copy(d[:], b)
	return d, nil
}
