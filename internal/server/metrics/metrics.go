// Package metrics holds Bindery's Prometheus collectors, on a registry of
// the server's own (no global state).
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the server's collectors.
type Metrics struct {
	Registry        *prometheus.Registry
	HTTPDuration    *prometheus.HistogramVec
	AppendDuration  prometheus.Histogram
	Conflicts       prometheus.Counter
	Applied         *prometheus.CounterVec
	ProjectionLag   *prometheus.GaugeVec
	LoginOutcomes   *prometheus.CounterVec
	WebhookDelivery *prometheus.CounterVec
	// BackChannelLogouts counts back-channel logout deliveries by result.
	BackChannelLogouts *prometheus.CounterVec
	ChainBreaks        *prometheus.CounterVec
	SealHeld           *prometheus.CounterVec
}

// New registers the collectors on a fresh registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bindery_http_request_duration_seconds", Help: "HTTP request latency by route and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route", "status"}),
		AppendDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "bindery_store_append_duration_seconds", Help: "Latency of appends to JetStream (including retries).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1},
		}),
		Conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bindery_store_conflicts_total", Help: "Optimistic-concurrency conflicts met by appends (each is retried).",
		}),
		Applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bindery_projection_events_applied_total", Help: "Events applied to the projections.",
		}, []string{"stream"}),
		ProjectionLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bindery_projection_lag_seconds", Help: "Age of the last applied event when it was applied.",
		}, []string{"stream"}),
		LoginOutcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bindery_login_outcomes_total", Help: "Login outcomes by status.",
		}, []string{"status"}),
		WebhookDelivery: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bindery_webhook_deliveries_total", Help: "Webhook delivery attempts by result.",
		}, []string{"result"}),
		BackChannelLogouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bindery_backchannel_logouts_total", Help: "Back-channel logout deliveries by result (delivered, retried, failed).",
		}, []string{"result"}),
		ChainBreaks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bindery_chain_breaks_total", Help: "Events the views refused because their prevhash does not chain to their aggregate's previous event.",
		}, []string{"stream"}),
		SealHeld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bindery_audit_seal_held_total", Help: "Sealing rounds that stopped before an event that breaks its aggregate's hash chain.",
		}, []string{"stream"}),
	}
	r.MustRegister(m.HTTPDuration, m.AppendDuration, m.Conflicts, m.Applied, m.ProjectionLag, m.LoginOutcomes, m.WebhookDelivery, m.BackChannelLogouts, m.ChainBreaks, m.SealHeld,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveApplied records one applied event of a stream.
func (m *Metrics) ObserveApplied(stream string, eventTime time.Time) {
	m.Applied.WithLabelValues(stream).Inc()
	m.ProjectionLag.WithLabelValues(stream).Set(time.Since(eventTime).Seconds())
}
