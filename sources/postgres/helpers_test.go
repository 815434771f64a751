package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/atlas-sync/atlas-sync/sources"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testDSN returns the DSN of the test server, a superuser on 127.0.0.1, or
// skips the test.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("ATLAS_SYNC_TEST_PG_DSN")
	if dsn == "" {
		t.Skip("ATLAS_SYNC_TEST_PG_DSN is not set; run the PostgreSQL tests with scripts/with-postgres.sh go test ./sources/postgres/...")
	}
	return dsn
}

// testDB is a schema of its own on the test server, dropped at the end of
// the test, and an administrative connection to fill it.
type testDB struct {
	t      testing.TB
	dsn    string
	schema string
	admin  *pgx.Conn
}

func newTestDB(t testing.TB) *testDB {
	t.Helper()
	dsn := testDSN(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	random := make([]byte, 6)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	db := &testDB{t: t, dsn: dsn, schema: "atlas_test_" + hex.EncodeToString(random), admin: admin}
	db.exec("CREATE SCHEMA " + db.schema)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+db.schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", db.schema, err)
		}
		admin.Close(ctx)
	})
	return db
}

// exec runs sql on the administrative connection.
func (db *testDB) exec(sql string, args ...any) {
	db.t.Helper()
	if _, err := db.admin.Exec(context.Background(), sql, args...); err != nil {
		db.t.Fatalf("%s: %v", sql, err)
	}
}

// name returns the schema-qualified name of a table in the test schema.
func (db *testDB) name(table string) string {
	return db.schema + "." + table
}

// connect opens another administrative connection, for a second
// transaction or to end the source's session.
func (db *testDB) connect() *pgx.Conn {
	db.t.Helper()
	conn, err := pgx.Connect(context.Background(), db.dsn)
	if err != nil {
		db.t.Fatalf("connect: %v", err)
	}
	db.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// open opens a source and closes it at the end of the test.
func (db *testDB) open(opts Options, run sources.OpenOptions) *Source {
	db.t.Helper()
	if opts.DSN == "" {
		opts.DSN = db.dsn
	}
	src, err := Open(context.Background(), opts, run)
	if err != nil {
		db.t.Fatalf("open: %v", err)
	}
	db.t.Cleanup(func() {
		if err := src.Close(); err != nil {
			db.t.Errorf("close: %v", err)
		}
	})
	return src
}

// readAll reads src to the end and returns the records' values by column
// name. Row errors fail the test.
func readAll(t testing.TB, src sources.Source) []map[string]sources.Value {
	t.Helper()
	var rows []map[string]sources.Value
	for {
		rec, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			t.Fatalf("next after %d rows: %v", len(rows), err)
		}
		row := make(map[string]sources.Value, len(rec.Values))
		for i, name := range src.Columns() {
			row[name] = rec.Values[i]
		}
		rows = append(rows, row)
	}
}
