package postgres

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Defaults applied by Open to zero-valued Options fields.
const (
	DefaultStatementTimeout = 5 * time.Minute
	DefaultFetchSize        = 1000
	DefaultConnectTimeout   = 30 * time.Second
)

// Options configure a PostgreSQL source.
type Options struct {
	// DSN is the connection string, as a URL (postgres://user@host/db) or
	// in key=value form. libpq's environment variables (PGPASSWORD, …)
	// and ~/.pgpass fill in what it leaves out. Without connect_timeout,
	// connecting times out after DefaultConnectTimeout. Without
	// application_name, the session is named "atlas-sync".
	DSN string

	// Table is the table or view to read: "schema.table" or "table" (the
	// search_path then finds it). Each part is an exact, case-sensitive
	// name; put a part in double quotes when it contains a dot. Exactly
	// one of Table and Query is set.
	Table string

	// Query is a SELECT (or VALUES, or WITH … SELECT) whose result is
	// read as rows. It runs as a subquery, SELECT * FROM (query) AS src,
	// inside the read-only transaction, so it cannot write.
	Query string

	// CursorColumn enables incremental reads: a result column of type
	// smallint, integer, bigint, numeric, date, timestamp or timestamptz
	// that grows with every change (updated_at, for example). The
	// source remembers the largest value it read, and the next run that
	// is not a full scan reads only the rows with
	// CursorColumn >= cursor - Overlap. Rows whose cursor value is NULL
	// are read by full scans only.
	CursorColumn string

	// Overlap is how far before the stored cursor an incremental read
	// starts, so that rows committed late by long transactions (whose
	// updated_at is older than rows committed before them) are read.
	// It must be longer than the longest writing transaction. It applies
	// to date and time cursors; an integer cursor reads from the stored
	// value itself.
	Overlap time.Duration

	// FullEvery makes every FullEvery-th run a full scan: the run whose
	// number of earlier completed runs (sources.OpenOptions.Run) is a
	// positive multiple of FullEvery. 0 means never.
	FullEvery int

	// StatementTimeout bounds each statement on the server
	// (SET LOCAL statement_timeout), including each fetch of
	// FetchSize rows, not the whole run. Default DefaultStatementTimeout.
	StatementTimeout time.Duration

	// KeyColumn is the result column that identifies a row, used in
	// record positions ("public.accounts id=42"). Positions fall back to
	// the row number when it is empty, missing or NULL.
	KeyColumn string

	// FetchSize is the number of rows fetched from the cursor at once,
	// and so the number of rows held in memory. Default DefaultFetchSize.
	FetchSize int
}

// withDefaults checks opts and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	if strings.TrimSpace(o.DSN) == "" {
		return o, errors.New("the connection string (dsn) is empty")
	}
	switch {
	case o.Table == "" && strings.TrimSpace(o.Query) == "":
		return o, errors.New("neither a table nor a query is set")
	case o.Table != "" && o.Query != "":
		return o, errors.New("both a table and a query are set; keep one")
	}
	if o.Overlap < 0 {
		return o, fmt.Errorf("overlap %s is negative", o.Overlap)
	}
	if o.FullEvery < 0 {
		return o, fmt.Errorf("full_every %d is negative", o.FullEvery)
	}
	if o.StatementTimeout < 0 {
		return o, fmt.Errorf("statement timeout %s is negative", o.StatementTimeout)
	}
	if o.StatementTimeout == 0 {
		o.StatementTimeout = DefaultStatementTimeout
	}
	if o.FetchSize < 0 {
		return o, fmt.Errorf("fetch size %d is negative", o.FetchSize)
	}
	if o.FetchSize == 0 {
		o.FetchSize = DefaultFetchSize
	}
	return o, nil
}

// ParseTable splits a table name as Options.Table describes it into its
// parts: "sales.accounts" gives {"sales", "accounts"}, `"eu.sales".Accounts`
// gives {"eu.sales", "Accounts"}.
func ParseTable(name string) (pgx.Identifier, error) {
	var parts pgx.Identifier
	rest := name
	for {
		part, after, err := cutIdentifierPart(rest)
		if err != nil {
			return nil, fmt.Errorf("invalid table name %q: %w", name, err)
		}
		parts = append(parts, part)
		if after == "" {
			break
		}
		rest = after[1:] // after starts with the separating dot
		if rest == "" {
			return nil, fmt.Errorf("invalid table name %q: it ends with a dot", name)
		}
	}
	if len(parts) > 2 {
		return nil, fmt.Errorf("invalid table name %q: write it as schema.table or table", name)
	}
	return parts, nil
}

// cutIdentifierPart reads one part of a dotted name from the start of s and
// returns it with the rest of s, which is "" or starts with a dot.
func cutIdentifierPart(s string) (part, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		end := strings.IndexByte(s, '.')
		if end < 0 {
			end = len(s)
		}
		part = s[:end]
		if strings.TrimSpace(part) == "" {
			return "", "", errors.New("a name part is empty")
		}
		if strings.Contains(part, `"`) {
			return "", "", errors.New(`a double quote may only surround a whole name part, as in "my.schema".accounts`)
		}
		return part, s[end:], nil
	}

	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '"' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '"' {
			b.WriteByte('"')
			i++
			continue
		}
		rest = s[i+1:]
		if rest != "" && rest[0] != '.' {
			return "", "", errors.New("a quoted name part must be followed by a dot or the end")
		}
		if b.Len() == 0 {
			return "", "", errors.New("a name part is empty")
		}
		return b.String(), rest, nil
	}
	return "", "", errors.New("a double quote is not closed")
}
