package sync_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/atlas/emulator"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

func TestFullPassResumesAfterBudget(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	h.writeAccounts(60, nil)
	h.settings.Workers = 1
	h.engine = h.newEngine(testToken, 2000, 50)

	// An up-to-date checkpoint, as before any backfill.
	if res := h.run(context.Background(), atlassync.RunOptions{}); res.Outcome != atlassync.OutcomeOK {
		t.Fatalf("first run: %s (%v)", res.Outcome, res.Err)
	}
	h.emulator.Reset()
	// The full pass must count acknowledgements from its own start only,
	// and sent_at has whole seconds.
	time.Sleep(1100 * time.Millisecond)

	job := h.job()
	job.MaxRequests = 25
	first := h.engine.Run(context.Background(), job, atlassync.RunOptions{Full: true, Resume: true})
	if first.Outcome != atlassync.OutcomeBudget {
		t.Fatalf("first full run: %s (%v), want budget", first.Outcome, first.Err)
	}
	if first.FullPass.Resumed || first.FullPass.Finished {
		t.Errorf("first full run pass = %+v, want a new, unfinished pass", first.FullPass)
	}
	if first.Counts.Sent != 25 || first.Unsent != 35 {
		t.Errorf("first full run sent %d, unsent %d; want 25 and 35", first.Counts.Sent, first.Unsent)
	}

	second := h.engine.Run(context.Background(), job, atlassync.RunOptions{Full: true, Resume: true})
	if second.Outcome != atlassync.OutcomeBudget {
		t.Fatalf("second full run: %s (%v), want budget", second.Outcome, second.Err)
	}
	if !second.FullPass.Resumed || second.FullPass.AlreadySent != 25 {
		t.Errorf("second full run pass = %+v, want resumed with 25 already sent", second.FullPass)
	}
	if !second.FullPass.Started.Equal(first.FullPass.Started) {
		t.Errorf("resumed pass started %s, want %s", second.FullPass.Started, first.FullPass.Started)
	}

	job.MaxRequests = 0
	third := h.engine.Run(context.Background(), job, atlassync.RunOptions{Full: true, Resume: true})
	if third.Outcome != atlassync.OutcomeOK {
		t.Fatalf("third full run: %s (%v), want ok", third.Outcome, third.Err)
	}
	if third.Counts.Sent != 10 || third.FullPass.AlreadySent != 50 || !third.FullPass.Finished {
		t.Errorf("third full run sent %d, pass %+v; want 10 sent, 50 already sent, finished", third.Counts.Sent, third.FullPass)
	}
	assertUpsertedOnce(t, h.emulator, 60)

	// The finished pass is cleared: the next full run sends everything.
	fourth := h.engine.Run(context.Background(), job, atlassync.RunOptions{Full: true, Resume: true})
	if fourth.FullPass.Resumed || fourth.Counts.Sent != 60 {
		t.Errorf("full run after a finished pass: resumed %v, sent %d; want a new pass sending 60",
			fourth.FullPass.Resumed, fourth.Counts.Sent)
	}
}

func TestFullRunWithoutResumeStartsOver(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	h.writeAccounts(30, nil)
	h.settings.Workers = 1
	h.engine = h.newEngine(testToken, 2000, 50)
	job := h.job()
	job.MaxRequests = 10

	if res := h.engine.Run(context.Background(), job, atlassync.RunOptions{Full: true}); res.Outcome != atlassync.OutcomeBudget {
		t.Fatalf("first full run: %s (%v), want budget", res.Outcome, res.Err)
	}
	job.MaxRequests = 0
	res := h.engine.Run(context.Background(), job, atlassync.RunOptions{Full: true})
	if res.Outcome != atlassync.OutcomeOK || res.FullPass.Resumed || res.Counts.Sent != 30 {
		t.Errorf("second full run: %s, resumed %v, sent %d; want ok, a new pass, 30 sent",
			res.Outcome, res.FullPass.Resumed, res.Counts.Sent)
	}
}

func TestFullPassSurvivesTwoInterruptions(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 100,000 rows over loopback HTTP")
	}
	h := newHarness(t, emulator.Options{})
	const rows = 100_000
	h.writeAccounts(rows, nil)
	h.settings.Workers = 8
	h.settings.BatchSize = 500
	// Count responses with an observer: polling emulator.Stats would copy
	// its map of accounts each time.
	counter := &responseCounter{}
	client, err := atlas.NewClient(atlas.Options{BaseURL: h.server.URL, Token: testToken, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.engine = atlassync.NewEngine(h.store, client, atlas.NewThrottle(0, 1), h.settings, h.logger, counter)

	var inFlightAtInterruptions int64
	for _, stopAt := range []int64{rows / 3, 2 * rows / 3} {
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			for counter.responses.Load() < stopAt && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		res := h.run(ctx, atlassync.RunOptions{Full: true, Resume: true})
		cancel()
		<-stopped
		if res.Outcome != atlassync.OutcomeCanceled {
			t.Fatalf("interrupted run: %s (%v), want canceled", res.Outcome, res.Err)
		}
		inFlightAtInterruptions += int64(h.settings.Workers)
	}

	last := h.run(context.Background(), atlassync.RunOptions{Full: true, Resume: true})
	if last.Outcome != atlassync.OutcomeOK || !last.FullPass.Finished {
		t.Fatalf("last run: %s (%v), pass %+v; want ok and finished", last.Outcome, last.Err, last.FullPass)
	}

	stats := h.emulator.Stats()
	if len(stats.Upserts) != rows {
		t.Fatalf("emulator holds %d accounts, want %d", len(stats.Upserts), rows)
	}
	extra := int64(0)
	for _, n := range stats.Upserts {
		extra += int64(n - 1)
	}
	// A request whose response arrived after the interruption but before the last
	// checkpoint commit is recorded; only a request cut off on the wire
	// can be sent twice, and at most one per worker is on the wire.
	if extra > inFlightAtInterruptions {
		t.Errorf("%d upserts beyond one per account, want at most %d (the requests in flight)", extra, inFlightAtInterruptions)
	}
	t.Logf("%d accounts, %d upserts beyond one per account", rows, extra)
}

// responseCounter is an atlassync.Observer that counts upsert requests
// that got an HTTP response.
type responseCounter struct{ responses atomic.Int64 }

func (c *responseCounter) ObserveUpsert(_ string, status int, _ time.Duration) {
	if status != 0 {
		c.responses.Add(1)
	}
}
func (c *responseCounter) ObserveRetry(string, atlas.Class)          {}
func (c *responseCounter) ObserveThrottleWait(string, time.Duration) {}
func (c *responseCounter) ObserveRun(atlassync.Result)               {}

// assertUpsertedOnce checks that the emulator accepted exactly one upsert
// for each of want accounts.
func assertUpsertedOnce(t *testing.T, emu *emulator.Server, want int) {
	t.Helper()
	stats := emu.Stats()
	if len(stats.Upserts) != want {
		t.Errorf("emulator holds %d accounts, want %d", len(stats.Upserts), want)
	}
	for id, n := range stats.Upserts {
		if n != 1 {
			t.Errorf("%s upserted %d times, want once", id, n)
		}
	}
}
