package server

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, on a registry of its own.
type metrics struct {
	registry        *prometheus.Registry
	requests        *prometheus.CounterVec
	latency         *prometheus.HistogramVec
	sockets         prometheus.Gauge
	runsStarted     *prometheus.CounterVec
	eventsDelivered prometheus.Counter
	gapsFilled      prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grimoire_http_requests_total", Help: "HTTP requests by route and status class.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "grimoire_http_request_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}, []string{"route"}),
		sockets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "grimoire_sockets", Help: "Connected Socket.IO clients.",
		}),
		runsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grimoire_runs_started_total", Help: "Runs started, by source (socket, rest).",
		}, []string{"source"}),
		eventsDelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "grimoire_run_events_delivered_total", Help: "Run events delivered to socket and SSE subscribers.",
		}),
		gapsFilled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "grimoire_run_event_gaps_filled_total", Help: "Times a subscriber's missing events were read back from the store.",
		}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.sockets, m.runsStarted, m.eventsDelivered, m.gapsFilled,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds collectors from other packages (projection lag, stores).
func (m *metrics) register(cs ...prometheus.Collector) { m.registry.MustRegister(cs...) }

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument counts and times every request by its route pattern. The
// Socket.IO endpoint passes through untouched: its connections are
// long-lived and hijacked.
func (m *metrics) instrument(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/socket.io/") {
			mux.ServeHTTP(w, r)
			return
		}
		_, route := mux.Handler(r)
		if route == "" || route == "/" {
			route = "other"
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		mux.ServeHTTP(rec, r)
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(route, strconv.Itoa(rec.status/100)+"xx").Inc()
	})
}
