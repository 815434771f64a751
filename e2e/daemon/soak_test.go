package daemone2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atlas-sync/atlas-sync/atlas/emulator"
)

// soakEnv sets the duration of TestDaemonSoak, such as "10m"; the test is
// skipped without it. `make soak-daemon` sets it.
const soakEnv = "ATLAS_SYNC_SOAK"

// TestDaemonSoak runs the daemon with three jobs on @every 1s schedules for
// the duration in ATLAS_SYNC_SOAK, rewriting one job's source every few
// seconds so that runs send as well as diff. It samples goroutines and
// memory from /metrics and fails when the last third of the samples is
// clearly above the first third (after a one-minute warm-up), which a leak
// per run would cause.
func TestDaemonSoak(t *testing.T) {
	raw := os.Getenv(soakEnv)
	if raw == "" {
		t.Skipf("set %s=10m (or use make soak-daemon) to run the soak test", soakEnv)
	}
	duration, err := time.ParseDuration(raw)
	if err != nil || duration < 3*time.Minute {
		t.Fatalf("%s=%q: expected a duration of at least 3m", soakEnv, raw)
	}

	em, baseURL := startEmulator(t, emulator.Options{})
	s := setup{dir: t.TempDir(), baseURL: baseURL, jobs: []jobSetup{
		{name: "steady", schedule: "@every 1s", rows: 2000},
		{name: "changing", schedule: "@every 1s", rows: 200},
		{name: "minutely", schedule: "* * * * *", rows: 500},
	}}
	writeConfig(t, s)
	d := start(t, nil, "daemon", "--config", s.configPath())
	addr := d.listenAddr(t)

	const interval = 5 * time.Second
	warmUp := time.Minute
	var samples []soakSample
	began := time.Now()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for round := 0; time.Since(began) < duration; round++ {
		<-ticker.C
		// Change a tenth of the rows of "changing" so that its next run
		// sends them.
		writeChangedCSV(t, filepath.Join(s.dir, "changing.csv"), 200, round)
		if time.Since(began) < warmUp {
			continue
		}
		samples = append(samples, soakSample{
			at:         time.Since(began),
			goroutines: scrape(t, addr, "go_goroutines"),
			rss:        scrape(t, addr, "process_resident_memory_bytes"),
			heap:       scrape(t, addr, "go_memstats_heap_inuse_bytes"),
			runs:       scrape(t, addr, `atlas_sync_runs_total{job="steady",outcome="ok"}`),
			sent:       scrape(t, addr, `atlas_sync_rows_total{job="changing",result="sent"}`),
		})
	}
	d.signal(t, syscall.SIGTERM)
	if code := d.wait(t, 30*time.Second); code != 0 {
		t.Errorf("exit status after the soak = %d, want 0", code)
	}

	third := len(samples) / 3
	first, last := samples[:third], samples[len(samples)-third:]
	report := soakReport{
		duration:       duration,
		samples:        len(samples),
		runs:           samples[len(samples)-1].runs,
		changedSent:    samples[len(samples)-1].sent,
		upserts:        em.Stats().Requests,
		goroutinesHigh: [2]float64{maxOf(first, goroutinesOf), maxOf(last, goroutinesOf)},
		rssMedian:      [2]float64{medianOf(first, rssOf), medianOf(last, rssOf)},
		heapMedian:     [2]float64{medianOf(first, heapOf), medianOf(last, heapOf)},
	}
	t.Log(report)

	if report.changedSent <= 200 {
		t.Errorf("job changing sent %v rows, want more than its first run's 200: the soak did not exercise sending", report.changedSent)
	}

	// Goroutines: the daemon at rest has a fixed set; runs add a bounded
	// number. A leak of one per run would add hundreds over the soak.
	if report.goroutinesHigh[1] > report.goroutinesHigh[0]+10 {
		t.Errorf("goroutines grew: max %v in the first third, %v in the last", report.goroutinesHigh[0], report.goroutinesHigh[1])
	}
	// Memory: the heap breathes with GC cycles, so compare medians and
	// allow 25% plus 4 MiB before calling it growth.
	if limit := report.heapMedian[0]*1.25 + 4<<20; report.heapMedian[1] > limit {
		t.Errorf("heap in use grew: median %.1f MiB in the first third, %.1f MiB in the last", report.heapMedian[0]/(1<<20), report.heapMedian[1]/(1<<20))
	}
	if limit := report.rssMedian[0]*1.25 + 8<<20; report.rssMedian[1] > limit {
		t.Errorf("resident memory grew: median %.1f MiB in the first third, %.1f MiB in the last", report.rssMedian[0]/(1<<20), report.rssMedian[1]/(1<<20))
	}
}

type soakSample struct {
	at                    time.Duration
	goroutines, rss, heap float64
	runs                  float64
	sent                  float64
}

func goroutinesOf(s soakSample) float64 { return s.goroutines }
func rssOf(s soakSample) float64        { return s.rss }
func heapOf(s soakSample) float64       { return s.heap }

func maxOf(samples []soakSample, value func(soakSample) float64) float64 {
	high := 0.0
	for _, s := range samples {
		high = max(high, value(s))
	}
	return high
}

func medianOf(samples []soakSample, value func(soakSample) float64) float64 {
	values := make([]float64, 0, len(samples))
	for _, s := range samples {
		values = append(values, value(s))
	}
	sort.Float64s(values)
	return values[len(values)/2]
}

type soakReport struct {
	duration       time.Duration
	samples        int
	runs           float64
	changedSent    float64
	upserts        int
	goroutinesHigh [2]float64 // max in the first and the last third
	rssMedian      [2]float64
	heapMedian     [2]float64
}

func (r soakReport) String() string {
	mib := func(v float64) string { return fmt.Sprintf("%.1f MiB", v/(1<<20)) }
	return fmt.Sprintf(`soak of %s, %d samples after a 1m warm-up; %v ok runs of job "steady"; %v rows sent by job "changing"; %d requests to the emulator
                     first third   last third
goroutines (max)     %-13v %v
heap in use (median) %-13s %s
RSS (median)         %-13s %s`,
		r.duration, r.samples, r.runs, r.changedSent, r.upserts,
		r.goroutinesHigh[0], r.goroutinesHigh[1],
		mib(r.heapMedian[0]), mib(r.heapMedian[1]),
		mib(r.rssMedian[0]), mib(r.rssMedian[1]))
}

// writeChangedCSV rewrites the "changing" job's file with a tenth of its
// rows renamed, a different tenth in each round.
func writeChangedCSV(t *testing.T, path string, rows, round int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := range rows {
		name := fmt.Sprintf("Account %d of changing", i)
		if i%10 == round%10 {
			name = fmt.Sprintf("Account %d of changing in round %d", i, round)
		}
		fmt.Fprintf(&b, "changing-%04d,%s\n", i, name)
	}
	// Write and rename, so that a run never reads a half-written file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
