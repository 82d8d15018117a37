package api

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/triad-custody/triad/node"
)

// registerMetrics serves /metrics from a registry of this server's own:
// the node's event counters, the custody service's metrics, those of
// Options.Collectors, Go runtime.
func (s *Server) registerMetrics() {
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(collectors.NewGoCollector(), nodeCollector{n: s.rt.Node})
	if s.svc != nil {
		s.reg.MustRegister(s.svc.Collectors()...)
	}
	s.reg.MustRegister(s.extra...)
	h := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
	s.Handle("GET /metrics", []string{"admin", "auditor", "operator"}, func(w http.ResponseWriter, r *http.Request, _ string) {
		h.ServeHTTP(w, r)
	})
}

var (
	nodeEventsDesc = prometheus.NewDesc("triad_node_events_total",
		"Signing-network events at this node: rejected envelopes by reason, aborts, declines.", []string{"event"}, nil)
	nodeIncidentsDesc = prometheus.NewDesc("triad_node_incidents",
		"Aborted sessions this node remembers (every abort is an incident).", nil, nil)
)

// nodeCollector exports node.Node's counters.
type nodeCollector struct{ n *node.Node }

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- nodeEventsDesc
	ch <- nodeIncidentsDesc
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	if c.n == nil {
		return
	}
	for k, v := range c.n.Counters() {
		ch <- prometheus.MustNewConstMetric(nodeEventsDesc, prometheus.CounterValue, float64(v), k)
	}
	ch <- prometheus.MustNewConstMetric(nodeIncidentsDesc, prometheus.GaugeValue, float64(len(c.n.Incidents())))
}
