// Package tracing is Grimoire's one door to OpenTelemetry. A run is a
// trace: its span is the parent of one span per node activation, and the
// requests a node makes to an inference server carry the W3C traceparent
// of its activation, so the server's own spans join the run's trace. The
// trace starts at the caller's request (an incoming traceparent is
// honoured) and is kept with the run (RunRequested's metadata), so a run
// resumed by another process continues it.
//
// Traces are exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, with the exporter's standard
// OTEL_* settings; otherwise nothing is traced and every function here
// costs next to nothing.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Environment variables that turn tracing on.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
)

const instrumentation = "github.com/grimoire-run/grimoire"

// enabled is set while a provider set up by Setup exports spans.
var enabled atomic.Bool

// propagator reads and writes W3C trace context headers.
var propagator = propagation.TraceContext{}

// Options configure Setup.
type Options struct {
	// Service names this process in the traces ("grimoire" by default).
	Service string
	// Getenv reads the environment (os.Getenv by default is the caller's).
	Getenv func(string) string
}

// Setup starts exporting traces when the environment names an OTLP
// endpoint, and returns the function that flushes and stops the exporter.
// Without an endpoint it does nothing and says so (enabled false).
func Setup(ctx context.Context, o Options) (shutdown func(context.Context) error, on bool, err error) {
	noop := func(context.Context) error { return nil }
	if o.Getenv == nil || (o.Getenv(EnvEndpoint) == "" && o.Getenv(EnvTracesEndpoint) == "") {
		return noop, false, nil
	}
	if o.Service == "" {
		o.Service = "grimoire"
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return noop, false, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", o.Service)))
	if err != nil {
		res = resource.Default()
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagator)
	enabled.Store(true)
	return func(ctx context.Context) error {
		enabled.Store(false)
		return tp.Shutdown(ctx)
	}, true, nil
}

// Enabled reports whether spans are being exported.
func Enabled() bool { return enabled.Load() }

func tracer() trace.Tracer { return otel.Tracer(instrumentation) }

// Handler traces each request that h serves: a server span named after
// its method and path, joined to the caller's trace when it sends a
// traceparent. It decides per request, so a handler built before Setup is
// traced once tracing is on.
func Handler(h http.Handler) http.Handler {
	traced := otelhttp.NewHandler(h, "http", otelhttp.WithPropagators(propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Enabled() {
			h.ServeHTTP(w, r)
			return
		}
		traced.ServeHTTP(w, r)
	})
}

// Transport traces each request sent through rt (a client span) and sends
// the caller's trace context along as traceparent. It decides per request,
// so a client built before Setup is traced once tracing is on.
func Transport(rt http.RoundTripper) http.RoundTripper {
	return &transport{plain: rt, traced: otelhttp.NewTransport(rt, otelhttp.WithPropagators(propagator))}
}

type transport struct{ plain, traced http.RoundTripper }

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !Enabled() {
		return t.plain.RoundTrip(r)
	}
	return t.traced.RoundTrip(r)
}

// CloseIdleConnections passes http.Client.CloseIdleConnections on to the
// wrapped transport (the traced one wraps the same), which it could not
// reach through this wrapper otherwise: a closed inference router would
// leave its keep-alive connections open.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.plain.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Parent is the traceparent of ctx's span ("" when there is none), to keep
// with a run so that whoever executes it continues the trace.
func Parent(ctx context.Context) string {
	if !Enabled() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"]
}

// WithParent returns ctx carrying the remote span that traceparent names
// (from Parent), so that spans started from it join that trace.
func WithParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" || !Enabled() {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// Run describes a run's span.
type Run struct {
	ID, Spell, User, Source string
	Resumed                 bool
}

// StartRun starts a run's span under ctx's span. end closes it with the
// run's status ("completed", "failed", ...) and error text.
func StartRun(ctx context.Context, r Run) (context.Context, func(status, errText string)) {
	if !Enabled() {
		return ctx, func(string, string) {}
	}
	ctx, span := tracer().Start(ctx, "run "+r.Spell, trace.WithAttributes(
		attribute.String("grimoire.run.id", r.ID),
		attribute.String("grimoire.spell.id", r.Spell),
		attribute.String("grimoire.user", r.User),
		attribute.String("grimoire.run.source", r.Source),
		attribute.Bool("grimoire.run.resumed", r.Resumed),
	))
	return ctx, func(status, errText string) {
		span.SetAttributes(attribute.String("grimoire.run.status", status))
		if errText != "" {
			span.SetStatus(codes.Error, errText)
		}
		span.End()
	}
}

// Node describes a node activation's span.
type Node struct {
	ID, Type   string
	Path       []string
	Activation int
}

// StartNode starts an activation's span under ctx's (the run's) span; end
// closes it with the activation's error, if any.
func StartNode(ctx context.Context, n Node) (context.Context, func(error)) {
	if !Enabled() {
		return ctx, func(error) {}
	}
	ctx, span := tracer().Start(ctx, "node "+n.Type, trace.WithAttributes(
		attribute.String("grimoire.node.id", n.ID),
		attribute.String("grimoire.node.type", n.Type),
		attribute.StringSlice("grimoire.node.path", n.Path),
		attribute.Int("grimoire.node.activation", n.Activation),
	))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}
