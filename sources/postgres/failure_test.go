package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/atlas-sync/atlas-sync/sources"
)

// withPassword returns dsn, a URL, with another password.
func withPassword(t *testing.T, dsn, password string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("the test DSN must be a URL: %v", err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

func TestAuthFailureNamesUserAndHost(t *testing.T) {
	dsn := testDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	realPassword, _ := u.User.Password()
	const wrong = "wrong-Pa55word-7f3e"

	_, err = Open(context.Background(), Options{DSN: withPassword(t, dsn, wrong), Table: "accounts"}, sources.OpenOptions{})
	if err == nil {
		t.Fatal("Open succeeded with a wrong password")
	}
	message := err.Error()
	for _, want := range []string{`user "` + u.User.Username() + `"`, u.Host, "authentication failed"} {
		if !strings.Contains(message, want) {
			t.Errorf("error %q does not contain %q", message, want)
		}
	}
	if strings.Contains(message, wrong) {
		t.Errorf("error contains the password: %q", message)
	}
	if realPassword != "" && strings.Contains(message, realPassword) {
		t.Error("error contains the server's real password")
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
		t.Errorf("error does not wrap the server's 28P01: %v", err)
	}
}

func TestInvalidDSNHidesPassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://ops:S3cretPw-9@127.0.0.1:notaport/crm",
		"host=127.0.0.1 user=ops password=S3cretPw-9 port=notaport",
		"postgres://ops:S3cretPw-9@127.0.0.1/crm?sslmode=sometimes",
	} {
		_, err := Open(context.Background(), Options{DSN: dsn, Table: "accounts"}, sources.OpenOptions{})
		if err == nil {
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if !strings.Contains(err.Error(), "invalid connection string") {
			t.Errorf("error %q does not say the connection string is invalid", err)
		}
		if strings.Contains(err.Error(), "S3cretPw-9") {
			t.Errorf("error contains the password: %q", err)
		}
	}
}

func TestRedactHidesPassword(t *testing.T) {
	peer := endpoint{address: "db.example:5432", user: "ops", database: "crm", password: "hunter2-long"}
	err := redact(fmt.Errorf("wrapped: %w", errors.New("server said hunter2-long twice: hunter2-long")), peer)
	if strings.Contains(err.Error(), "hunter2-long") {
		t.Errorf("redacted error = %q, still contains the password", err)
	}
	if want := "wrapped: server said xxxxx twice: xxxxx"; err.Error() != want {
		t.Errorf("redacted error = %q, want %q", err, want)
	}

	// A password equal to the user name would hide the user; the message
	// then stays as it is, because the user name is not secret.
	same := endpoint{address: "db.example:5432", user: "ops", password: "ops"}
	if got := redact(errors.New(`user "ops"`), same).Error(); got != `user "ops"` {
		t.Errorf("redact with password = user gave %q", got)
	}
}

func TestUnreachableServer(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	listener.Close() // nothing listens there any more

	dsn := "postgres://ops:S3cretPw-9@" + address + "/crm?sslmode=disable&connect_timeout=5"
	_, err = Open(context.Background(), Options{DSN: dsn, Table: "accounts"}, sources.OpenOptions{})
	if err == nil {
		t.Fatal("Open succeeded without a server")
	}
	for _, want := range []string{address, `user "ops"`, "connect"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "S3cretPw-9") {
		t.Errorf("error contains the password: %q", err)
	}
}

func TestStatementTimeout(t *testing.T) {
	db := newTestDB(t)
	src := db.open(Options{Query: "SELECT 1 AS id, pg_sleep(5) AS slept", StatementTimeout: 200 * time.Millisecond}, sources.OpenOptions{})

	_, err := src.Next(context.Background())
	if err == nil {
		t.Fatal("a 5s query finished under a 200ms statement timeout")
	}
	if sources.IsRowError(err) {
		t.Errorf("a statement timeout is a row error: %v", err)
	}
	if !strings.Contains(err.Error(), "timed out after 200ms") || !strings.Contains(err.Error(), "statement_timeout") {
		t.Errorf("error %q does not explain the statement timeout", err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Errorf("error does not wrap SQLSTATE 57014: %v", err)
	}
}

func TestConnectionKilledMidStream(t *testing.T) {
	db := newTestDB(t)
	db.exec("CREATE TABLE " + db.name("accounts") + " (id int PRIMARY KEY)")
	db.exec("INSERT INTO " + db.name("accounts") + " SELECT generate_series(1, 100)")
	ctx := context.Background()

	name := "atlas-sync-kill-" + db.schema
	dsn := db.dsn + "&application_name=" + name
	if !strings.Contains(db.dsn, "?") {
		dsn = db.dsn + "?application_name=" + name
	}
	opts := Options{DSN: dsn, Query: "SELECT id FROM " + db.name("accounts") + " ORDER BY id", FetchSize: 10}
	src := db.open(opts, sources.OpenOptions{})
	for i := 0; i < 15; i++ {
		if _, err := src.Next(ctx); err != nil {
			t.Fatalf("row %d: %v", i+1, err)
		}
	}

	var killed bool
	err := db.admin.QueryRow(ctx, "SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", name).Scan(&killed)
	if err != nil || !killed {
		t.Fatalf("pg_terminate_backend = %v, %v", killed, err)
	}

	// Rows 16 to 20 are in memory already; the fetch of row 21 fails.
	read := 15
	for {
		_, err = src.Next(ctx)
		if err != nil {
			break
		}
		read++
	}
	if errors.Is(err, io.EOF) || sources.IsRowError(err) {
		t.Fatalf("Next after the kill = %v, want a fatal error", err)
	}
	if read != 20 {
		t.Errorf("read %d rows before the error, want 20", read)
	}
	if !strings.Contains(err.Error(), "fetch rows") {
		t.Errorf("error %q does not say what failed", err)
	}
	t.Logf("error after pg_terminate_backend: %v", err)

	again := db.open(opts, sources.OpenOptions{})
	if got := len(readAll(t, again)); got != 100 {
		t.Errorf("the reopened source read %d rows, want 100", got)
	}
}

func TestCanceledContextStopsRead(t *testing.T) {
	db := newTestDB(t)
	src := db.open(Options{Query: "SELECT 1 AS id, pg_sleep(30) AS slept"}, sources.OpenOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()

	_, err := src.Next(ctx)
	if err == nil {
		t.Fatal("Next returned a row of a 30s query within 200ms")
	}
	if !errors.Is(err, context.DeadlineExceeded) && !pgconn.Timeout(err) {
		t.Errorf("error = %v, want the context's deadline", err)
	}
}
