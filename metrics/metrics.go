// Package metrics owns atlas-sync's Prometheus registry: per-job row
// counters, upsert latency, retries, rate-limiter waits, run outcomes and
// the daemon's scheduling gauges. It measures what the engine and the
// scheduler report to it and decides nothing about a run.
package metrics

import (
	"net/http"
	"strconv"
	stdsync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/atlas-sync/atlas-sync/atlas"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// namespace prefixes every metric name.
const namespace = "atlas_sync"

// rowResults are the buckets a row read ends in; with "read" they form the
// values of the result label of atlas_sync_rows_total. Unsent rows are
// changed rows left for the next run.
var rowResults = []string{"unchanged", "sent", "rejected", "unreadable", "duplicate", "skipped", "unsent"}

// Build labels atlas_sync_build_info.
type Build struct {
	Version string
	Commit  string
}

// Metrics is a registry of atlas-sync's metrics. It implements
// sync.Observer and daemon.Observer and is safe for concurrent use. Labels
// hold job names, HTTP status codes and fixed words, never configuration
// values such as URLs, paths or tokens.
type Metrics struct {
	registry *prometheus.Registry

	rowsRead       *prometheus.CounterVec
	rows           *prometheus.CounterVec
	upsertDuration *prometheus.HistogramVec
	retries        *prometheus.CounterVec
	rateLimited    *prometheus.CounterVec
	throttleWait   *prometheus.HistogramVec
	runs           *prometheus.CounterVec
	runDuration    *prometheus.HistogramVec
	lastSuccess    *prometheus.GaugeVec
	lastRunEnd     *prometheus.GaugeVec
	running        *prometheus.GaugeVec
	nextRun        *prometheus.GaugeVec
	skippedTicks   *prometheus.CounterVec
	panics         *prometheus.CounterVec
	reloads        *prometheus.CounterVec
	reloadSuccess  prometheus.Gauge

	mu   stdsync.Mutex
	jobs map[string]bool // jobs of the current configuration
}

// New returns a registry with atlas-sync's metrics and the Go runtime and
// process collectors (go_goroutines, process_resident_memory_bytes, ...).
func New(build Build) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		jobs:     make(map[string]bool),

		rowsRead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rows_read_total",
			Help: "Rows read from the job's source, counted when a run ends.",
		}, []string{"job"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rows_total",
			Help: "Rows read, by the bucket they ended in (unchanged, sent, rejected, unreadable, duplicate, skipped, unsent), counted when a run ends. The buckets add up to rows_read_total.",
		}, []string{"job", "result"}),
		upsertDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "upsert_duration_seconds",
			Help:    "Latency of upsert requests to Atlas, by HTTP status code (\"none\" when no response arrived).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"job", "code"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "retries_total",
			Help: "Upsert requests retried, by reason: transient (5xx, timeout, connection error) or rate_limited (429).",
		}, []string{"job", "reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rate_limited_responses_total",
			Help: "429 Too Many Requests responses from Atlas.",
		}, []string{"job"}),
		throttleWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "throttle_wait_seconds",
			Help:    "Time a worker waited for the shared rate limit (and any 429 pause) before a request.",
			Buckets: []float64{0, .001, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"job"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "runs_total",
			Help: "Finished runs, by outcome (ok, partial, budget, rate_limited, canceled, failed).",
		}, []string{"job", "outcome"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "run_duration_seconds",
			Help:    "Duration of finished runs.",
			Buckets: []float64{.1, .5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200},
		}, []string{"job"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "last_success_timestamp_seconds",
			Help: "Unix time at which the last run that completed (outcome ok or partial) ended.",
		}, []string{"job"}),
		lastRunEnd: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "last_run_timestamp_seconds",
			Help: "Unix time at which the last run ended, whatever its outcome.",
		}, []string{"job"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "job_running",
			Help: "1 while a scheduled run of the job is going, 0 otherwise.",
		}, []string{"job"}),
		nextRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "next_run_timestamp_seconds",
			Help: "Unix time of the job's next scheduled start.",
		}, []string{"job"}),
		skippedTicks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "skipped_runs_total",
			Help: "Scheduled starts skipped because the job's previous run was still going.",
		}, []string{"job"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "run_panics_total",
			Help: "Runs that panicked and were recovered by the daemon.",
		}, []string{"job"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "config_reloads_total",
			Help: "Configuration reloads on SIGHUP, by result (success or failure).",
		}, []string{"result"}),
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_successful",
			Help: "1 if the configuration in use is the one on disk at the last load or reload, 0 if the last reload failed.",
		}),
	}

	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help: "Always 1; the labels name the running binary.",
	}, []string{"version", "commit"})
	buildInfo.WithLabelValues(build.Version, build.Commit).Set(1)
	m.reloadSuccess.Set(1)

	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
		m.rowsRead, m.rows, m.upsertDuration, m.retries, m.rateLimited,
		m.throttleWait, m.runs, m.runDuration, m.lastSuccess, m.lastRunEnd,
		m.running, m.nextRun, m.skippedTicks, m.panics, m.reloads, m.reloadSuccess,
	)
	return m
}

// Handler serves the registry in the Prometheus text format. A collector
// that fails drops only its own metrics, not the whole scrape: the process
// collector fails under a sandbox that hides /proc files, for example.
// promhttp_metric_handler_errors_total counts such failures.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		Registry:      m.registry,
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Gatherer returns the registry for tests and custom exporters.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.registry }

// SetJobs declares the jobs of the current configuration, so that their
// counters appear with value 0 before their first run. The scheduling
// gauges of jobs no longer configured are removed; their counters stay,
// as counters must not go back.
func (m *Metrics) SetJobs(jobs []string) {
	m.mu.Lock()
	defer m.mu.Unlock()

	current := make(map[string]bool, len(jobs))
	for _, job := range jobs {
		current[job] = true
		m.rowsRead.WithLabelValues(job)
		for _, result := range rowResults {
			m.rows.WithLabelValues(job, result)
		}
		m.rateLimited.WithLabelValues(job)
		m.skippedTicks.WithLabelValues(job)
		m.panics.WithLabelValues(job)
		m.running.WithLabelValues(job)
	}
	for job := range m.jobs {
		if !current[job] {
			m.running.DeleteLabelValues(job)
			m.nextRun.DeleteLabelValues(job)
		}
	}
	m.jobs = current
}

// ObserveReload counts a configuration reload.
func (m *Metrics) ObserveReload(ok bool) {
	if ok {
		m.reloads.WithLabelValues("success").Inc()
		m.reloadSuccess.Set(1)
		return
	}
	m.reloads.WithLabelValues("failure").Inc()
	m.reloadSuccess.Set(0)
}

// ObserveUpsert implements sync.Observer.
func (m *Metrics) ObserveUpsert(job string, status int, latency time.Duration) {
	code := "none"
	if status > 0 {
		code = strconv.Itoa(status)
	}
	m.upsertDuration.WithLabelValues(job, code).Observe(latency.Seconds())
	if status == http.StatusTooManyRequests {
		m.rateLimited.WithLabelValues(job).Inc()
	}
}

// ObserveRetry implements sync.Observer.
func (m *Metrics) ObserveRetry(job string, class atlas.Class) {
	m.retries.WithLabelValues(job, class.String()).Inc()
}

// ObserveThrottleWait implements sync.Observer.
func (m *Metrics) ObserveThrottleWait(job string, wait time.Duration) {
	m.throttleWait.WithLabelValues(job).Observe(wait.Seconds())
}

// ObserveRun implements sync.Observer. Dry runs are not counted: they send
// nothing and their buckets would double-count rows.
func (m *Metrics) ObserveRun(res atlassync.Result) {
	if res.Mode == "dry-run" {
		return
	}
	job := res.Job
	c := res.Counts
	m.rowsRead.WithLabelValues(job).Add(float64(c.Read))
	for result, n := range map[string]int64{
		"unchanged":  c.Unchanged,
		"sent":       c.Sent,
		"rejected":   c.Rejected,
		"unreadable": c.Unreadable,
		"duplicate":  c.Duplicate,
		"skipped":    c.Skipped,
		"unsent":     res.Unsent,
	} {
		m.rows.WithLabelValues(job, result).Add(float64(n))
	}

	m.runs.WithLabelValues(job, string(res.Outcome)).Inc()
	m.runDuration.WithLabelValues(job).Observe(res.Duration.Seconds())
	end := res.Started.Add(res.Duration)
	m.lastRunEnd.WithLabelValues(job).Set(unixSeconds(end))
	if res.Outcome == atlassync.OutcomeOK || res.Outcome == atlassync.OutcomePartial {
		m.lastSuccess.WithLabelValues(job).Set(unixSeconds(end))
	}
}

// ObserveSkippedTick implements daemon.Observer.
func (m *Metrics) ObserveSkippedTick(job string) {
	m.skippedTicks.WithLabelValues(job).Inc()
}

// ObservePanic implements daemon.Observer.
func (m *Metrics) ObservePanic(job string) {
	m.panics.WithLabelValues(job).Inc()
}

// ObserveRunning implements daemon.Observer.
func (m *Metrics) ObserveRunning(job string, running bool) {
	value := 0.0
	if running {
		value = 1
	}
	m.running.WithLabelValues(job).Set(value)
}

// ObserveNextRun implements daemon.Observer.
func (m *Metrics) ObserveNextRun(job string, next time.Time) {
	if next.IsZero() {
		m.nextRun.DeleteLabelValues(job)
		return
	}
	m.nextRun.WithLabelValues(job).Set(unixSeconds(next))
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
