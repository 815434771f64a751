package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/atlas/emulator"
	"github.com/atlas-sync/atlas-sync/state"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// benchToken is the emulator token of the scenarios; it guards nothing.
const benchToken = "bench-token-not-a-secret"

// clientBurst is atlas.burst in the rate runs: the default of the
// configuration, and below the emulator's burst (ceil of its rate), which
// is what keeps a pool at the server's rate free of 429s.
const clientBurst = 5

// rateFigures are the results of one rate run.
type rateFigures struct {
	Configured  float64
	ServerLimit float64
	ServerBurst int
	ClientBurst int
	Workers     int
	Latency     time.Duration
	Rows        int

	Outcome     atlassync.Outcome
	Duration    time.Duration
	Requests    int
	RateLimited int
	Accepted    int // 200 answers
	Delivered   int // distinct accounts in the emulator

	AcceptedRate        float64 // Accepted per second of the run
	SecondHalfRate      float64 // accepted per second in the second half
	SecondHalfMeanLimit float64 // throttle rate, sampled every 100 ms
	SecondHalfMaxLimit  float64
}

// runRateScenario runs the pool twice against the emulator: with the
// server limit equal to the configured rate, stopped by max_duration after
// opts.rateDuration; then with the server limit at half the configured
// rate and enough rows for about opts.rateDuration, to the last row.
func runRateScenario(ctx context.Context, opts options, out io.Writer) ([]rateFigures, error) {
	atPar, err := runRate(ctx, opts, opts.rate, int(opts.rate*opts.rateDuration.Seconds()*2), opts.rateDuration, out)
	if err != nil {
		return nil, err
	}
	half := opts.rate / 2
	atHalf, err := runRate(ctx, opts, half, int(half*opts.rateDuration.Seconds()), 0, out)
	if err != nil {
		return nil, err
	}
	return []rateFigures{atPar, atHalf}, nil
}

func runRate(ctx context.Context, opts options, serverLimit float64, rows int, maxDuration time.Duration, out io.Writer) (rateFigures, error) {
	// Enough workers to keep twice the configured rate in flight at the
	// emulator's latency.
	workers := max(4, int(math.Ceil(2*opts.rate*opts.latency.Seconds())))
	f := rateFigures{
		Configured:  opts.rate,
		ServerLimit: serverLimit,
		ServerBurst: int(math.Ceil(serverLimit)),
		ClientBurst: clientBurst,
		Workers:     workers,
		Latency:     opts.latency,
		Rows:        rows,
	}
	fmt.Fprintf(out, "rate: configured %.0f/s, server limit %.0f/s, %d rows, %d workers\n", opts.rate, serverLimit, rows, workers)

	dir, err := os.MkdirTemp("", "atlas-bench-rate-")
	if err != nil {
		return f, err
	}
	defer os.RemoveAll(dir)
	csvPath := filepath.Join(dir, "accounts.csv")
	if _, err := writeCSV(csvPath, rows); err != nil {
		return f, err
	}

	emu := emulator.New(emulator.Options{Token: benchToken, RateLimit: serverLimit, Latency: opts.latency})
	server := httptest.NewServer(emu)
	defer server.Close()
	defer emu.Close()

	store, err := state.Open(ctx, filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		return f, err
	}
	defer store.Close()
	client, err := atlas.NewClient(atlas.Options{BaseURL: server.URL, Token: benchToken, Timeout: 10 * time.Second})
	if err != nil {
		return f, err
	}
	defer client.CloseIdleConnections()
	throttle := atlas.NewThrottle(opts.rate, clientBurst)
	settings := atlassync.Settings{
		Workers:           workers,
		MaxRetries:        5,
		RetryBaseDelay:    500 * time.Millisecond,
		RetryMaxDelay:     30 * time.Second,
		RateLimitPatience: 10 * time.Minute,
		BatchSize:         200,
		FlushInterval:     250 * time.Millisecond,
		ShutdownGrace:     30 * time.Second,
	}
	engine := atlassync.NewEngine(store, client, throttle, settings, zap.NewNop(), nil)
	job := csvJob(csvPath)
	job.MaxDuration = maxDuration

	// Sample the throttle and the accepted count to find the second half.
	type sample struct {
		at       time.Time
		limit    float64
		accepted int
	}
	var samples []sample
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		ticker := time.NewTicker(100 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case now := <-ticker.C:
				samples = append(samples, sample{at: now, limit: throttle.Limit(), accepted: emu.Stats().ByStatus[200]})
			case <-sampleCtx.Done():
				return
			}
		}
	}()

	res := engine.Run(ctx, job, atlassync.RunOptions{})
	stopSampling()
	<-sampled

	stats := emu.Stats()
	f.Outcome = res.Outcome
	f.Duration = res.Duration
	f.Requests = stats.Requests
	f.RateLimited = stats.RateLimited
	f.Accepted = stats.ByStatus[200]
	f.Delivered = len(stats.Upserts)
	f.AcceptedRate = float64(f.Accepted) / res.Duration.Seconds()

	if len(samples) > 2 {
		mid := samples[len(samples)/2]
		last := samples[len(samples)-1]
		f.SecondHalfRate = float64(last.accepted-mid.accepted) / last.at.Sub(mid.at).Seconds()
		sum := 0.0
		for _, s := range samples[len(samples)/2:] {
			sum += s.limit
			f.SecondHalfMaxLimit = max(f.SecondHalfMaxLimit, s.limit)
		}
		f.SecondHalfMeanLimit = sum / float64(len(samples)-len(samples)/2)
	}
	fmt.Fprintf(out, "rate: %s in %s: %d requests, %d answered 429, %.2f accepted/s, %d of %d rows delivered\n",
		f.Outcome, f.Duration.Round(time.Millisecond), f.Requests, f.RateLimited, f.AcceptedRate, f.Delivered, f.Rows)
	return f, nil
}
