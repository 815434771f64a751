package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/atlas-sync/atlas-sync/sources"
)

const (
	// cursorName names the server-side cursor inside the source's own
	// transaction, so it cannot clash with anything else.
	cursorName = "atlas_sync_rows"

	// clientTimeoutMargin is added to the statement timeout for the
	// client-side deadline of each statement. The server should cancel
	// first; the client deadline covers a server that stopped responding.
	clientTimeoutMargin = 30 * time.Second

	// closeTimeout bounds the goodbye to the server in Close.
	closeTimeout = 5 * time.Second
)

// Source reads one table or query. It implements sources.CursorSource.
type Source struct {
	opts  Options
	label string // the table as configured, or "query", for positions
	conn  *pgx.Conn
	peer  endpoint
	types *pgtype.Map

	columns  []column
	names    []string
	keyIndex int // index of Options.KeyColumn in columns, or -1

	selectSQL string
	params    []string
	cursor    *cursorTracker // nil without a cursor column
	fullScan  bool

	declared  bool
	exhausted bool // the last fetch returned fewer rows than requested
	batch     []row
	next      int
	rowNumber int64
	err       error // the error that ended the read; Next returns it again
	closed    bool
}

// row is one fetched row, converted.
type row struct {
	position string
	values   []sources.Value
	err      *sources.RowError
}

// endpoint contains the connection details that error messages name, and
// the password they must hide.
type endpoint struct {
	address  string
	user     string
	database string
	password string
}

// Open connects, begins a READ ONLY, REPEATABLE READ transaction and
// describes the result's columns. The query itself starts with the first
// call to Next, so that opening a source only to learn its columns (as the
// preflight does) costs a describe, not a read. run selects a full or an
// incremental read; see Options.CursorColumn and Options.FullEvery.
func Open(ctx context.Context, opts Options, run sources.OpenOptions) (*Source, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Source{opts: opts, label: "query", keyIndex: -1, types: pgtype.NewMap()}

	baseSQL, err := s.baseSQL()
	if err != nil {
		return nil, err
	}
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	if err := s.prepare(ctx, baseSQL, run); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// baseSQL returns the statement that reads every row.
func (s *Source) baseSQL() (string, error) {
	if s.opts.Table != "" {
		table, err := ParseTable(s.opts.Table)
		if err != nil {
			return "", err
		}
		s.label = s.opts.Table
		return "SELECT * FROM " + table.Sanitize(), nil
	}
	// The line breaks keep a trailing -- comment from swallowing the
	// closing parenthesis.
	query := strings.TrimRight(strings.TrimSpace(s.opts.Query), "; \t\r\n")
	return "SELECT * FROM (\n" + query + "\n) AS src", nil
}

// connect opens the connection, begins the transaction and sets the session
// settings that the value conversion relies on.
func (s *Source) connect(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(s.opts.DSN)
	if err != nil {
		// NOTE: pgx v5.13.0 masks the password in the connection string it
		// quotes here, but calls that best effort for strings it cannot
		// split into parts.
		return fmt.Errorf("invalid connection string (dsn): %w", err)
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "atlas-sync"
	}
	s.peer = endpoint{
		address:  net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))),
		user:     cfg.User,
		database: cfg.Database,
		password: cfg.Password,
	}
	if strings.HasPrefix(cfg.Host, "/") {
		s.peer.address = cfg.Host // a Unix socket directory
	}

	connectCtx := ctx
	if cfg.ConnectTimeout == 0 {
		var cancel context.CancelFunc
		connectCtx, cancel = context.WithTimeout(ctx, DefaultConnectTimeout)
		defer cancel()
	}
	conn, err := pgx.ConnectConfig(connectCtx, cfg)
	if err != nil {
		return s.fail("connect", err)
	}
	s.conn = conn

	stmtCtx, cancel := s.statementContext(ctx)
	defer cancel()
	// The transaction ends with the session in Close, so its handle is
	// not kept.
	if _, err := conn.BeginTx(stmtCtx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}); err != nil {
		s.Close()
		return s.fail("begin a read-only transaction", err)
	}

	// The value conversion expects ISO dates, UTC and round-trip floats.
	settings := fmt.Sprintf("SET LOCAL statement_timeout = %d; SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO'; SET LOCAL extra_float_digits = 3",
		s.opts.StatementTimeout.Milliseconds())
	if _, err := conn.PgConn().Exec(stmtCtx, settings).ReadAll(); err != nil {
		s.Close()
		return s.fail("set session settings", err)
	}
	return nil
}

// prepare describes the result, looks up array element types, and builds
// the statement of this run.
func (s *Source) prepare(ctx context.Context, baseSQL string, run sources.OpenOptions) error {
	stmtCtx, cancel := s.statementContext(ctx)
	defer cancel()

	description, err := s.conn.PgConn().Prepare(stmtCtx, "", baseSQL, nil)
	if err != nil {
		return s.fail("describe the "+s.kind(), err)
	}
	seen := make(map[string]bool, len(description.Fields))
	for _, field := range description.Fields {
		if seen[field.Name] {
			return fmt.Errorf("the %s returns more than one column named %q; give each column a distinct name (AS alias)", s.kind(), field.Name)
		}
		seen[field.Name] = true
		s.columns = append(s.columns, column{name: field.Name, oid: field.DataTypeOID})
		s.names = append(s.names, field.Name)
	}
	if len(s.columns) == 0 {
		return fmt.Errorf("the %s returns no columns", s.kind())
	}
	if err := s.resolveArrays(stmtCtx); err != nil {
		return err
	}
	for i, name := range s.names {
		if name == s.opts.KeyColumn {
			s.keyIndex = i
		}
	}

	s.selectSQL = baseSQL
	s.fullScan = true
	if s.opts.CursorColumn == "" {
		return nil
	}
	return s.prepareCursor(run)
}

// prepareCursor checks the cursor column and, for an incremental run,
// adds the cursor condition.
func (s *Source) prepareCursor(run sources.OpenOptions) error {
	index := -1
	for i, name := range s.names {
		if name == s.opts.CursorColumn {
			index = i
		}
	}
	if index < 0 {
		return fmt.Errorf("cursor_column %q is not a column of the %s; columns: %s", s.opts.CursorColumn, s.kind(), strings.Join(s.names, ", "))
	}
	oid := s.columns[index].oid
	if _, ok := cursorTypes[oid]; !ok {
		return fmt.Errorf("cursor_column %q has type %s; a cursor column must be %s", s.opts.CursorColumn, s.typeName(oid), cursorTypeNames)
	}
	s.cursor = newCursorTracker(index, oid)

	periodic := s.opts.FullEvery > 0 && run.Run > 0 && run.Run%int64(s.opts.FullEvery) == 0
	if run.Full || run.Cursor == "" || periodic {
		return nil
	}
	if err := s.cursor.start(run.Cursor); err != nil {
		return fmt.Errorf("cursor_column %q: %w", s.opts.CursorColumn, err)
	}
	condition, params := s.cursor.condition(pgx.Identifier{s.opts.CursorColumn}.Sanitize(), run.Cursor, s.opts.Overlap)
	s.selectSQL = "SELECT * FROM (\n" + s.selectSQL + "\n) AS incremental WHERE " + condition
	s.params = params
	s.fullScan = false
	return nil
}

// resolveArrays finds the array columns and their element types in
// pg_type, which also lists the array types of extensions (citext[]) and
// of enums.
func (s *Source) resolveArrays(ctx context.Context) error {
	oids := make([]uint32, len(s.columns))
	for i, c := range s.columns {
		oids[i] = c.oid
	}
	// The condition typarray = t.oid excludes vector types such as
	// int2vector. box[] separates its elements with ';', so it stays text.
	rows, err := s.conn.Query(ctx, `SELECT t.oid, t.typelem FROM pg_catalog.pg_type t
		JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND e.typarray = t.oid
		WHERE t.oid = ANY($1) AND e.typdelim = ','`, oids)
	if err != nil {
		return s.fail("look up the column types", err)
	}
	elements := make(map[uint32]uint32)
	var arrayOID, elementOID uint32
	_, err = pgx.ForEachRow(rows, []any{&arrayOID, &elementOID}, func() error {
		elements[arrayOID] = elementOID
		return nil
	})
	if err != nil {
		return s.fail("look up the column types", err)
	}
	for i := range s.columns {
		if element, ok := elements[s.columns[i].oid]; ok {
			s.columns[i].isArray = true
			s.columns[i].elementOID = element
		}
	}
	return nil
}

// Columns returns the result's column names in order.
func (s *Source) Columns() []string { return s.names }

// FullScan reports whether this run reads every row, rather than only the
// rows at or after the stored cursor minus the overlap.
func (s *Source) FullScan() bool { return s.fullScan }

// Next returns the next row. A value that cannot be converted is a
// *sources.RowError; a failed statement or a lost connection ends the read
// with an error that Next returns again on later calls.
func (s *Source) Next(ctx context.Context) (sources.Record, error) {
	if s.err != nil {
		return sources.Record{}, s.err
	}
	if s.closed {
		return sources.Record{}, errors.New("read from a closed PostgreSQL source")
	}
	if s.next >= len(s.batch) {
		if s.exhausted {
			return sources.Record{}, io.EOF
		}
		if err := s.fetch(ctx); err != nil {
			s.err = err
			return sources.Record{}, err
		}
		if len(s.batch) == 0 {
			return sources.Record{}, io.EOF
		}
	}

	r := s.batch[s.next]
	s.next++
	if r.err != nil {
		return sources.Record{}, r.err
	}
	if s.cursor != nil && !r.values[s.cursor.index].Null {
		s.cursor.observe(r.values[s.cursor.index].Text)
	}
	return sources.Record{Position: r.position, Values: r.values}, nil
}

// fetch declares the cursor on the first call and reads the next batch of
// rows into memory, so that the server is not kept waiting while the run
// sends them.
func (s *Source) fetch(ctx context.Context) error {
	stmtCtx, cancel := s.statementContext(ctx)
	defer cancel()
	pgConn := s.conn.PgConn()

	if !s.declared {
		params := make([][]byte, len(s.params))
		for i, p := range s.params {
			params[i] = []byte(p)
		}
		declare := "DECLARE " + cursorName + " NO SCROLL CURSOR FOR " + s.selectSQL
		if _, err := pgConn.ExecParams(stmtCtx, declare, params, nil, nil, nil).Close(); err != nil {
			return s.fail("start the "+s.kind(), err)
		}
		s.declared = true
	}

	s.batch = s.batch[:0]
	s.next = 0
	results := pgConn.Exec(stmtCtx, fmt.Sprintf("FETCH FORWARD %d FROM %s", s.opts.FetchSize, cursorName))
	for results.NextResult() {
		reader := results.ResultReader()
		for reader.NextRow() {
			s.addRow(reader.Values())
		}
		if _, err := reader.Close(); err != nil {
			results.Close()
			return s.fail("fetch rows", err)
		}
	}
	if err := results.Close(); err != nil {
		return s.fail("fetch rows", err)
	}
	if len(s.batch) < s.opts.FetchSize {
		s.exhausted = true
	}
	return nil
}

// addRow converts one row of text values. raw is only valid until the
// next row is read, so every value is copied.
func (s *Source) addRow(raw [][]byte) {
	s.rowNumber++
	r := row{values: make([]sources.Value, len(s.columns))}
	if s.keyIndex >= 0 && raw[s.keyIndex] != nil {
		r.position = fmt.Sprintf("%s %s=%s", s.label, s.opts.KeyColumn, truncate(string(raw[s.keyIndex]), 100))
	} else {
		r.position = fmt.Sprintf("%s row %d", s.label, s.rowNumber)
	}
	for i := range s.columns {
		value, err := s.columns[i].decode(s.types, raw[i])
		if err != nil {
			r.err = &sources.RowError{Position: r.position, Column: s.columns[i].name, Err: err}
			break
		}
		r.values[i] = value
	}
	s.batch = append(s.batch, r)
}

// Cursor returns the largest cursor column value read, or the stored
// cursor when this incremental run read nothing newer. It is "" without a
// cursor column, and after a full scan that read no row with a cursor
// value.
func (s *Source) Cursor() string {
	if s.cursor == nil {
		return ""
	}
	return s.cursor.value()
}

// Close ends the session; the server rolls the read-only transaction back.
// It is safe to call more than once.
func (s *Source) Close() error {
	if s.closed || s.conn == nil {
		s.closed = true
		return nil
	}
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := s.conn.Close(ctx); err != nil {
		return fmt.Errorf("close the PostgreSQL connection to %s: %w", s.peer.address, err)
	}
	return nil
}

// statementContext bounds one statement on the client side.
func (s *Source) statementContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.StatementTimeout+clientTimeoutMargin)
}

// fail wraps an error of the connection with the step, the server, the
// user and the database, and hides the password.
func (s *Source) fail(step string, err error) error {
	wrapped := fmt.Errorf("postgres %s as user %q, database %q: %s: %w", s.peer.address, s.peer.user, s.peer.database, step, explain(err, s.opts.StatementTimeout))
	return redact(wrapped, s.peer)
}

func (s *Source) kind() string {
	if s.opts.Table != "" {
		return "table " + s.opts.Table
	}
	return "query"
}

func (s *Source) typeName(oid uint32) string {
	if t, ok := s.types.TypeForOID(oid); ok {
		return t.Name
	}
	return "oid " + strconv.FormatUint(uint64(oid), 10)
}
