package sync

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/mapping"
	"github.com/atlas-sync/atlas-sync/sources"
	"github.com/atlas-sync/atlas-sync/state"
)

// maxLoggedRowErrors bounds the per-row warnings of one run; further rows
// are counted in the summary but not logged one by one.
const maxLoggedRowErrors = 100

// item is one changed account on its way to Atlas.
type item struct {
	payload  mapping.Payload
	position string
}

// outcomeOf a request, sent from a worker to the checkpoint writer.
type delivery struct {
	item     item
	atlasID  string
	created  *bool
	status   int    // HTTP status of a rejection
	message  string // Atlas' message for a rejection
	rejected bool
	at       time.Time
}

// run is the state of one Engine.Run.
type run struct {
	e    *Engine
	job  Job
	opts RunOptions
	log  *zap.Logger

	counts counters

	// stopSending is set when the run must send no further request but
	// may still read and count the remaining changes: budget reached or
	// rate limited. stopReason contains the reason.
	stopSending atomic.Bool
	stopOnce    stdsync.Once
	stopReason  error

	// failure is the first fatal error; it stops reading and sending.
	failMu  stdsync.Mutex
	failure error

	requests     atomic.Int64 // requests started, for max_requests
	lastProgress atomic.Int64 // unix nanoseconds of the last non-429 response

	rowErrorsLogged atomic.Int64
	retriesLogged   atomic.Int64
	source          sources.Source
	readComplete    atomic.Bool // the source was read to its end

	readDone atomic.Bool // reading stopped, at the end of input or early

	runID       int64 // 0 for a dry run
	started     time.Time
	pass        atomic.Pointer[FullPassInfo] // set by loadIndex for a full run
	alreadySent atomic.Int64                 // rows a resumed full pass skipped

	// progressSource is the source as a sources.Progresser, for the
	// progress reports; nil when the source is not one. bytesDiffed is
	// its BytesRead when the last diffed row had been read.
	progressSource atomic.Pointer[sources.Progresser]
	bytesDiffed    atomic.Int64
}

func newRun(e *Engine, job Job, opts RunOptions, log *zap.Logger) *run {
	r := &run{e: e, job: job, opts: opts, log: log}
	r.lastProgress.Store(time.Now().UnixNano())
	return r
}

// stop ends sending for a reason that leaves the run's data consistent
// (budget, rate limit); reading goes on to count what is left.
func (r *run) stop(reason error) {
	r.stopOnce.Do(func() {
		r.stopReason = reason
		r.stopSending.Store(true)
		r.log.Warn("stopped sending", zap.Error(reason))
	})
}

// fail records a fatal error. The first one wins.
func (r *run) fail(err error) {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	if r.failure == nil {
		r.failure = err
	}
}

func (r *run) failed() error {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	return r.failure
}

// execute reads the source and sends the changes. Errors end up in
// r.failure; the caller turns them into an outcome.
func (r *run) execute(ctx context.Context) {
	store := r.e.store
	cursor, err := store.Cursor(ctx, r.job.Name)
	if err != nil {
		r.fail(fmt.Errorf("read the cursor from the checkpoint: %w", err))
		return
	}
	completed, err := store.CompletedRuns(ctx, r.job.Name)
	if err != nil {
		r.fail(fmt.Errorf("read the run history: %w", err))
		return
	}

	src, err := r.job.Open(ctx, sources.OpenOptions{Full: r.opts.Full, Cursor: cursor, Run: completed})
	if err != nil {
		r.fail(fmt.Errorf("open source: %w", err))
		return
	}
	r.source = src
	if p, ok := src.(sources.Progresser); ok {
		r.progressSource.Store(&p)
	}
	defer func() {
		if err := src.Close(); err != nil {
			r.log.Warn("close source", zap.Error(err))
		}
	}()

	mapper, err := mapping.New(r.job.Mapping, src.Columns())
	if err != nil {
		r.fail(fmt.Errorf("%w: mapping: %w", ErrConfig, err))
		return
	}
	// The index loads while the first rows are read and mapped; read
	// waits for it before the first diff.
	indexReady := make(chan indexResult, 1)
	go func() {
		index, err := r.loadIndex(ctx)
		indexReady <- indexResult{index: index, err: err}
	}()

	r.pipeline(ctx, src, mapper, indexReady)
	r.refreshIndexSnapshot(ctx)

	if cs, ok := src.(sources.CursorSource); ok && r.readComplete.Load() && !r.opts.DryRun && r.failed() == nil && !r.stopSending.Load() {
		saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if next := cs.Cursor(); next != "" {
			if err := store.SetCursor(saveCtx, r.job.Name, next); err != nil {
				r.fail(fmt.Errorf("store the source cursor: %w", err))
			}
		}
	}
}

// refreshIndexSnapshot lets the state file rewrite the job's index
// snapshot once enough accounts changed, so that the next run loads its
// index in one read. The snapshot only saves time, so a failure is
// logged, not returned. A canceled run skips it, to stop at once.
func (r *run) refreshIndexSnapshot(ctx context.Context) {
	if r.opts.DryRun || ctx.Err() != nil {
		return
	}
	started := time.Now()
	wrote, err := r.e.store.RefreshIndexSnapshot(ctx, r.job.Name)
	switch {
	case err != nil && ctx.Err() == nil:
		r.log.Warn("refresh the checkpoint index snapshot; the next run scans the checkpoint instead", zap.Error(err))
	case wrote:
		r.log.Debug("refreshed the checkpoint index snapshot", zap.Duration("duration", time.Since(started)))
	}
}

// pipeline runs reader, workers and checkpoint writer, and returns when all
// three have finished. Stop order: the reader stops first (ctx done, failure
// or end of input), the workers finish the requests they hold, then the
// writer commits the last batch.
func (r *run) pipeline(ctx context.Context, src sources.Source, mapper *mapping.Mapper, indexReady <-chan indexResult) {
	// readCtx ends reading and dispatching on cancellation or failure.
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()

	// sendCtx carries the HTTP requests. It outlives ctx by the shutdown
	// grace period so that requests already on the wire can be
	// acknowledged and recorded; Kill ends it at once.
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	pipelineDone := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			grace := time.NewTimer(r.e.settings.ShutdownGrace)
			defer grace.Stop()
			select {
			case <-grace.C:
			case <-r.opts.Kill:
			case <-pipelineDone:
			}
		case <-r.opts.Kill:
		case <-pipelineDone:
		}
		cancelSend()
	}()
	defer close(pipelineDone)

	if r.job.MaxDuration > 0 {
		budget := time.AfterFunc(r.job.MaxDuration, func() {
			r.stop(fmt.Errorf("%w: max_duration %s elapsed", ErrBudget, r.job.MaxDuration))
		})
		defer budget.Stop()
	}

	work := make(chan item)
	deliveries := make(chan delivery, r.e.settings.Workers*2)

	var writerErr error
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		panicked := false
		func() {
			defer r.recoverPanic("checkpoint writer", stopReading, &panicked)
			writerErr = r.writeCheckpoint(ctx, deliveries, stopReading)
		}()
		if panicked {
			// Keep the workers from blocking on a full channel. These
			// acknowledgements go unrecorded, so the next run sends
			// them again.
			for range deliveries {
			}
		}
	}()

	var workers stdsync.WaitGroup
	for i := 0; i < r.e.settings.Workers; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for it := range work {
				func() {
					defer r.recoverPanic("upsert worker", stopReading, nil)
					r.send(readCtx, sendCtx, it, deliveries, stopReading)
				}()
			}
		}()
	}

	func() {
		defer r.recoverPanic("source reader", stopReading, nil)
		r.read(readCtx, src, mapper, indexReady, work)
	}()
	r.readDone.Store(true)
	close(work)
	workers.Wait()
	close(deliveries)
	<-writerDone
	if writerErr != nil {
		r.fail(writerErr)
	}
}

// changed reports whether payload must be sent, given the index entry of
// its account, counting the row as unchanged or rejected otherwise. In a
// full run, the index holds only the rows the full pass has handled (see
// loadIndex).
func (r *run) changed(entry state.Entry, payload mapping.Payload, position string) bool {
	if entry.Acked && entry.Hash == payload.Hash {
		r.counts.unchanged.Add(1)
		if r.opts.Full {
			r.alreadySent.Add(1)
		}
		return false
	}
	if entry.Rejected && entry.RejectedHash == payload.Hash {
		// Atlas rejected exactly this payload before; sending it again
		// would be rejected again. `atlas-sync rejected --retry` or a
		// change to the row sends it again. The row still counts as
		// rejected, like an unreadable row that stays broken, so that the
		// run keeps reporting it until it is fixed.
		r.counts.rejected.Add(1)
		r.counts.rejectedEarlier.Add(1)
		if r.opts.Full {
			r.alreadySent.Add(1)
		}
		r.log.Debug("row not sent: rejected before and unchanged", zap.String("external_id", payload.ExternalID), zap.String("position", position))
		return false
	}
	return true
}

func (r *run) logRowError(msg string, err error) {
	n := r.rowErrorsLogged.Add(1)
	switch {
	case n <= maxLoggedRowErrors:
		r.log.Warn(msg, zap.Error(err))
	case n == maxLoggedRowErrors+1:
		r.log.Warn("further row errors are counted in the summary but not logged", zap.Int("logged", maxLoggedRowErrors))
	}
}

// outcome turns the run's state into its outcome and error.
func (r *run) outcome(ctx context.Context) (Outcome, error) {
	if err := r.failed(); err != nil {
		return OutcomeFailed, err
	}
	if ctx.Err() != nil {
		return OutcomeCanceled, context.Cause(ctx)
	}
	if r.stopSending.Load() {
		if errors.Is(r.stopReason, ErrRateLimited) {
			return OutcomeRateLimited, r.stopReason
		}
		return OutcomeBudget, r.stopReason
	}
	if r.counts.rejected.Load() > 0 || r.counts.unreadable.Load() > 0 {
		return OutcomePartial, nil
	}
	return OutcomeOK, nil
}

// counters are updated by the reader, the workers and the writer at once.
type counters struct {
	read, unchanged, changed, sent, created, updated atomic.Int64
	rejected, unreadable, duplicate, skipped, unsent atomic.Int64
	retries, rateLimited, rejectedEarlier            atomic.Int64
}

func (c *counters) snapshot() state.Counts {
	return state.Counts{
		Read:            c.read.Load(),
		Unchanged:       c.unchanged.Load(),
		Changed:         c.changed.Load(),
		Sent:            c.sent.Load(),
		Created:         c.created.Load(),
		Updated:         c.updated.Load(),
		Rejected:        c.rejected.Load(),
		Unreadable:      c.unreadable.Load(),
		Duplicate:       c.duplicate.Load(),
		Skipped:         c.skipped.Load(),
		Unsent:          c.unsent.Load(),
		Retries:         c.retries.Load(),
		RateLimited:     c.rateLimited.Load(),
		RejectedEarlier: c.rejectedEarlier.Load(),
	}
}
