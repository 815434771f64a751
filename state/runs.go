package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Run modes.
const (
	ModeIncremental = "incremental"
	ModeFull        = "full"
	ModeDryRun      = "dry-run"
)

// Run outcomes. OutcomeRunning is set by StartRun and OutcomeInterrupted
// by Open; the others are passed to FinishRun.
const (
	OutcomeRunning     = "running"
	OutcomeOK          = "ok"
	OutcomePartial     = "partial" // finished, but some rows were rejected or unreadable
	OutcomeFailed      = "failed"
	OutcomeCanceled    = "canceled"
	OutcomeBudget      = "budget"       // stopped at the request budget
	OutcomeRateLimited = "rate_limited" // stopped because Atlas kept returning 429 Too Many Requests
	OutcomeInterrupted = "interrupted"  // the process exited before FinishRun
)

// interruptedMessage is stored as the error of a run that Open finds
// still running.
const interruptedMessage = "the process exited before the run finished"

// Counts are a run's row counters.
type Counts struct {
	Read        int64 `json:"read"`
	Unchanged   int64 `json:"unchanged"`
	Changed     int64 `json:"changed"` // new or changed rows: Sent + Rejected - RejectedEarlier + Unsent
	Sent        int64 `json:"sent"`
	Created     int64 `json:"created"`
	Updated     int64 `json:"updated"`
	Rejected    int64 `json:"rejected"`
	Unreadable  int64 `json:"unreadable"`
	Duplicate   int64 `json:"duplicate"`
	Skipped     int64 `json:"skipped"`
	Unsent      int64 `json:"unsent"` // changed rows left for the next run
	Retries     int64 `json:"retries"`
	RateLimited int64 `json:"rate_limited"`

	// RejectedEarlier counts the rows, included in Rejected, that Atlas
	// rejected in an earlier run and that have not changed since, so they
	// were not sent again.
	RejectedEarlier int64 `json:"rejected_earlier"`
}

// Run is one row of the run history.
type Run struct {
	ID       int64
	Job      string
	Mode     string // ModeIncremental, ModeFull or ModeDryRun
	Started  time.Time
	Finished time.Time // zero while running, and for interrupted runs whose end is unknown
	Outcome  string    // one of the Outcome constants
	Counts   Counts
	Error    string
}

// StartRun records the start of a run with outcome "running" and returns
// its ID.
func (s *Store) StartRun(ctx context.Context, job, mode string, started time.Time) (int64, error) {
	if err := s.checkWritable(); err != nil {
		return 0, err
	}
	switch mode {
	case ModeIncremental, ModeFull, ModeDryRun:
	default:
		return 0, fmt.Errorf("start run of job %q: invalid mode %q; expected %q, %q or %q",
			job, mode, ModeIncremental, ModeFull, ModeDryRun)
	}
	counts, err := json.Marshal(Counts{})
	if err != nil {
		return 0, fmt.Errorf("start run of job %q: encode counts: %w", job, err)
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	jobID, err := s.ensureJob(ctx, job)
	if err != nil {
		return 0, err
	}
	result, err := s.db.ExecContext(ctx,
		"INSERT INTO runs (job_id, mode, started, outcome, counts) VALUES (?, ?, ?, ?, ?)",
		jobID, mode, started.UnixMilli(), OutcomeRunning, string(counts))
	if err != nil {
		return 0, fmt.Errorf("start run of job %q in state file %s: %w", job, s.path, err)
	}
	id, err := result.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("start run of job %q in state file %s: %w", job, s.path, err)
	}
	return id, nil
}

// UpdateRunCounts stores the counters of a run in progress, so that a run
// cut short by a crash keeps the counts reached so far.
func (s *Store) UpdateRunCounts(ctx context.Context, id int64, counts Counts) error {
	if err := s.checkWritable(); err != nil {
		return err
	}
	encoded, err := json.Marshal(counts)
	if err != nil {
		return fmt.Errorf("update counts of run %d: %w", id, err)
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	result, err := s.db.ExecContext(ctx, "UPDATE runs SET counts = ? WHERE id = ? AND outcome = ?",
		string(encoded), id, OutcomeRunning)
	if err != nil {
		return fmt.Errorf("update counts of run %d in state file %s: %w", id, s.path, err)
	}
	return s.checkRunUpdated(ctx, id, result)
}

// FinishRun records the end of a running run. outcome is one of OutcomeOK,
// OutcomePartial, OutcomeFailed, OutcomeCanceled, OutcomeBudget and
// OutcomeRateLimited; ok and partial count as completed runs.
func (s *Store) FinishRun(ctx context.Context, id int64, finished time.Time, outcome string, counts Counts, errMsg string) error {
	if err := s.checkWritable(); err != nil {
		return err
	}
	switch outcome {
	case OutcomeOK, OutcomePartial, OutcomeFailed, OutcomeCanceled, OutcomeBudget, OutcomeRateLimited:
	default:
		return fmt.Errorf("finish run %d: invalid outcome %q", id, outcome)
	}
	encoded, err := json.Marshal(counts)
	if err != nil {
		return fmt.Errorf("finish run %d: encode counts: %w", id, err)
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	if err := s.finishRun(ctx, id, finished, outcome, string(encoded), errMsg); err != nil {
		return fmt.Errorf("finish run %d in state file %s: %w", id, s.path, err)
	}
	return nil
}

func (s *Store) finishRun(ctx context.Context, id int64, finished time.Time, outcome, counts, errMsg string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	result, err := tx.ExecContext(ctx,
		"UPDATE runs SET finished = ?, outcome = ?, counts = ?, error = ? WHERE id = ? AND outcome = ?",
		finished.UnixMilli(), outcome, counts, errMsg, id, OutcomeRunning)
	if err != nil {
		return err
	}
	if err := s.checkRunUpdated(ctx, id, result); err != nil {
		return err
	}

	if outcome == OutcomeOK || outcome == OutcomePartial {
		_, err := tx.ExecContext(ctx,
			"UPDATE jobs SET completed_runs = completed_runs + 1 WHERE id = (SELECT job_id FROM runs WHERE id = ?)", id)
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// checkRunUpdated turns an UPDATE of a running run that matched no row
// into an error naming the reason: unknown ID or a run no longer running.
func (s *Store) checkRunUpdated(ctx context.Context, id int64, result sql.Result) error {
	n, err := result.RowsAffected()
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}

	var outcome string
	err = s.db.QueryRowContext(ctx, "SELECT outcome FROM runs WHERE id = ?", id).Scan(&outcome)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("run %d not found", id)
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("run %d is not running: its outcome is %q", id, outcome)
}

// CompletedRuns returns how many runs of job finished with outcome ok or
// partial. The count lives in the jobs table, so PruneRuns does not
// change it.
func (s *Store) CompletedRuns(ctx context.Context, job string) (int64, error) {
	id, err := s.lookupJob(ctx, job)
	if errors.Is(err, errNoJob) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}

	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT completed_runs FROM jobs WHERE id = ?", id).Scan(&n); err != nil {
		return 0, fmt.Errorf("count completed runs of job %q in state file %s: %w", job, s.path, err)
	}
	return n, nil
}

const runColumns = "r.id, j.name, r.mode, r.started, r.finished, r.outcome, r.counts, r.error"

// LastRuns returns the latest run of each job, ordered by job name. Jobs
// without runs are left out.
func (s *Store) LastRuns(ctx context.Context) ([]Run, error) {
	runs, err := s.queryRuns(ctx,
		`SELECT `+runColumns+` FROM jobs j
		 JOIN runs r ON r.id = (SELECT max(id) FROM runs WHERE job_id = j.id)
		 ORDER BY j.name`)
	if err != nil {
		return nil, fmt.Errorf("list last runs in state file %s: %w", s.path, err)
	}
	return runs, nil
}

// Runs returns up to limit runs of job, newest first; limit <= 0 returns
// all of them.
func (s *Store) Runs(ctx context.Context, job string, limit int) ([]Run, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	runs, err := s.queryRuns(ctx,
		`SELECT `+runColumns+` FROM runs r JOIN jobs j ON j.id = r.job_id
		 WHERE j.name = ? ORDER BY r.id DESC LIMIT ?`, job, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs of job %q in state file %s: %w", job, s.path, err)
	}
	return runs, nil
}

func (s *Store) queryRuns(ctx context.Context, query string, args ...any) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	var runs []Run
	for rows.Next() {
		run, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		runs = append(runs, run)
	}
	return runs, rows.Err()
}

func scanRun(rows *sql.Rows) (Run, error) {
	var run Run
	var started int64
	var finished sql.NullInt64
	var counts string
	err := rows.Scan(&run.ID, &run.Job, &run.Mode, &started, &finished, &run.Outcome, &counts, &run.Error)
	if err != nil {
		return Run{}, err
	}
	run.Started = time.UnixMilli(started)
	if finished.Valid {
		run.Finished = time.UnixMilli(finished.Int64)
	}
	if err := json.Unmarshal([]byte(counts), &run.Counts); err != nil {
		return Run{}, fmt.Errorf("decode counts of run %d: %w", run.ID, err)
	}
	return run, nil
}

// PruneRuns deletes all but the newest keep runs of each job and returns
// how many it deleted. Running runs are never deleted, and
// CompletedRuns is unaffected.
func (s *Store) PruneRuns(ctx context.Context, keep int) (int64, error) {
	if err := s.checkWritable(); err != nil {
		return 0, err
	}
	if keep < 1 {
		return 0, fmt.Errorf("prune runs: keep is %d, expected at least 1", keep)
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	result, err := s.db.ExecContext(ctx,
		`DELETE FROM runs WHERE outcome != ? AND id IN (
		   SELECT id FROM (
		     SELECT id, row_number() OVER (PARTITION BY job_id ORDER BY id DESC) AS age FROM runs
		   ) WHERE age > ?
		 )`, OutcomeRunning, keep)
	if err != nil {
		return 0, fmt.Errorf("prune runs in state file %s: %w", s.path, err)
	}
	deleted, err := result.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune runs in state file %s: %w", s.path, err)
	}
	return deleted, nil
}

// markInterrupted marks the runs a crashed process left "running" as
// "interrupted". Open calls it while holding the lock, so no live process
// owns those runs. Their counts stay as last stored by UpdateRunCounts.
func (s *Store) markInterrupted(ctx context.Context) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	rows, err := s.db.QueryContext(ctx,
		`UPDATE runs SET outcome = ?, error = CASE WHEN error = '' THEN ? ELSE error END
		 WHERE outcome = ?
		 RETURNING id, (SELECT name FROM jobs WHERE id = runs.job_id)`,
		OutcomeInterrupted, interruptedMessage, OutcomeRunning)
	if err != nil {
		return fmt.Errorf("mark interrupted runs in state file %s: %w", s.path, err)
	}
	defer rows.Close()

	for rows.Next() {
		var id int64
		var job string
		if err := rows.Scan(&id, &job); err != nil {
			return fmt.Errorf("mark interrupted runs in state file %s: %w", s.path, err)
		}
		s.logger.Warn("marked run of a previous process as interrupted", zap.Int64("run_id", id), zap.String("job", job))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("mark interrupted runs in state file %s: %w", s.path, err)
	}
	return rows.Close()
}
