// Package sources defines the contract between account sources and the sync
// engine. A source handles a file format or a database and nothing about Atlas:
// it yields records of column values, each with a position for error messages.
// Each source type lives in its own package under sources/.
package sources

import (
	"context"
	"errors"
	"fmt"
)

// Value is one cell of a record.
type Value struct {
	// Text is the textual form of the value. Database sources format
	// numbers, dates and JSON documents here in a lossless text form.
	Text string

	// List is set for array columns (PostgreSQL text[], for example);
	// Text is then empty.
	List []string

	// Null is true for SQL NULL. A CSV source never sets it: an empty
	// cell has Text "" and the mapping treats both alike.
	Null bool
}

// IsEmpty reports whether the value is NULL, an empty string or an empty
// list. The mapping applies its empty-value policy to such values.
func (v Value) IsEmpty() bool {
	if v.Null {
		return true
	}
	if v.List != nil {
		return len(v.List) == 0
	}
	return v.Text == ""
}

// Record is one row read from a source.
type Record struct {
	// Position locates the record for people: "accounts.csv:12" for a
	// file (the line where the record starts), "orders.accounts id=42"
	// for a database row.
	Position string

	// Values is aligned with Source.Columns.
	Values []Value

	// Skip, when not empty, is the reason the source gives for the engine to
	// skip this record without mapping it (a Salesforce row in the
	// recycle bin, for example). The engine counts it as skipped.
	Skip string
}

// Source streams records. Implementations are not safe for concurrent use;
// the engine calls Next from one goroutine.
type Source interface {
	// Columns returns the column names, in the order of Record.Values.
	Columns() []string

	// Next returns the next record. It returns io.EOF after the last
	// record. A *RowError means that one record could not be read; the
	// caller reports it and calls Next again. Any other error ends the
	// read. The returned Record, including its Values slice, is valid
	// only until the next call to Next.
	Next(ctx context.Context) (Record, error)

	// Close releases the source's files or connections. It is safe to
	// call more than once.
	Close() error
}

// CursorSource is implemented by incremental sources. After a run that read
// the whole source without a fatal error, the engine stores Cursor and passes
// it back through OpenOptions.Cursor on the next run.
type CursorSource interface {
	Source

	// Cursor returns the high-water mark of the records read so far, or
	// "" when the source has nothing to remember.
	Cursor() string
}

// OpenOptions carries per-run settings from the engine to a source.
type OpenOptions struct {
	// Full requests a full scan (a backfill), ignoring any cursor.
	Full bool

	// Cursor is the value a CursorSource returned at the end of the last
	// complete run of this job, or "" when there is none.
	Cursor string

	// Run counts the completed runs of this job before this one. An
	// incremental source uses it to fall back to a full scan every N runs.
	Run int64
}

// Opener opens a source for one run of a job.
type Opener func(ctx context.Context, opts OpenOptions) (Source, error)

// RowError reports one record that could not be read or converted. The run
// goes on without it.
type RowError struct {
	Position string // start of the record, in the form of Record.Position
	Column   string // the column at fault, or "" when the whole row is
	Err      error
}

func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("%s: %v", e.Position, e.Err)
	}
	return fmt.Sprintf("%s: column %q: %v", e.Position, e.Column, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// IsRowError reports whether err is, or wraps, a *RowError.
func IsRowError(err error) bool {
	var rowErr *RowError
	return errors.As(err, &rowErr)
}
