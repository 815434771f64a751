package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/mattn/go-sqlite3"
)

// Ack is Atlas' acknowledgement of one upserted payload.
type Ack struct {
	ExternalID string
	Hash       Hash
	AtlasID    string // Atlas' account ID; "" when unknown, which keeps a stored ID
	SentAt     time.Time
}

// Rejection is a payload Atlas rejected with a 4xx status.
type Rejection struct {
	Job        string // set by Rejected; ignored by Record
	ExternalID string
	Hash       Hash
	Status     int
	Message    string // Atlas' error message, cut to MaxRejectionMessageBytes
	Position   string // source position, such as file:line
	At         time.Time
}

// MaxRejectionMessageBytes bounds the stored rejection message, so that a
// run rejecting every row with a long message cannot bloat the file.
// Longer messages are cut at a UTF-8 character boundary.
const MaxRejectionMessageBytes = 1024

// Record stores a batch of results in one transaction: each ack upserts
// the account's checkpoint row and deletes its rejected row, then each
// rejection upserts the account's rejected row and leaves its checkpoint
// row alone. An account should appear at most once per batch; if it
// appears in both slices, the rejection is kept.
func (s *Store) Record(ctx context.Context, job string, acks []Ack, rejections []Rejection) error {
	if err := s.checkWritable(); err != nil {
		return err
	}
	if len(acks) == 0 && len(rejections) == 0 {
		return nil
	}
	if err := validateBatch(acks, rejections); err != nil {
		return fmt.Errorf("record results of job %q: %w", job, err)
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	jobID, err := s.ensureJob(ctx, job)
	if err != nil {
		return err
	}
	if err := s.record(ctx, jobID, acks, rejections); err != nil {
		return fmt.Errorf("record %d acks and %d rejections of job %q in state file %s: %w%s",
			len(acks), len(rejections), job, s.path, err, spaceHint(err))
	}
	return nil
}

// spaceHint returns advice for errors that mean the file system is full or
// the file may not grow, and "" for other errors.
func spaceHint(err error) string {
	var sqliteErr sqlite3.Error
	full := errors.As(err, &sqliteErr) && sqliteErr.Code == sqlite3.ErrFull
	if !full && !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EFBIG) {
		return ""
	}
	return "; free space on that file system (or raise the file size limit) and run again: rows Atlas acknowledged but not recorded are sent once more, which is safe"
}

func validateBatch(acks []Ack, rejections []Rejection) error {
	for i, ack := range acks {
		if ack.ExternalID == "" {
			return fmt.Errorf("ack %d has an empty external ID", i)
		}
	}
	for i, rejection := range rejections {
		if rejection.ExternalID == "" {
			return fmt.Errorf("rejection %d has an empty external ID", i)
		}
	}
	return nil
}

func (s *Store) record(ctx context.Context, jobID int64, acks []Ack, rejections []Rejection) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	if err := recordAcks(ctx, tx, jobID, acks); err != nil {
		return err
	}
	if err := recordRejections(ctx, tx, jobID, rejections); err != nil {
		return err
	}
	return tx.Commit()
}

func recordAcks(ctx context.Context, tx *sql.Tx, jobID int64, acks []Ack) error {
	if len(acks) == 0 {
		return nil
	}
	upsert, err := tx.PrepareContext(ctx,
		`INSERT INTO checkpoint (job_id, external_id, hash, atlas_id, sent_at) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (job_id, external_id) DO UPDATE SET
		   hash = excluded.hash,
		   atlas_id = coalesce(excluded.atlas_id, checkpoint.atlas_id),
		   sent_at = excluded.sent_at`)
	if err != nil {
		return err
	}
	defer upsert.Close()
	deleteRejected, err := tx.PrepareContext(ctx, "DELETE FROM rejected WHERE job_id = ? AND external_id = ?")
	if err != nil {
		return err
	}
	defer deleteRejected.Close()

	for _, ack := range acks {
		var atlasID any // NULL when unknown: it keeps the stored ID and costs no bytes
		if ack.AtlasID != "" {
			atlasID = ack.AtlasID
		}
		if _, err := upsert.ExecContext(ctx, jobID, ack.ExternalID, ack.Hash[:], atlasID, ack.SentAt.Unix()); err != nil {
			return fmt.Errorf("upsert checkpoint row %q: %w", ack.ExternalID, err)
		}
		if _, err := deleteRejected.ExecContext(ctx, jobID, ack.ExternalID); err != nil {
			return fmt.Errorf("delete rejected row %q: %w", ack.ExternalID, err)
		}
	}
	return nil
}

func recordRejections(ctx context.Context, tx *sql.Tx, jobID int64, rejections []Rejection) error {
	if len(rejections) == 0 {
		return nil
	}
	upsert, err := tx.PrepareContext(ctx,
		`INSERT INTO rejected (job_id, external_id, hash, status, message, position, at) VALUES (?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (job_id, external_id) DO UPDATE SET
		   hash = excluded.hash,
		   status = excluded.status,
		   message = excluded.message,
		   position = excluded.position,
		   at = excluded.at`)
	if err != nil {
		return err
	}
	defer upsert.Close()

	for _, r := range rejections {
		_, err := upsert.ExecContext(ctx, jobID, r.ExternalID, r.Hash[:], r.Status,
			truncateUTF8(r.Message, MaxRejectionMessageBytes), r.Position, r.At.UnixMilli())
		if err != nil {
			return fmt.Errorf("upsert rejected row %q: %w", r.ExternalID, err)
		}
	}
	return nil
}

// truncateUTF8 cuts s to at most limit bytes without splitting a UTF-8
// character.
func truncateUTF8(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Rejected returns the rejected rows of job, or of all jobs when job is "",
// ordered by job name and external ID.
func (s *Store) Rejected(ctx context.Context, job string) ([]Rejection, error) {
	query := `SELECT j.name, r.external_id, r.hash, r.status, r.message, r.position, r.at
		FROM rejected r JOIN jobs j ON j.id = r.job_id`
	var args []any
	if job != "" {
		query += " WHERE j.name = ?"
		args = append(args, job)
	}
	query += " ORDER BY j.name, r.external_id"

	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list rejected rows in state file %s: %w", s.path, err)
	}
	defer rows.Close()

	var list []Rejection
	for rows.Next() {
		r, err := scanRejection(rows)
		if err != nil {
			return nil, fmt.Errorf("list rejected rows in state file %s: %w", s.path, err)
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list rejected rows in state file %s: %w", s.path, err)
	}
	return list, nil
}

func scanRejection(rows *sql.Rows) (Rejection, error) {
	var r Rejection
	var hash []byte
	var at int64
	if err := rows.Scan(&r.Job, &r.ExternalID, &hash, &r.Status, &r.Message, &r.Position, &at); err != nil {
		return Rejection{}, err
	}
	if len(hash) != len(r.Hash) {
		return Rejection{}, fmt.Errorf("rejected row %q has a %d-byte hash, expected %d", r.ExternalID, len(hash), len(r.Hash))
	}
	copy(r.Hash[:], hash)
	r.At = time.UnixMilli(at)
	return r, nil
}

// RetryRejected deletes the rejected rows of job, or of all jobs when job
// is "", so that the next run sends those accounts again even if their
// payload did not change. It returns the number of rows deleted.
func (s *Store) RetryRejected(ctx context.Context, job string) (int64, error) {
	if err := s.checkWritable(); err != nil {
		return 0, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	var result sql.Result
	var err error
	if job == "" {
		result, err = s.db.ExecContext(ctx, "DELETE FROM rejected")
	} else {
		id, lookupErr := s.lookupJob(ctx, job)
		if errors.Is(lookupErr, errNoJob) {
			return 0, nil
		}
		if lookupErr != nil {
			return 0, lookupErr
		}
		result, err = s.db.ExecContext(ctx, "DELETE FROM rejected WHERE job_id = ?", id)
	}
	if err != nil {
		return 0, fmt.Errorf("delete rejected rows in state file %s: %w", s.path, err)
	}

	deleted, err := result.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("count deleted rejected rows in state file %s: %w", s.path, err)
	}
	return deleted, nil
}
