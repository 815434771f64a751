package sync

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/state"
)

// FullPassInfo describes the full pass that a full run belongs to. A full
// pass sends every row of the source; when a run of it stops early (budget,
// rate limit, signal, crash), a later run with RunOptions.Resume continues
// it and skips the rows the pass already handled.
type FullPassInfo struct {
	// Started is when the pass started: the start of this run for a new
	// pass, or of an earlier run for a resumed one, in whole seconds.
	Started time.Time

	// Resumed is true when this run continues an unfinished pass.
	Resumed bool

	// AlreadySent counts the rows this run skipped because the pass had
	// already sent them with the same payload, or had them rejected. They
	// are in Counts.Unchanged and Counts.Skipped respectively.
	AlreadySent int64

	// Finished is true when the pass ended in this run: the whole source
	// was read and every change sent or rejected.
	Finished bool
}

// loadIndex returns the index that decides which rows are sent. An
// incremental run diffs against the whole checkpoint. A full run diffs
// against the rows that its pass has handled: none for a new pass, so
// that every row is sent, or those acknowledged or rejected since the pass
// started when it resumes one.
func (r *run) loadIndex(ctx context.Context) (*state.Index, error) {
	store := r.e.store
	if !r.opts.Full {
		index, err := store.LoadIndex(ctx, r.job.Name)
		if err != nil {
			return nil, fmt.Errorf("load checkpoint: %w", err)
		}
		return index, nil
	}

	pass, found, err := store.UnfinishedFullPass(ctx, r.job.Name)
	if err != nil {
		return nil, fmt.Errorf("read the unfinished full pass: %w", err)
	}
	if found && r.opts.Resume {
		index, err := store.LoadIndexSince(ctx, r.job.Name, pass.Started)
		if err != nil {
			return nil, fmt.Errorf("load the rows the full pass already sent: %w", err)
		}
		r.pass.Store(&FullPassInfo{Started: pass.Started, Resumed: true})
		r.log.Info("resuming full pass",
			zap.Time("pass_started", pass.Started),
			zap.Int64("pass_run_id", pass.RunID),
			zap.Int("already_handled", index.Len()))
		return index, nil
	}

	switch {
	case found:
		r.log.Warn("starting a new full pass; the unfinished one is abandoned and its rows are sent again (resume it instead with run --full --resume)",
			zap.Time("abandoned_pass_started", pass.Started))
	case r.opts.Resume:
		r.log.Info("no unfinished full pass to resume; starting a new one")
	}
	r.pass.Store(&FullPassInfo{Started: r.started.Truncate(time.Second)})
	if !r.opts.DryRun {
		if err := store.BeginFullPass(ctx, r.job.Name, r.runID, r.started); err != nil {
			return nil, fmt.Errorf("record the start of the full pass: %w", err)
		}
	}
	return &state.Index{}, nil
}

// fullPass returns the run's full pass, with the rows skipped so far.
func (r *run) fullPass() FullPassInfo {
	var pass FullPassInfo
	if p := r.pass.Load(); p != nil {
		pass = *p
	}
	pass.AlreadySent = r.alreadySent.Load()
	return pass
}

// finishFullPass clears the pass record once a full run has sent every
// row, so that the next full run starts a new pass. A pass whose run
// stopped early keeps its record for a resume.
func (e *Engine) finishFullPass(ctx context.Context, job string, opts RunOptions, res *Result) error {
	if !opts.Full || opts.DryRun {
		return nil
	}
	if res.Outcome != OutcomeOK && res.Outcome != OutcomePartial {
		return nil
	}
	if err := e.store.EndFullPass(ctx, job); err != nil {
		return fmt.Errorf("record the end of the full pass: %w", err)
	}
	res.FullPass.Finished = true
	return nil
}
