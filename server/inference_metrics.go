package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/grimoire-run/grimoire/services/openai"
)

// InferenceStats is what the inference pool (openai.Router) reports of its
// endpoints, read at scrape time.
type InferenceStats interface {
	EndpointStats() []openai.EndpointStats
}

// inferenceMetrics exports every inference endpoint's load, outcomes and
// circuit breaker. The counts are this process's: each process holds its
// own pool, so per-endpoint concurrency is per process too.
type inferenceMetrics struct{ pool InferenceStats }

var (
	descInferenceInFlight = prometheus.NewDesc("grimoire_inference_in_flight",
		"Attempts in progress on an inference endpoint (waiting for a connection slot included).", []string{"endpoint"}, nil)
	descInferenceMaxConcurrent = prometheus.NewDesc("grimoire_inference_max_concurrent",
		"An inference endpoint's maxConcurrent (0: unbounded).", []string{"endpoint"}, nil)
	descInferenceRequests = prometheus.NewDesc("grimoire_inference_requests_total",
		"Attempts on an inference endpoint by outcome: ok, failed (counted by the breaker), refused (4xx, 429, malformed), cancelled.", []string{"endpoint", "outcome"}, nil)
	descInferenceFailovers = prometheus.NewDesc("grimoire_inference_failovers_total",
		"Attempts that failed on an endpoint and went on to another endpoint of its pool.", []string{"endpoint"}, nil)
	descInferenceBreaker = prometheus.NewDesc("grimoire_inference_breaker_state",
		"An endpoint's circuit breaker: 0 closed, 1 half-open (cool-down over, a probe may go), 2 open.", []string{"endpoint"}, nil)
	descInferenceBreakerOpened = prometheus.NewDesc("grimoire_inference_breaker_opened_total",
		"Times an endpoint's circuit breaker opened.", []string{"endpoint"}, nil)
	descInferenceHealthChecks = prometheus.NewDesc("grimoire_inference_health_checks_total",
		"Active health checks (GET /models) of an endpoint by outcome.", []string{"endpoint", "outcome"}, nil)
)

func (m *inferenceMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInferenceInFlight, descInferenceMaxConcurrent, descInferenceRequests,
		descInferenceFailovers, descInferenceBreaker, descInferenceBreakerOpened, descInferenceHealthChecks} {
		ch <- d
	}
}

func (m *inferenceMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, e := range m.pool.EndpointStats() {
		ch <- prometheus.MustNewConstMetric(descInferenceInFlight, prometheus.GaugeValue, float64(e.InFlight), e.Name)
		ch <- prometheus.MustNewConstMetric(descInferenceMaxConcurrent, prometheus.GaugeValue, float64(e.MaxConcurrent), e.Name)
		for outcome, n := range e.Requests {
			ch <- prometheus.MustNewConstMetric(descInferenceRequests, prometheus.CounterValue, float64(n), e.Name, outcome)
		}
		for outcome, n := range e.HealthChecks {
			ch <- prometheus.MustNewConstMetric(descInferenceHealthChecks, prometheus.CounterValue, float64(n), e.Name, outcome)
		}
		ch <- prometheus.MustNewConstMetric(descInferenceFailovers, prometheus.CounterValue, float64(e.FailedOver), e.Name)
		ch <- prometheus.MustNewConstMetric(descInferenceBreaker, prometheus.GaugeValue, float64(e.Breaker), e.Name)
		ch <- prometheus.MustNewConstMetric(descInferenceBreakerOpened, prometheus.CounterValue, float64(e.BreakerOpened), e.Name)
	}
}
