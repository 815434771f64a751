package postgres

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/atlas-sync/atlas-sync/sources"
)

// ids returns the sorted id column of rows.
func ids(rows []map[string]sources.Value) string {
	var out []string
	for _, row := range rows {
		out = append(out, row["id"].Text)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func TestIntegerCursor(t *testing.T) {
	db := newTestDB(t)
	db.exec("CREATE TABLE " + db.name("accounts") + " (id text, version bigint)")
	db.exec("INSERT INTO " + db.name("accounts") + " VALUES ('a', 1), ('b', 3), ('c', 5), ('d', NULL)")

	opts := Options{Table: db.name("accounts"), CursorColumn: "version", Overlap: time.Hour}
	full := db.open(opts, sources.OpenOptions{})
	if got := ids(readAll(t, full)); got != "a,b,c,d" {
		t.Errorf("full scan read %s, want a,b,c,d", got)
	}
	if got := full.Cursor(); got != "5" {
		t.Fatalf("cursor after the full scan = %q, want 5", got)
	}

	db.exec("INSERT INTO " + db.name("accounts") + " VALUES ('e', 7), ('f', 9223372036854775807)")
	incremental := db.open(opts, sources.OpenOptions{Cursor: "5", Run: 1})
	if incremental.FullScan() {
		t.Error("a run with a cursor is a full scan")
	}
	// The overlap does not apply to integers: the read starts at 5.
	if got := ids(readAll(t, incremental)); got != "c,e,f" {
		t.Errorf("incremental read %s, want c,e,f", got)
	}
	if got := incremental.Cursor(); got != "9223372036854775807" {
		t.Errorf("cursor = %q, want the bigint maximum", got)
	}
}

func TestTimestamptzCursorOverlap(t *testing.T) {
	db := newTestDB(t)
	db.exec("CREATE TABLE " + db.name("accounts") + " (id text, updated_at timestamptz)")
	db.exec("INSERT INTO " + db.name("accounts") + ` VALUES
		('old', '2024-03-01 11:50:00Z'), ('within', '2024-03-01 11:57:00.000001Z'),
		('edge', '2024-03-01 11:55:00.123456Z'), ('last', '2024-03-01 14:00:00.123456+02'),
		('never', NULL), ('forever', 'infinity')`)

	opts := Options{Table: db.name("accounts"), CursorColumn: "updated_at", Overlap: 5 * time.Minute}
	full := db.open(opts, sources.OpenOptions{Full: true, Cursor: "2030-01-01T00:00:00Z"})
	if got := len(readAll(t, full)); got != 6 {
		t.Errorf("full scan read %d rows, want 6", got)
	}
	cursor := full.Cursor()
	if cursor != "2024-03-01T12:00:00.123456Z" {
		t.Fatalf("cursor = %q, want the largest finite updated_at in UTC", cursor)
	}

	incremental := db.open(opts, sources.OpenOptions{Cursor: cursor, Run: 1})
	if got := ids(readAll(t, incremental)); got != "edge,forever,last,within" {
		t.Errorf("incremental read with a 5m overlap = %s, want edge,forever,last,within", got)
	}
	if got := incremental.Cursor(); got != cursor {
		t.Errorf("cursor after a read with nothing newer = %q, want %q kept", got, cursor)
	}

	opts.Overlap = 0
	exact := db.open(opts, sources.OpenOptions{Cursor: cursor, Run: 1})
	if got := ids(readAll(t, exact)); got != "forever,last" {
		t.Errorf("incremental read without overlap = %s, want forever,last", got)
	}
}

func TestTimestampAndDateCursors(t *testing.T) {
	db := newTestDB(t)
	db.exec("CREATE TABLE " + db.name("accounts") + " (id text, changed timestamp, day date)")
	db.exec("INSERT INTO " + db.name("accounts") + ` VALUES
		('a', '2024-03-01 08:00:00', '2024-02-27'),
		('b', '2024-03-01 11:00:00', '2024-02-29'),
		('c', '2024-03-01 12:00:00.5', '2024-03-01')`)

	stamp := Options{Table: db.name("accounts"), CursorColumn: "changed", Overlap: 90 * time.Minute}
	full := db.open(stamp, sources.OpenOptions{})
	readAll(t, full)
	if got := full.Cursor(); got != "2024-03-01T12:00:00.5" {
		t.Fatalf("timestamp cursor = %q, want 2024-03-01T12:00:00.5", got)
	}
	incremental := db.open(stamp, sources.OpenOptions{Cursor: full.Cursor(), Run: 1})
	if got := ids(readAll(t, incremental)); got != "b,c" {
		t.Errorf("timestamp cursor with 90m overlap read %s, want b,c", got)
	}

	day := Options{Table: db.name("accounts"), CursorColumn: "day", Overlap: 36 * time.Hour}
	full = db.open(day, sources.OpenOptions{})
	readAll(t, full)
	if got := full.Cursor(); got != "2024-03-01" {
		t.Fatalf("date cursor = %q, want 2024-03-01", got)
	}
	incremental = db.open(day, sources.OpenOptions{Cursor: full.Cursor(), Run: 1})
	if got := ids(readAll(t, incremental)); got != "b,c" {
		t.Errorf("date cursor with 36h overlap read %s, want b,c", got)
	}
}

func TestNumericCursorInQuery(t *testing.T) {
	db := newTestDB(t)
	db.exec("CREATE TABLE " + db.name("accounts") + " (id text, seq numeric)")
	db.exec("INSERT INTO " + db.name("accounts") + " VALUES ('a', 9.5), ('b', 10.25), ('c', 100), ('d', 'NaN')")

	opts := Options{Query: "SELECT id, seq AS change_seq FROM " + db.name("accounts"), CursorColumn: "change_seq"}
	full := db.open(opts, sources.OpenOptions{})
	readAll(t, full)
	if got := full.Cursor(); got != "100" {
		t.Fatalf("numeric cursor = %q, want 100 (NaN has no place in the order)", got)
	}
	incremental := db.open(opts, sources.OpenOptions{Cursor: "10.25", Run: 1})
	// NaN sorts above every number in PostgreSQL, so the NaN row is read
	// by every incremental run.
	if got := ids(readAll(t, incremental)); got != "b,c,d" {
		t.Errorf("incremental read %s, want b,c,d", got)
	}
}

func TestFullScanEveryNthRun(t *testing.T) {
	db := newTestDB(t)
	db.exec("CREATE TABLE " + db.name("accounts") + " (id text, version int)")
	db.exec("INSERT INTO " + db.name("accounts") + " VALUES ('a', 1), ('b', 2), ('c', 3)")

	opts := Options{Table: db.name("accounts"), CursorColumn: "version", FullEvery: 3}
	cases := []struct {
		run  sources.OpenOptions
		full bool
		read int
	}{
		{sources.OpenOptions{Cursor: "3", Run: 1}, false, 1},
		{sources.OpenOptions{Cursor: "3", Run: 2}, false, 1},
		{sources.OpenOptions{Cursor: "3", Run: 3}, true, 3},
		{sources.OpenOptions{Cursor: "3", Run: 4}, false, 1},
		{sources.OpenOptions{Cursor: "3", Run: 6}, true, 3},
		{sources.OpenOptions{Cursor: "3", Run: 5, Full: true}, true, 3},
		{sources.OpenOptions{Cursor: "", Run: 5}, true, 3},
	}
	for _, c := range cases {
		src := db.open(opts, c.run)
		if src.FullScan() != c.full {
			t.Errorf("%+v: full scan = %v, want %v", c.run, src.FullScan(), c.full)
		}
		if got := len(readAll(t, src)); got != c.read {
			t.Errorf("%+v: read %d rows, want %d", c.run, got, c.read)
		}
	}

	opts.FullEvery = 0
	if src := db.open(opts, sources.OpenOptions{Cursor: "3", Run: 24}); src.FullScan() {
		t.Error("full_every 0 made run 24 a full scan")
	}
}

func TestCursorColumnChecked(t *testing.T) {
	db := newTestDB(t)
	db.exec("CREATE TABLE " + db.name("accounts") + " (id text, updated_at timestamptz, note text)")

	cases := []struct {
		opts Options
		run  sources.OpenOptions
		want string
	}{
		{Options{CursorColumn: "missing"}, sources.OpenOptions{}, `cursor_column "missing" is not a column of the table ` + db.name("accounts") + "; columns: id, updated_at, note"},
		{Options{CursorColumn: "note"}, sources.OpenOptions{}, `cursor_column "note" has type text; a cursor column must be smallint`},
		{Options{CursorColumn: "updated_at"}, sources.OpenOptions{Cursor: "yesterday", Run: 1}, `the stored cursor "yesterday" is not a valid timestamptz value; run once with --full`},
	}
	for _, c := range cases {
		c.opts.DSN = db.dsn
		c.opts.Table = db.name("accounts")
		_, err := Open(context.Background(), c.opts, c.run)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(cursor_column %s, %+v) error = %v, want %q", c.opts.CursorColumn, c.run, err, c.want)
		}
	}

	// A full scan ignores an unreadable stored cursor and replaces it.
	src := db.open(Options{Table: db.name("accounts"), CursorColumn: "updated_at"}, sources.OpenOptions{Cursor: "yesterday", Full: true})
	if !src.FullScan() {
		t.Error("--full with an invalid stored cursor is not a full scan")
	}
}

func TestLateCommitReadWithinOverlap(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	db.exec("CREATE TABLE " + db.name("accounts") + " (id text PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now())")
	db.exec("INSERT INTO " + db.name("accounts") + " VALUES ('old', now() - interval '1 day')")

	// Transaction A starts first, so now() in it is earlier than in B, but
	// A commits after B and after the next run.
	late := db.connect()
	txA, err := late.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := txA.Exec(ctx, "INSERT INTO "+db.name("accounts")+" (id) VALUES ('late')"); err != nil {
		t.Fatal(err)
	}
	db.exec("INSERT INTO " + db.name("accounts") + " (id) VALUES ('early')")

	opts := Options{Table: db.name("accounts"), CursorColumn: "updated_at", Overlap: time.Minute}
	first := db.open(opts, sources.OpenOptions{})
	if got := ids(readAll(t, first)); got != "early,old" {
		t.Fatalf("first run read %s, want early,old", got)
	}
	cursor := first.Cursor()

	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	second := db.open(opts, sources.OpenOptions{Cursor: cursor, Run: 1})
	if got := ids(readAll(t, second)); got != "early,late" {
		t.Errorf("second run read %s, want early,late: the late commit must be read", got)
	}
}
