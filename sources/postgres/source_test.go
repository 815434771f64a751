package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/atlas-sync/atlas-sync/sources"
)

func TestParseTable(t *testing.T) {
	cases := []struct {
		name string
		want pgx.Identifier
	}{
		{"accounts", pgx.Identifier{"accounts"}},
		{"crm.accounts", pgx.Identifier{"crm", "accounts"}},
		{"CRM.Accounts", pgx.Identifier{"CRM", "Accounts"}},
		{`"eu.sales".accounts`, pgx.Identifier{"eu.sales", "accounts"}},
		{`crm."Acc""ounts"`, pgx.Identifier{"crm", `Acc"ounts`}},
		{`"a"."b.c"`, pgx.Identifier{"a", "b.c"}},
		{"accounts; DROP TABLE x", pgx.Identifier{"accounts; DROP TABLE x"}},
	}
	for _, c := range cases {
		got, err := ParseTable(c.name)
		if err != nil {
			t.Errorf("ParseTable(%q): %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseTable(%q) = %q, want %q", c.name, got, c.want)
		}
	}

	invalid := map[string]string{
		"":                "empty",
		"crm.":            "ends with a dot",
		".accounts":       "empty",
		"a.b.c":           "schema.table",
		`"crm.accounts`:   "not closed",
		`"crm"x.accounts`: "followed by a dot",
		`cr"m.accounts`:   "double quote",
		`"".accounts`:     "empty",
	}
	for name, want := range invalid {
		_, err := ParseTable(name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTable(%q) error = %v, want one containing %q", name, err, want)
		}
	}
}

func TestOptionsRejected(t *testing.T) {
	cases := map[string]Options{
		"dsn":          {Table: "t"},
		"neither":      {DSN: "postgres://127.0.0.1/x"},
		"both":         {DSN: "postgres://127.0.0.1/x", Table: "t", Query: "SELECT 1"},
		"overlap":      {DSN: "postgres://127.0.0.1/x", Table: "t", Overlap: -1},
		"full_every":   {DSN: "postgres://127.0.0.1/x", Table: "t", FullEvery: -1},
		"fetch size":   {DSN: "postgres://127.0.0.1/x", Table: "t", FetchSize: -1},
		"table name":   {DSN: "postgres://127.0.0.1/x", Table: "a.b.c"},
		"statement ti": {DSN: "postgres://127.0.0.1/x", Table: "t", StatementTimeout: -1},
	}
	for name, opts := range cases {
		if _, err := Open(context.Background(), opts, sources.OpenOptions{}); err == nil {
			t.Errorf("%s: Open succeeded, want an error", name)
		}
	}
}

func TestTableNamesAreQuoted(t *testing.T) {
	db := newTestDB(t)
	db.exec(`CREATE TABLE ` + db.schema + `."Acc.""ounts" (id int)`)
	db.exec(`INSERT INTO ` + db.schema + `."Acc.""ounts" VALUES (1), (2)`)
	db.exec(`CREATE TABLE ` + db.name("keep") + ` (id int)`)

	src := db.open(Options{Table: db.schema + `."Acc.""ounts"`}, sources.OpenOptions{})
	if rows := readAll(t, src); len(rows) != 2 {
		t.Errorf("read %d rows from the quoted table, want 2", len(rows))
	}

	injected := db.schema + `."keep""; DROP TABLE ` + db.name("keep") + `; --"`
	_, err := Open(context.Background(), Options{DSN: db.dsn, Table: injected}, sources.OpenOptions{})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Open(%q) error = %v, want a missing table", injected, err)
	}
	var exists bool
	if err := db.admin.QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", db.name("keep")).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		t.Error("table keep was dropped through the table name")
	}
}

func TestMissingTableNamesTable(t *testing.T) {
	db := newTestDB(t)
	_, err := Open(context.Background(), Options{DSN: db.dsn, Table: db.name("nope")}, sources.OpenOptions{})
	if err == nil {
		t.Fatal("Open succeeded for a missing table")
	}
	for _, want := range []string{db.name("nope"), "does not exist", "42P01"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestOpenDescribesWithoutRunning(t *testing.T) {
	db := newTestDB(t)
	// Row 3 divides by zero: Open must succeed because it only describes,
	// and the read must fail at the fetch that reaches row 3.
	src := db.open(Options{Query: "SELECT g AS id, 10 / (g - 3) AS ratio FROM generate_series(1, 5) AS g", FetchSize: 2}, sources.OpenOptions{})
	if got := src.Columns(); !reflect.DeepEqual(got, []string{"id", "ratio"}) {
		t.Fatalf("columns = %q, want id and ratio", got)
	}

	ctx := context.Background()
	for i := 1; i <= 2; i++ {
		if _, err := src.Next(ctx); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	_, err := src.Next(ctx)
	if err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Fatalf("row 3 error = %v, want division by zero", err)
	}
	if sources.IsRowError(err) {
		t.Errorf("a failed statement is a row error: %v", err)
	}
	if _, again := src.Next(ctx); !errors.Is(again, err) && (again == nil || again.Error() != err.Error()) {
		t.Errorf("Next after the failure = %v, want the same error", again)
	}
}

func TestQueryCannotWrite(t *testing.T) {
	db := newTestDB(t)
	db.exec("CREATE TABLE " + db.name("accounts") + " (id int)")
	db.exec("INSERT INTO " + db.name("accounts") + " VALUES (1)")

	db.exec("CREATE FUNCTION " + db.name("sneaky") + "() RETURNS int LANGUAGE sql AS 'DELETE FROM " + db.name("accounts") + " RETURNING id'")

	src := db.open(Options{Query: "SELECT " + db.name("sneaky") + "() AS id"}, sources.OpenOptions{})
	_, err := src.Next(context.Background())
	if err == nil || !strings.Contains(err.Error(), "read-only transaction") {
		t.Errorf("Next error = %v, want a read-only transaction error", err)
	}

	// PostgreSQL rejects a data-modifying WITH inside the subquery the
	// source wraps every query in.
	cte := "WITH gone AS (DELETE FROM " + db.name("accounts") + " RETURNING id) SELECT id FROM gone"
	if _, err := Open(context.Background(), Options{DSN: db.dsn, Query: cte}, sources.OpenOptions{}); err == nil {
		t.Error("Open succeeded for a query with DELETE in WITH")
	}
	var count int
	if err := db.admin.QueryRow(context.Background(), "SELECT count(*) FROM "+db.name("accounts")).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != 1 {
		t.Errorf("accounts holds %d rows after the query, want 1", count)
	}
}

func TestQueryForms(t *testing.T) {
	db := newTestDB(t)
	db.exec("CREATE TABLE " + db.name("accounts") + " (id int, name text)")
	db.exec("INSERT INTO " + db.name("accounts") + " VALUES (1, 'a'), (2, 'b'), (3, 'c')")

	queries := []string{
		"SELECT id, name FROM " + db.name("accounts") + " ORDER BY id;",
		"SELECT id, name FROM " + db.name("accounts") + " ORDER BY id -- a trailing comment",
		"\n  WITH a AS (SELECT * FROM " + db.name("accounts") + ") SELECT id, name FROM a ORDER BY id ;\n ",
		"VALUES (1, 'a'), (2, 'b'), (3, 'c')",
	}
	for _, query := range queries {
		src := db.open(Options{Query: query}, sources.OpenOptions{})
		if rows := readAll(t, src); len(rows) != 3 {
			t.Errorf("query %q read %d rows, want 3", query, len(rows))
		}
	}
}

func TestDuplicateColumnNamesRejected(t *testing.T) {
	db := newTestDB(t)
	_, err := Open(context.Background(), Options{DSN: db.dsn, Query: "SELECT 1 AS id, 2 AS id"}, sources.OpenOptions{})
	if err == nil || !strings.Contains(err.Error(), `more than one column named "id"`) {
		t.Errorf("Open error = %v, want a duplicate column error", err)
	}
}

func TestPositionsNameTheKey(t *testing.T) {
	db := newTestDB(t)
	db.exec("CREATE TABLE " + db.name("accounts") + " (id text, name text)")
	db.exec("INSERT INTO " + db.name("accounts") + " VALUES ('ACC-7', 'a'), (NULL, 'b')")

	var got []string
	src := db.open(Options{Query: "SELECT * FROM " + db.name("accounts") + " ORDER BY id NULLS LAST", KeyColumn: "id"}, sources.OpenOptions{})
	for {
		rec, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.Position)
	}
	if want := []string{"query id=ACC-7", "query row 2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("query positions = %q, want %q", got, want)
	}

	table := db.open(Options{Table: db.name("accounts"), KeyColumn: "missing"}, sources.OpenOptions{})
	rec, err := table.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := db.name("accounts") + " row 1"; rec.Position != want {
		t.Errorf("table position = %q, want %q", rec.Position, want)
	}
}

func TestFetchBatchBoundaries(t *testing.T) {
	db := newTestDB(t)
	for _, n := range []int{0, 1, 9, 10, 11} {
		query := fmt.Sprintf("SELECT g AS id FROM generate_series(1, %d) AS g", n)
		src := db.open(Options{Query: query, FetchSize: 3}, sources.OpenOptions{})
		rows := readAll(t, src)
		if len(rows) != n {
			t.Errorf("%d rows in batches of 3: read %d", n, len(rows))
			continue
		}
		for i, row := range rows {
			if want := fmt.Sprint(i + 1); row["id"].Text != want {
				t.Errorf("%d rows: row %d id = %q, want %s", n, i, row["id"].Text, want)
			}
		}
		if _, err := src.Next(context.Background()); !errors.Is(err, io.EOF) {
			t.Errorf("%d rows: Next after the end = %v, want io.EOF", n, err)
		}
	}
}

func TestOneSnapshotPerRun(t *testing.T) {
	db := newTestDB(t)
	db.exec("CREATE TABLE " + db.name("accounts") + " (id int)")
	db.exec("INSERT INTO " + db.name("accounts") + " SELECT generate_series(1, 10)")

	src := db.open(Options{Table: db.name("accounts"), FetchSize: 4}, sources.OpenOptions{})
	if _, err := src.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	db.exec("INSERT INTO " + db.name("accounts") + " SELECT generate_series(11, 20)")
	db.exec("DELETE FROM " + db.name("accounts") + " WHERE id > 5 AND id <= 10")

	rows := readAll(t, src)
	if got := len(rows) + 1; got != 10 {
		t.Errorf("read %d rows, want the 10 of the snapshot taken at Open", got)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	db := newTestDB(t)
	src, err := Open(context.Background(), Options{DSN: db.dsn, Query: "SELECT 1 AS id"}, sources.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("first close: %v", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := src.Next(context.Background()); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("Next after Close = %v, want an error", err)
	}
}
