package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/state"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// value returns the value of the series of family name whose labels
// include want, and whether it exists.
func value(t *testing.T, m *Metrics, name string, want map[string]string) (float64, bool) {
	t.Helper()
	families, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, family := range families {
		if family.GetName() != name {
			continue
		}
		for _, metric := range family.GetMetric() {
			if !hasLabels(metric, want) {
				continue
			}
			switch {
			case metric.Counter != nil:
				return metric.Counter.GetValue(), true
			case metric.Gauge != nil:
				return metric.Gauge.GetValue(), true
			case metric.Histogram != nil:
				return float64(metric.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func hasLabels(metric *dto.Metric, want map[string]string) bool {
	matched := 0
	for _, pair := range metric.GetLabel() {
		if v, ok := want[pair.GetName()]; ok && v == pair.GetValue() {
			matched++
		}
	}
	return matched == len(want)
}

func mustValue(t *testing.T, m *Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := value(t, m, name, labels)
	if !ok {
		t.Fatalf("series %s%v not found", name, labels)
	}
	return v
}

func TestObserveRunCountsRows(t *testing.T) {
	m := New(Build{Version: "v1.2.3", Commit: "abc"})
	started := time.Unix(1_700_000_000, 0)
	m.ObserveRun(atlassync.Result{
		Job: "crm", Mode: "incremental", Outcome: atlassync.OutcomePartial,
		Counts:  state.Counts{Read: 10, Unchanged: 3, Sent: 4, Rejected: 1, Unreadable: 1, Duplicate: 1},
		Started: started, Duration: 2 * time.Second,
	})
	m.ObserveRun(atlassync.Result{
		Job: "crm", Mode: "incremental", Outcome: atlassync.OutcomeFailed,
		Counts: state.Counts{Read: 5, Sent: 2}, Unsent: 3,
		Started: started.Add(time.Hour), Duration: time.Second,
	})

	if got := mustValue(t, m, "atlas_sync_rows_read_total", map[string]string{"job": "crm"}); got != 15 {
		t.Errorf("rows read = %v, want 15", got)
	}
	for result, want := range map[string]float64{"unchanged": 3, "sent": 6, "rejected": 1, "unreadable": 1, "duplicate": 1, "skipped": 0, "unsent": 3} {
		if got := mustValue(t, m, "atlas_sync_rows_total", map[string]string{"job": "crm", "result": result}); got != want {
			t.Errorf("rows %s = %v, want %v", result, got, want)
		}
	}
	if got := mustValue(t, m, "atlas_sync_runs_total", map[string]string{"job": "crm", "outcome": "failed"}); got != 1 {
		t.Errorf("failed runs = %v, want 1", got)
	}
	if got := mustValue(t, m, "atlas_sync_run_duration_seconds", map[string]string{"job": "crm"}); got != 2 {
		t.Errorf("run duration samples = %v, want 2", got)
	}
	// The failed run is later but must not move the success timestamp.
	if got := mustValue(t, m, "atlas_sync_last_success_timestamp_seconds", map[string]string{"job": "crm"}); got != float64(started.Unix()+2) {
		t.Errorf("last success = %v, want %v", got, started.Unix()+2)
	}
	if got := mustValue(t, m, "atlas_sync_last_run_timestamp_seconds", map[string]string{"job": "crm"}); got != float64(started.Unix()+3601) {
		t.Errorf("last run = %v, want %v", got, started.Unix()+3601)
	}
	if got := mustValue(t, m, "atlas_sync_build_info", map[string]string{"version": "v1.2.3", "commit": "abc"}); got != 1 {
		t.Errorf("build info = %v, want 1", got)
	}
}

func TestObserveRunIgnoresDryRun(t *testing.T) {
	m := New(Build{})
	m.ObserveRun(atlassync.Result{Job: "crm", Mode: "dry-run", Outcome: atlassync.OutcomeOK, Counts: state.Counts{Read: 7}})
	if v, ok := value(t, m, "atlas_sync_rows_read_total", map[string]string{"job": "crm"}); ok && v != 0 {
		t.Errorf("rows read after a dry run = %v, want 0", v)
	}
}

func TestObserveRequests(t *testing.T) {
	m := New(Build{})
	m.ObserveUpsert("crm", 200, 30*time.Millisecond)
	m.ObserveUpsert("crm", 200, 40*time.Millisecond)
	m.ObserveUpsert("crm", 429, time.Millisecond)
	m.ObserveUpsert("crm", 0, 5*time.Second)
	m.ObserveRetry("crm", atlas.ClassRateLimited)
	m.ObserveRetry("crm", atlas.ClassTransient)
	m.ObserveRetry("crm", atlas.ClassTransient)
	m.ObserveThrottleWait("crm", 200*time.Millisecond)

	for code, want := range map[string]float64{"200": 2, "429": 1, "none": 1} {
		if got := mustValue(t, m, "atlas_sync_upsert_duration_seconds", map[string]string{"job": "crm", "code": code}); got != want {
			t.Errorf("upserts with code %s = %v, want %v", code, got, want)
		}
	}
	if got := mustValue(t, m, "atlas_sync_rate_limited_responses_total", map[string]string{"job": "crm"}); got != 1 {
		t.Errorf("429 responses = %v, want 1", got)
	}
	if got := mustValue(t, m, "atlas_sync_retries_total", map[string]string{"job": "crm", "reason": "transient"}); got != 2 {
		t.Errorf("transient retries = %v, want 2", got)
	}
	if got := mustValue(t, m, "atlas_sync_retries_total", map[string]string{"job": "crm", "reason": "rate_limited"}); got != 1 {
		t.Errorf("rate-limited retries = %v, want 1", got)
	}
	if got := mustValue(t, m, "atlas_sync_throttle_wait_seconds", map[string]string{"job": "crm"}); got != 1 {
		t.Errorf("throttle wait samples = %v, want 1", got)
	}
}

func TestSetJobsInitialisesAndRemovesGauges(t *testing.T) {
	m := New(Build{})
	m.SetJobs([]string{"a", "b"})
	m.ObserveNextRun("a", time.Unix(100, 0))
	m.ObserveNextRun("b", time.Unix(200, 0))
	m.ObserveRunning("b", true)

	if got := mustValue(t, m, "atlas_sync_rows_total", map[string]string{"job": "a", "result": "sent"}); got != 0 {
		t.Errorf("initial sent rows = %v, want 0", got)
	}
	m.SetJobs([]string{"a"})
	if _, ok := value(t, m, "atlas_sync_next_run_timestamp_seconds", map[string]string{"job": "b"}); ok {
		t.Error("next run of a removed job is still exported")
	}
	if _, ok := value(t, m, "atlas_sync_job_running", map[string]string{"job": "b"}); ok {
		t.Error("running gauge of a removed job is still exported")
	}
	if got := mustValue(t, m, "atlas_sync_next_run_timestamp_seconds", map[string]string{"job": "a"}); got != 100 {
		t.Errorf("next run of a = %v, want 100", got)
	}
}

func TestObserveReload(t *testing.T) {
	m := New(Build{})
	m.ObserveReload(false)
	if got := mustValue(t, m, "atlas_sync_config_last_reload_successful", nil); got != 0 {
		t.Errorf("after a failed reload = %v, want 0", got)
	}
	m.ObserveReload(true)
	if got := mustValue(t, m, "atlas_sync_config_last_reload_successful", nil); got != 1 {
		t.Errorf("after a successful reload = %v, want 1", got)
	}
	if got := mustValue(t, m, "atlas_sync_config_reloads_total", map[string]string{"result": "failure"}); got != 1 {
		t.Errorf("failed reloads = %v, want 1", got)
	}
}

func TestHandlerServesTextFormat(t *testing.T) {
	m := New(Build{})
	m.SetJobs([]string{"crm"})
	server := httptest.NewServer(m.Handler())
	defer server.Close()

	resp, err := http.Get(server.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`atlas_sync_rows_read_total{job="crm"} 0`, "go_goroutines ", "process_resident_memory_bytes "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
