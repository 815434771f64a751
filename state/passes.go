package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// FullPass is a full pass (a backfill that sends every row) that started
// and has not finished yet. Accounts acknowledged or rejected at or after
// Started belong to the pass, which is what lets an interrupted pass
// resume without sending them again.
type FullPass struct {
	RunID   int64     // the run that started the pass
	Started time.Time // whole seconds, the resolution of checkpoint.sent_at
}

// BeginFullPass records that a full pass of job started with run runID at
// started, replacing the record of an earlier unfinished pass. started is
// truncated to whole seconds.
func (s *Store) BeginFullPass(ctx context.Context, job string, runID int64, started time.Time) error {
	if err := s.checkWritable(); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	jobID, err := s.ensureJob(ctx, job)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx,
		`INSERT INTO full_passes (job_id, run_id, started) VALUES (?, ?, ?)
		 ON CONFLICT (job_id) DO UPDATE SET run_id = excluded.run_id, started = excluded.started`,
		jobID, runID, started.Unix())
	if err != nil {
		return fmt.Errorf("record the start of a full pass of job %q in state file %s: %w", job, s.path, err)
	}
	return nil
}

// UnfinishedFullPass returns the full pass of job that started and did not
// finish, and false when there is none.
func (s *Store) UnfinishedFullPass(ctx context.Context, job string) (FullPass, bool, error) {
	jobID, err := s.lookupJob(ctx, job)
	if errors.Is(err, errNoJob) {
		return FullPass{}, false, nil
	}
	if err != nil {
		return FullPass{}, false, err
	}

	var pass FullPass
	var started int64
	err = s.db.QueryRowContext(ctx, "SELECT run_id, started FROM full_passes WHERE job_id = ?", jobID).
		Scan(&pass.RunID, &started)
	if errors.Is(err, sql.ErrNoRows) {
		return FullPass{}, false, nil
	}
	if err != nil {
		return FullPass{}, false, fmt.Errorf("read the full pass of job %q from state file %s: %w", job, s.path, err)
	}
	pass.Started = time.Unix(started, 0)
	return pass, true, nil
}

// EndFullPass deletes the record of job's unfinished full pass, once the
// pass has sent every row. It does nothing when there is none.
func (s *Store) EndFullPass(ctx context.Context, job string) error {
	if err := s.checkWritable(); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	jobID, err := s.lookupJob(ctx, job)
	if errors.Is(err, errNoJob) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM full_passes WHERE job_id = ?", jobID); err != nil {
		return fmt.Errorf("record the end of the full pass of job %q in state file %s: %w", job, s.path, err)
	}
	return nil
}

// LoadIndexSince reads the job's checkpoint rows acknowledged at or after
// since, and its rejected rows rejected at or after since, into an Index:
// the accounts a full pass that started at since has already handled.
// since is compared in whole seconds, because checkpoint.sent_at has no
// finer resolution.
func (s *Store) LoadIndexSince(ctx context.Context, job string, since time.Time) (*Index, error) {
	id, err := s.lookupJob(ctx, job)
	if errors.Is(err, errNoJob) {
		return &Index{}, nil
	}
	if err != nil {
		return nil, err
	}

	seconds := since.Unix()
	rows, err := s.db.QueryContext(ctx,
		`SELECT external_id, hash, 1 AS acked FROM checkpoint WHERE job_id = ?1 AND sent_at >= ?2
		 UNION ALL
		 SELECT external_id, hash, 0 AS acked FROM rejected WHERE job_id = ?1 AND at >= ?3
		 ORDER BY external_id`, id, seconds, seconds*1000)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint of job %q since %s from state file %s: %w", job, since.Format(time.RFC3339), s.path, err)
	}
	ix, err := buildIndex(rows, 0)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint of job %q since %s from state file %s: %w", job, since.Format(time.RFC3339), s.path, err)
	}
	return ix, nil
}
