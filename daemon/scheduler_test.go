package daemon

import (
	"context"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// events records what the scheduler reports, for assertions.
type events struct {
	mu      stdsync.Mutex
	skipped map[string]int
	panics  map[string]int
	next    map[string]time.Time
	changed chan struct{}
}

func newEvents() *events {
	return &events{skipped: map[string]int{}, panics: map[string]int{}, next: map[string]time.Time{}, changed: make(chan struct{}, 100)}
}

func (e *events) signal() {
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

func (e *events) ObserveSkippedTick(task string) {
	e.mu.Lock()
	e.skipped[task]++
	e.mu.Unlock()
	e.signal()
}

func (e *events) ObservePanic(task string) {
	e.mu.Lock()
	e.panics[task]++
	e.mu.Unlock()
	e.signal()
}

func (e *events) ObserveRunning(string, bool) {}

func (e *events) ObserveNextRun(task string, next time.Time) {
	e.mu.Lock()
	e.next[task] = next
	e.mu.Unlock()
}

func (e *events) count(kind map[string]int, task string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return kind[task]
}

// waitFor polls cond until it holds or the deadline passes. Schedules fire
// once a second at most, so the deadline allows several ticks.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSchedulerSkipsOverlappingTick(t *testing.T) {
	ev := newEvents()
	core, logs := observer.New(zapcore.InfoLevel)
	s := NewScheduler(zap.New(core), ev)

	var concurrent, maxConcurrent, runs atomic.Int32
	release := make(chan struct{})
	task := Task{Name: "slow", Schedule: "@every 1s", Run: func(ctx context.Context) {
		n := concurrent.Add(1)
		defer concurrent.Add(-1)
		for {
			old := maxConcurrent.Load()
			if n <= old || maxConcurrent.CompareAndSwap(old, n) {
				break
			}
		}
		runs.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
	}}
	if err := s.Apply(time.UTC, []Task{task}); err != nil {
		t.Fatal(err)
	}

	waitFor(t, "two skipped ticks", func() bool { return ev.count(ev.skipped, "slow") >= 2 })
	close(release)
	<-s.Stop()

	if got := maxConcurrent.Load(); got != 1 {
		t.Errorf("max concurrent runs = %d, want 1", got)
	}
	if got := runs.Load(); got < 1 {
		t.Errorf("runs = %d, want at least 1", got)
	}
	skipLogs := logs.FilterMessageSnippet("skipped a scheduled run").All()
	if len(skipLogs) < 2 {
		t.Fatalf("skip log lines = %d, want at least 2", len(skipLogs))
	}
	if job := skipLogs[0].ContextMap()["job"]; job != "slow" {
		t.Errorf("skip log job = %v, want slow", job)
	}
}

func TestSchedulerRecoversPanic(t *testing.T) {
	ev := newEvents()
	core, logs := observer.New(zapcore.InfoLevel)
	s := NewScheduler(zap.New(core), ev)

	var healthyRuns atomic.Int32
	tasks := []Task{
		{Name: "broken", Schedule: "@every 1s", Run: func(context.Context) { panic("boom") }},
		{Name: "healthy", Schedule: "@every 1s", Run: func(context.Context) { healthyRuns.Add(1) }},
	}
	if err := s.Apply(time.UTC, tasks); err != nil {
		t.Fatal(err)
	}

	waitFor(t, "two panics and two healthy runs", func() bool {
		return ev.count(ev.panics, "broken") >= 2 && healthyRuns.Load() >= 2
	})
	<-s.Stop()

	entries := logs.FilterMessageSnippet("panicked").All()
	if len(entries) < 2 {
		t.Fatalf("panic log lines = %d, want at least 2", len(entries))
	}
	fields := entries[0].ContextMap()
	if fields["panic"] != "boom" {
		t.Errorf("panic field = %v, want boom", fields["panic"])
	}
	if stack, _ := fields["stack"].(string); !strings.Contains(stack, "scheduler_test.go") {
		t.Errorf("stack field does not reach the panicking function:\n%s", stack)
	}
}

func TestSchedulerApplyInvalidKeepsTasks(t *testing.T) {
	s := NewScheduler(zap.NewNop(), nil)
	ran := make(chan struct{}, 10)
	valid := []Task{{Name: "a", Schedule: "@every 1s", Run: func(context.Context) { ran <- struct{}{} }}}
	if err := s.Apply(time.UTC, valid); err != nil {
		t.Fatal(err)
	}

	invalid := []Task{
		{Name: "a", Schedule: "@every 1s", Run: func(context.Context) {}},
		{Name: "b", Schedule: "61 * * * *", Run: func(context.Context) {}},
	}
	err := s.Apply(time.UTC, invalid)
	if err == nil || !strings.Contains(err.Error(), "job b") {
		t.Fatalf("Apply(invalid) error = %v, want one naming job b", err)
	}

	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("the task applied first did not run after the rejected Apply")
	}
	if next := s.NextRuns(); next["a"].IsZero() || len(next) != 1 {
		t.Errorf("NextRuns = %v, want only task a", next)
	}
	<-s.Stop()
}

func TestSchedulerApplyRejectsDuplicateName(t *testing.T) {
	s := NewScheduler(zap.NewNop(), nil)
	defer func() { <-s.Stop() }()
	tasks := []Task{
		{Name: "a", Schedule: "@hourly", Run: func(context.Context) {}},
		{Name: "a", Schedule: "@daily", Run: func(context.Context) {}},
	}
	if err := s.Apply(time.UTC, tasks); err == nil {
		t.Fatal("Apply with a duplicate name returned nil")
	}
}

func TestSchedulerStopCancelsAndWaits(t *testing.T) {
	s := NewScheduler(zap.NewNop(), nil)
	started := make(chan struct{})
	var once stdsync.Once
	finished := make(chan struct{})
	task := Task{Name: "long", Schedule: "@every 1s", Run: func(ctx context.Context) {
		once.Do(func() { close(started) })
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // winding down, like a grace period
		close(finished)
	}}
	if err := s.Apply(time.UTC, []Task{task}); err != nil {
		t.Fatal(err)
	}
	<-started

	done := s.Stop()
	<-done
	select {
	case <-finished:
	default:
		t.Fatal("Stop's channel closed before the run returned")
	}
	if err := s.Apply(time.UTC, []Task{task}); err != ErrStopped {
		t.Errorf("Apply after Stop = %v, want ErrStopped", err)
	}
	<-s.Stop() // a second Stop must not block or panic
}

func TestSchedulerReportsNextRun(t *testing.T) {
	ev := newEvents()
	s := NewScheduler(zap.NewNop(), ev)
	defer func() { <-s.Stop() }()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("time zone data not installed:", err)
	}
	if err := s.Apply(berlin, []Task{{Name: "daily", Schedule: "0 6 * * *", Run: func(context.Context) {}}}); err != nil {
		t.Fatal(err)
	}

	ev.mu.Lock()
	next := ev.next["daily"]
	ev.mu.Unlock()
	local := next.In(berlin)
	if local.Hour() != 6 || local.Minute() != 0 {
		t.Errorf("next run = %s, want 06:00 in Europe/Berlin", local)
	}
	if until := time.Until(next); until <= 0 || until > 25*time.Hour {
		t.Errorf("next run is %s away, want within a day", until)
	}
}

// TestScheduleDaylightSaving pins robfig/cron v3.0.1's behaviour at
// daylight-saving changes, which README.md documents: a time that the
// spring change skips does not run that day, and a time in the hour that
// the autumn change repeats runs twice.
func TestScheduleDaylightSaving(t *testing.T) {
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("time zone data not installed:", err)
	}
	nextTimes := func(spec string, from time.Time, n int) []string {
		schedule, err := cron.ParseStandard(spec)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for range n {
			from = schedule.Next(from)
			out = append(out, from.In(newYork).Format("2006-01-02 15:04 MST"))
		}
		return out
	}

	// 2025-03-09 02:00 EST became 03:00 EDT.
	spring := nextTimes("CRON_TZ=America/New_York 30 2 * * *", time.Date(2025, 3, 8, 12, 0, 0, 0, newYork), 2)
	wantSpring := []string{"2025-03-10 02:30 EDT", "2025-03-11 02:30 EDT"}
	if strings.Join(spring, ", ") != strings.Join(wantSpring, ", ") {
		t.Errorf("spring forward: got %v, want %v (02:30 on 2025-03-09 does not exist)", spring, wantSpring)
	}

	// 2025-11-02 02:00 EDT became 01:00 EST, so 01:30 happened twice.
	autumn := nextTimes("CRON_TZ=America/New_York 30 1 * * *", time.Date(2025, 11, 1, 12, 0, 0, 0, newYork), 3)
	wantAutumn := []string{"2025-11-02 01:30 EDT", "2025-11-02 01:30 EST", "2025-11-03 01:30 EST"}
	if strings.Join(autumn, ", ") != strings.Join(wantAutumn, ", ") {
		t.Errorf("fall back: got %v, want %v", autumn, wantAutumn)
	}

	// @every counts elapsed time and ignores the wall clock.
	every := nextTimes("@every 1h", time.Date(2025, 11, 2, 0, 30, 0, 0, newYork), 3)
	wantEvery := []string{"2025-11-02 01:30 EDT", "2025-11-02 01:30 EST", "2025-11-02 02:30 EST"}
	if strings.Join(every, ", ") != strings.Join(wantEvery, ", ") {
		t.Errorf("@every across fall back: got %v, want %v", every, wantEvery)
	}
}
