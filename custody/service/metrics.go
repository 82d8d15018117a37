package service

import "github.com/prometheus/client_golang/prometheus"

// metrics are one service's Prometheus collectors (not registered
// globally: a process may run several nodes, as tests do).
type metrics struct {
	requests       *prometheus.CounterVec
	transitions    *prometheus.CounterVec
	decisions      *prometheus.CounterVec
	approvals      *prometheus.CounterVec
	authorizations *prometheus.CounterVec
	peerMsgs       *prometheus.CounterVec
	signatures     prometheus.Counter
	judgments      prometheus.Counter
	tickSteps      prometheus.Counter
	trackSteps     prometheus.Counter
	signFailures   prometheus.Counter
	clockJumps     prometheus.Counter
	divergences    prometheus.Counter
	reconciles     *prometheus.CounterVec
	mismatches     prometheus.Gauge
}

func newMetrics() *metrics {
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "triad", Subsystem: "custody", Name: name, Help: help}, labels)
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "triad", Subsystem: "custody", Name: name, Help: help})
	}
	return &metrics{
		requests:       cv("requests_total", "Requests stored at this node, by kind.", "kind"),
		transitions:    cv("transitions_total", "Status changes at this node, by new status.", "status"),
		decisions:      cv("decisions_total", "Policy decisions that changed, by verdict.", "verdict"),
		approvals:      cv("approvals_total", "Signed approvals and vetoes received, by stance and result.", "stance", "result"),
		authorizations: cv("sign_authorizations_total", "Signing sessions this node was asked to join, by result.", "result"),
		peerMsgs:       cv("peer_messages_total", "Custody messages from peers, by type and result.", "type", "result"),
		signatures:     c("signatures_total", "Requests this node coordinated to a complete signature."),
		judgments:      c("batch_member_judgments_total", "Liquidation batch members this node judged as a partner (custody.DecideBatchMember)."),
		tickSteps:      c("tick_steps_total", "Open requests a tick stepped (due or changed: due.go)."),
		trackSteps:     c("track_steps_total", "Tracked requests stepped because their transaction's confirmations changed (track.go)."),
		signFailures:   c("sign_failures_total", "Signing attempts this node coordinated that failed."),
		clockJumps:     c("clock_jumps_total", "Wall-clock jumps this node detected."),
		divergences:    c("audit_divergences_total", "Audit chain divergences detected."),
		reconciles:     cv("reconciliations_total", "Audit reconciliations, by result.", "result"),
		mismatches: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "triad", Subsystem: "custody", Name: "reconcile_mismatches",
			Help: "Mismatches found by the last reconciliation."}),
	}
}

// Collectors returns the service's metrics for the API's registry.
func (s *Service) Collectors() []prometheus.Collector {
	m := s.m
	return []prometheus.Collector{m.requests, m.transitions, m.decisions, m.approvals, m.authorizations, m.peerMsgs,
		m.signatures, m.signFailures, m.clockJumps, m.divergences, m.reconciles, m.mismatches, m.judgments, m.tickSteps, m.trackSteps}
}
