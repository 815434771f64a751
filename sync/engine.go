package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/sources"
	"github.com/atlas-sync/atlas-sync/state"
)

// Upserter sends one account payload to Atlas. *atlas.Client implements it.
type Upserter interface {
	Upsert(ctx context.Context, body []byte) (atlas.UpsertResult, error)
}

// Observer receives measurements for metrics. Implementations must be safe
// for concurrent use; Engine accepts nil.
type Observer interface {
	// ObserveUpsert is called after each upsert request. status is 0
	// when no HTTP response arrived.
	ObserveUpsert(job string, status int, latency time.Duration)

	// ObserveRetry is called each time a request is retried.
	ObserveRetry(job string, class atlas.Class)

	// ObserveThrottleWait is called with the time a worker waited for the
	// shared rate limit before a request.
	ObserveThrottleWait(job string, wait time.Duration)

	// ObserveRun is called once a run has finished.
	ObserveRun(res Result)
}

// Settings tune the pool and the checkpoint writer. config.Config carries
// their defaults.
type Settings struct {
	Workers           int
	MaxRetries        int           // retries of one row after transient failures
	RetryBaseDelay    time.Duration // first backoff delay, doubled per retry
	RetryMaxDelay     time.Duration // cap of the backoff delay
	RateLimitPatience time.Duration // 429s without a success before the run stops
	BatchSize         int           // acknowledged rows per checkpoint transaction
	FlushInterval     time.Duration // maximum wait of an acknowledged row before its commit
	ShutdownGrace     time.Duration // time in-flight requests get after the run's context is done
}

// SettingsFromConfig takes the pool and writer settings from a loaded
// configuration.
func SettingsFromConfig(cfg *config.Config) Settings {
	return Settings{
		Workers:           cfg.Atlas.Workers,
		MaxRetries:        cfg.Atlas.MaxRetries,
		RetryBaseDelay:    cfg.Atlas.RetryBaseDelay.D(),
		RetryMaxDelay:     cfg.Atlas.RetryMaxDelay.D(),
		RateLimitPatience: cfg.Atlas.RateLimitPatience.D(),
		BatchSize:         cfg.State.BatchSize,
		FlushInterval:     cfg.State.FlushInterval.D(),
		ShutdownGrace:     cfg.Daemon.ShutdownGrace.D(),
	}
}

// Engine runs jobs. One Engine serves every job of a process, so that all
// of them share the throttle: Atlas limits requests per token. Runs of
// different jobs may proceed concurrently; one job must not run twice at
// once on the same store (the daemon prevents that).
type Engine struct {
	store    *state.Store
	client   Upserter
	throttle *atlas.Throttle
	settings Settings
	logger   *zap.Logger
	observer Observer
}

// NewEngine returns an engine. observer may be nil.
func NewEngine(store *state.Store, client Upserter, throttle *atlas.Throttle, settings Settings, logger *zap.Logger, observer Observer) *Engine {
	if observer == nil {
		observer = nopObserver{}
	}
	if settings.Workers < 1 {
		settings.Workers = 1
	}
	if settings.BatchSize < 1 {
		settings.BatchSize = 1
	}
	return &Engine{
		store:    store,
		client:   client,
		throttle: throttle,
		settings: settings,
		logger:   logger,
		observer: observer,
	}
}

// Job is one configured job as the engine runs it: its source, mapping and budgets.
type Job struct {
	Name        string
	Open        sources.Opener
	Mapping     config.Mapping
	MaxRequests int           // upsert requests per run, 0 for no limit
	MaxDuration time.Duration // sending time per run, 0 for no limit
}

// RunOptions select the kind of run.
type RunOptions struct {
	// DryRun reads, maps and diffs, writes each changed externalId to
	// DryRunOutput, and sends and records nothing.
	DryRun       bool
	DryRunOutput io.Writer

	// Full sends every row whatever the checkpoint holds (a backfill).
	// It starts a full pass, which the state file remembers until a full
	// run has sent every row.
	Full bool

	// Resume, with Full, continues the job's unfinished full pass: rows
	// acknowledged or rejected since the pass started are skipped when
	// their payload is unchanged. Without an unfinished pass it starts a
	// new one, so a scheduled "full, resume" run keeps making progress
	// through a backfill that needs several runs.
	Resume bool

	// Progress, when set, receives a snapshot of the run every
	// ProgressInterval (default 1s) and once when the run ends. It is
	// called from one goroutine at a time and must return quickly.
	Progress         func(Progress)
	ProgressInterval time.Duration

	// Kill, when closed, cancels in-flight requests at once instead of
	// letting them finish within Settings.ShutdownGrace.
	Kill <-chan struct{}
}

func (o RunOptions) mode() string {
	switch {
	case o.DryRun:
		return "dry-run"
	case o.Full:
		return "full"
	default:
		return "incremental"
	}
}

// Run runs job once and returns its result; Result.Err holds the reason for
// a failed run. Cancelling ctx stops reading at once; requests already sent
// get Settings.ShutdownGrace to finish, and every acknowledged row is
// recorded before Run returns.
func (e *Engine) Run(ctx context.Context, job Job, opts RunOptions) Result {
	started := time.Now()
	res := Result{Job: job.Name, Mode: opts.mode(), Started: started}
	log := e.logger.With(zap.String("job", job.Name), zap.String("mode", res.Mode))

	var runID int64
	if !opts.DryRun {
		id, err := e.store.StartRun(ctx, job.Name, res.Mode, started)
		if err != nil {
			res.Outcome = OutcomeFailed
			res.Err = fmt.Errorf("record the start of the run: %w", err)
			log.Error("run failed", zap.Error(res.Err))
			return res
		}
		runID = id
	}
	log.Info("run started")

	r := newRun(e, job, opts, log)
	r.runID, r.started = runID, started
	stopProgress := r.startProgress()
	r.execute(ctx)
	stopProgress()
	res.Counts = r.counts.snapshot()
	res.Unsent = r.counts.unsent.Load()
	res.Outcome, res.Err = r.outcome(ctx)
	res.FullPass = r.fullPass()
	res.Duration = time.Since(started)

	if !opts.DryRun {
		// The run's record must be written even when ctx is done.
		finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := e.finishFullPass(finishCtx, job.Name, opts, &res); err != nil {
			res.Outcome, res.Err = OutcomeFailed, err
		}
		errMsg := ""
		if res.Err != nil {
			errMsg = res.Err.Error()
		}
		if err := e.store.FinishRun(finishCtx, runID, time.Now(), string(res.Outcome), res.Counts, errMsg); err != nil {
			log.Error("record the end of the run", zap.Error(err))
			if res.Err == nil {
				res.Outcome = OutcomeFailed
				res.Err = fmt.Errorf("record the end of the run: %w", err)
			}
		}
		cancel()
	}

	e.logSummary(log, res)
	e.observer.ObserveRun(res)
	return res
}

func (e *Engine) logSummary(log *zap.Logger, res Result) {
	c := res.Counts
	fields := []zap.Field{
		zap.String("outcome", string(res.Outcome)),
		zap.Int64("read", c.Read),
		zap.Int64("unchanged", c.Unchanged),
		zap.Int64("changed", c.Changed),
		zap.Int64("sent", c.Sent),
		zap.Int64("created", c.Created),
		zap.Int64("updated", c.Updated),
		zap.Int64("rejected", c.Rejected),
		zap.Int64("unreadable", c.Unreadable),
		zap.Int64("duplicate", c.Duplicate),
		zap.Int64("skipped", c.Skipped),
		zap.Int64("unsent", res.Unsent),
		zap.Int64("retries", c.Retries),
		zap.Int64("rate_limited", c.RateLimited),
		zap.Duration("duration", res.Duration),
	}
	if res.FullPass.Resumed {
		fields = append(fields,
			zap.Time("pass_started", res.FullPass.Started),
			zap.Int64("already_sent", res.FullPass.AlreadySent))
	}
	if res.Mode == "full" && res.Outcome != OutcomeFailed {
		fields = append(fields, zap.Bool("pass_finished", res.FullPass.Finished))
	}
	if c.RejectedEarlier > 0 {
		log.Warn("rows rejected by atlas in an earlier run are unchanged and were not sent again; list them with `atlas-sync rejected`, then fix them in the source or queue them with `atlas-sync rejected --retry`",
			zap.Int64("rows", c.RejectedEarlier))
	}
	switch {
	case res.Outcome == OutcomeFailed:
		log.Error("run failed", append(fields, zap.Error(res.Err))...)
	case res.Err != nil && !errors.Is(res.Err, context.Canceled):
		log.Warn("run stopped early", append(fields, zap.Error(res.Err))...)
	default:
		log.Info("run finished", fields...)
	}
}

type nopObserver struct{}

func (nopObserver) ObserveUpsert(string, int, time.Duration)  {}
func (nopObserver) ObserveRetry(string, atlas.Class)          {}
func (nopObserver) ObserveThrottleWait(string, time.Duration) {}
func (nopObserver) ObserveRun(Result)                         {}
