package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// errNoJob is returned by lookupJob for a job that has no row yet. Read
// methods treat it as "nothing recorded".
var errNoJob = errors.New("job has no state yet")

// ensureJob returns the job's id, creating its row first if needed. The
// caller holds writeMu. The row is committed on its own, outside the
// caller's transaction, so a cached id always refers to a committed row.
func (s *Store) ensureJob(ctx context.Context, job string) (int64, error) {
	if err := validateJob(job); err != nil {
		return 0, err
	}
	if id, ok := s.cachedJobID(job); ok {
		return id, nil
	}

	var id int64
	err := s.db.QueryRowContext(ctx,
		`INSERT INTO jobs (name, created_at) VALUES (?, ?)
		 ON CONFLICT (name) DO UPDATE SET name = excluded.name
		 RETURNING id`,
		job, time.Now().Unix()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("create job %q in state file %s: %w", job, s.path, err)
	}
	s.cacheJobID(job, id)
	return id, nil
}

// lookupJob returns the job's id, or errNoJob if the job has no row.
func (s *Store) lookupJob(ctx context.Context, job string) (int64, error) {
	if err := validateJob(job); err != nil {
		return 0, err
	}
	if id, ok := s.cachedJobID(job); ok {
		return id, nil
	}

	var id int64
	err := s.db.QueryRowContext(ctx, "SELECT id FROM jobs WHERE name = ?", job).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errNoJob
	}
	if err != nil {
		return 0, fmt.Errorf("look up job %q in state file %s: %w", job, s.path, err)
	}
	s.cacheJobID(job, id)
	return id, nil
}

func (s *Store) cachedJobID(job string) (int64, bool) {
	s.jobsMu.Lock()
	defer s.jobsMu.Unlock()
	id, ok := s.jobIDs[job]
	return id, ok
}

func (s *Store) cacheJobID(job string, id int64) {
	s.jobsMu.Lock()
	defer s.jobsMu.Unlock()
	s.jobIDs[job] = id
}

func validateJob(job string) error {
	if job == "" {
		return errors.New("job name is empty")
	}
	return nil
}

// checkWritable returns ErrReadOnly, wrapped with the path, for a
// read-only Store.
func (s *Store) checkWritable() error {
	if s.readOnly {
		return fmt.Errorf("state file %s: %w", s.path, ErrReadOnly)
	}
	return nil
}

// Cursor returns the job's source cursor, or "" when none was stored. The
// cursor is opaque here: sources define its content.
func (s *Store) Cursor(ctx context.Context, job string) (string, error) {
	id, err := s.lookupJob(ctx, job)
	if errors.Is(err, errNoJob) {
		return "", nil
	}
	if err != nil {
		return "", err
	}

	var cursor string
	err = s.db.QueryRowContext(ctx, "SELECT cursor FROM jobs WHERE id = ?", id).Scan(&cursor)
	if err != nil {
		return "", fmt.Errorf("read cursor of job %q from state file %s: %w", job, s.path, err)
	}
	return cursor, nil
}

// SetCursor stores the job's source cursor; "" clears it.
func (s *Store) SetCursor(ctx context.Context, job string, cursor string) error {
	if err := s.checkWritable(); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	id, err := s.ensureJob(ctx, job)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, "UPDATE jobs SET cursor = ? WHERE id = ?", cursor, id); err != nil {
		return fmt.Errorf("store cursor of job %q in state file %s: %w", job, s.path, err)
	}
	return nil
}

// Jobs returns the names of all jobs that have state, sorted.
func (s *Store) Jobs(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT name FROM jobs ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list jobs in state file %s: %w", s.path, err)
	}
	defer rows.Close()

	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list jobs in state file %s: %w", s.path, err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list jobs in state file %s: %w", s.path, err)
	}
	return names, nil
}
