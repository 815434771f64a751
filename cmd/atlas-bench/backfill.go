package main

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/atlas/emulator"
	"github.com/atlas-sync/atlas-sync/state"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// backfillWorkers is the pool size of the backfill scenario.
const backfillWorkers = 16

// requestCounter is an atlassync.Observer that counts upsert requests
// that got an HTTP response. Polling emulator.Stats instead would copy its
// map of a million accounts each time.
type requestCounter struct{ requests atomic.Int64 }

func (c *requestCounter) ObserveUpsert(_ string, status int, _ time.Duration) {
	if status != 0 {
		c.requests.Add(1)
	}
}
func (c *requestCounter) ObserveRetry(string, atlas.Class)          {}
func (c *requestCounter) ObserveThrottleWait(string, time.Duration) {}
func (c *requestCounter) ObserveRun(atlassync.Result)               {}

// backfillRun is one run of the interrupted backfill.
type backfillRun struct {
	Outcome     atlassync.Outcome
	Sent        int64
	AlreadySent int64
	Duration    time.Duration
}

// backfillFigures are the results of the backfill scenario.
type backfillFigures struct {
	Rows           int
	Workers        int
	Interruptions  int
	Runs           []backfillRun
	Accounts       int // distinct accounts in the emulator
	Upserts        int // accepted upserts
	Extra          int // accepted upserts beyond one per account
	CheckpointRows int
}

// runBackfillScenario sends rows accounts with run --full --resume,
// cancels the run (as SIGINT does) at a third and at two thirds of the
// requests, resumes it each time, and counts how many accounts the
// emulator received more than once. The emulator has no rate limit or
// latency, so that a million accounts take minutes, not days.
func runBackfillScenario(ctx context.Context, dir string, rows int, out io.Writer) (backfillFigures, error) {
	f := backfillFigures{Rows: rows, Workers: backfillWorkers}
	csvPath := filepath.Join(dir, "backfill.csv")
	if _, err := writeCSV(csvPath, rows); err != nil {
		return f, err
	}

	emu := emulator.New(emulator.Options{Token: benchToken})
	server := httptest.NewServer(emu)
	defer server.Close()
	defer emu.Close()

	store, err := state.Open(ctx, filepath.Join(dir, "backfill.db"), state.Options{})
	if err != nil {
		return f, err
	}
	defer store.Close()
	client, err := atlas.NewClient(atlas.Options{BaseURL: server.URL, Token: benchToken, Timeout: 10 * time.Second})
	if err != nil {
		return f, err
	}
	defer client.CloseIdleConnections()
	settings := atlassync.Settings{
		Workers:           backfillWorkers,
		MaxRetries:        5,
		RetryBaseDelay:    100 * time.Millisecond,
		RetryMaxDelay:     time.Second,
		RateLimitPatience: time.Minute,
		BatchSize:         200,
		FlushInterval:     250 * time.Millisecond,
		ShutdownGrace:     30 * time.Second,
	}
	counter := &requestCounter{}
	engine := atlassync.NewEngine(store, client, atlas.NewThrottle(0, 1), settings, zap.NewNop(), counter)
	job := csvJob(csvPath)
	opts := atlassync.RunOptions{Full: true, Resume: true}

	for _, stopAt := range []int64{int64(rows) / 3, 2 * int64(rows) / 3} {
		runCtx, cancel := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			ticker := time.NewTicker(5 * time.Millisecond)
			defer ticker.Stop()
			for counter.requests.Load() < stopAt {
				select {
				case <-ticker.C:
				case <-runCtx.Done():
					return
				}
			}
			cancel()
		}()
		res := engine.Run(runCtx, job, opts)
		cancel()
		<-watched
		if ctx.Err() != nil {
			return f, ctx.Err()
		}
		f.Runs = append(f.Runs, backfillRun{res.Outcome, res.Counts.Sent, res.FullPass.AlreadySent, res.Duration})
		f.Interruptions++
		fmt.Fprintf(out, "backfill: run %d %s after %s: sent %d, already sent %d\n",
			len(f.Runs), res.Outcome, res.Duration.Round(time.Millisecond), res.Counts.Sent, res.FullPass.AlreadySent)
		if res.Outcome != atlassync.OutcomeCanceled {
			return f, fmt.Errorf("run %d ended %s (%v) before the interruption", len(f.Runs), res.Outcome, res.Err)
		}
	}

	res := engine.Run(ctx, job, opts)
	f.Runs = append(f.Runs, backfillRun{res.Outcome, res.Counts.Sent, res.FullPass.AlreadySent, res.Duration})
	fmt.Fprintf(out, "backfill: run %d %s after %s: sent %d, already sent %d, pass finished %v\n",
		len(f.Runs), res.Outcome, res.Duration.Round(time.Millisecond), res.Counts.Sent, res.FullPass.AlreadySent, res.FullPass.Finished)
	if res.Outcome != atlassync.OutcomeOK || !res.FullPass.Finished {
		return f, fmt.Errorf("last run ended %s (%v), pass finished %v; want ok and finished", res.Outcome, res.Err, res.FullPass.Finished)
	}

	stats := emu.Stats()
	f.Accounts = len(stats.Upserts)
	for _, n := range stats.Upserts {
		f.Upserts += n
		f.Extra += n - 1
	}
	index, err := store.LoadIndex(ctx, jobName)
	if err != nil {
		return f, err
	}
	f.CheckpointRows = index.Len()
	return f, nil
}
