package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/atlas/emulator"
	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/sources"
	"github.com/atlas-sync/atlas-sync/sources/postgres"
	"github.com/atlas-sync/atlas-sync/state"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

const testToken = "test-token-pg-41c9"

// pipeline bundles a schema of its own on the test server, the emulator
// over loopback HTTP, a SQLite checkpoint and an engine.
type pipeline struct {
	t        *testing.T
	dsn      string
	schema   string
	admin    *pgx.Conn
	emulator *emulator.Server
	bodies   *bodyRecorder
	store    *state.Store
	engine   *atlassync.Engine
	logs     *observer.ObservedLogs
}

func newPipeline(t *testing.T) *pipeline {
	t.Helper()
	dsn := os.Getenv("ATLAS_SYNC_TEST_PG_DSN")
	if dsn == "" {
		t.Skip("ATLAS_SYNC_TEST_PG_DSN is not set; run the PostgreSQL tests with scripts/with-postgres.sh go test ./sources/postgres/...")
	}
	ctx := context.Background()

	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	random := make([]byte, 6)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	schema := "atlas_test_" + hex.EncodeToString(random)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close(ctx)
	})

	emu := emulator.New(emulator.Options{Token: testToken})
	bodies := &bodyRecorder{last: make(map[string][]byte)}
	server := httptest.NewServer(bodies.wrap(emu))
	t.Cleanup(server.Close)

	store, err := state.Open(ctx, filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatalf("open state: %v", err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("close state: %v", err)
		}
	})

	client, err := atlas.NewClient(atlas.Options{BaseURL: server.URL, Token: testToken, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	settings := atlassync.Settings{
		Workers:           16,
		MaxRetries:        8,
		RetryBaseDelay:    time.Millisecond,
		RetryMaxDelay:     20 * time.Millisecond,
		RateLimitPatience: time.Minute,
		BatchSize:         500,
		FlushInterval:     10 * time.Millisecond,
		ShutdownGrace:     5 * time.Second,
	}
	engine := atlassync.NewEngine(store, client, atlas.NewThrottle(1e6, 1000), settings, zap.New(core), nil)

	return &pipeline{t: t, dsn: dsn, schema: schema, admin: admin, emulator: emu, bodies: bodies, store: store, engine: engine, logs: logs}
}

// bodyRecorder keeps the last upsert body per externalId. The emulator
// stores numbers as float64, so exact decimals are checked in the bodies.
type bodyRecorder struct {
	mu   sync.Mutex
	last map[string][]byte
}

func (b *bodyRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var account struct {
			ExternalID string `json:"externalId"`
		}
		if json.Unmarshal(body, &account) == nil && account.ExternalID != "" {
			b.mu.Lock()
			b.last[account.ExternalID] = body
			b.mu.Unlock()
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// customFields returns the custom fields of the last body sent for
// externalID, with numbers as json.Number.
func (b *bodyRecorder) customFields(t *testing.T, externalID string) map[string]any {
	t.Helper()
	b.mu.Lock()
	body, ok := b.last[externalID]
	b.mu.Unlock()
	if !ok {
		t.Fatalf("no upsert body for %s", externalID)
	}
	decoder := json.NewDecoder(bytes.NewReader(body))
	decoder.UseNumber()
	var account struct {
		CustomFields map[string]any `json:"customFields"`
	}
	if err := decoder.Decode(&account); err != nil {
		t.Fatalf("decode the body for %s: %v", externalID, err)
	}
	return account.CustomFields
}

func (p *pipeline) exec(sql string, args ...any) {
	p.t.Helper()
	if _, err := p.admin.Exec(context.Background(), sql, args...); err != nil {
		p.t.Fatalf("%s: %v", sql, err)
	}
}

// job returns an engine job reading opts, with the DSN filled in.
func (p *pipeline) job(opts postgres.Options, mapping config.Mapping) atlassync.Job {
	if opts.DSN == "" {
		opts.DSN = p.dsn
	}
	return atlassync.Job{
		Name: "warehouse",
		Open: func(ctx context.Context, run sources.OpenOptions) (sources.Source, error) {
			src, err := postgres.Open(ctx, opts, run)
			if err != nil {
				return nil, err
			}
			return src, nil
		},
		Mapping: mapping,
	}
}

func (p *pipeline) run(job atlassync.Job) atlassync.Result {
	p.t.Helper()
	return p.engine.Run(context.Background(), job, atlassync.RunOptions{})
}

func simpleMapping() config.Mapping {
	trim := true
	return config.Mapping{
		ExternalID: "id",
		Name:       "name",
		TrimSpace:  &trim,
	}
}

func fixtureMapping() config.Mapping {
	m := simpleMapping()
	m.Fields = map[string]config.Field{
		"domain": {Column: "domain", Type: "text", Empty: "leave"},
	}
	m.CustomFields = map[string]config.Field{
		"industry":  {Column: "industry", Type: "text", Empty: "clear"},
		"arr":       {Column: "annual_revenue", Type: "decimal", Empty: "leave"},
		"employees": {Column: "employees", Type: "number", Empty: "leave"},
		"renewal":   {Column: "renewal_date", Type: "date", Empty: "leave"},
		"partner":   {Column: "is_partner", Type: "boolean", Empty: "leave"},
		"plan":      {Column: "settings", Path: "plan.tier", Type: "list", Empty: "leave"},
		"regions":   {Column: "regions", Type: "multi", Separator: ";", Empty: "clear"},
		"manager":   {Column: "account_manager", Type: "agent", Empty: "leave"},
	}
	return m
}

func TestEngineSyncsFixtureTable(t *testing.T) {
	p := newPipeline(t)
	fixture, err := os.ReadFile(filepath.Join("..", "..", "testdata", "postgres", "accounts.sql"))
	if err != nil {
		t.Fatal(err)
	}
	p.exec("SET search_path TO " + p.schema)
	p.exec(string(fixture))

	job := p.job(postgres.Options{Table: p.schema + ".accounts", KeyColumn: "id", CursorColumn: "updated_at", Overlap: time.Minute}, fixtureMapping())
	res := p.run(job)
	if res.Outcome != atlassync.OutcomePartial {
		t.Fatalf("outcome = %s (%v), want partial: one row has an infinite renewal date", res.Outcome, res.Err)
	}
	if res.Counts.Read != 4 || res.Counts.Sent != 3 || res.Counts.Unreadable != 1 {
		t.Errorf("counts = %+v, want 4 read, 3 sent, 1 unreadable", res.Counts)
	}

	unreadable := p.logs.FilterMessage("row cannot be mapped").All()
	if len(unreadable) != 1 {
		t.Fatalf("logged %d unmappable rows, want 1", len(unreadable))
	}
	message := unreadable[0].ContextMap()["error"]
	for _, want := range []string{"id=ACC-004", "renewal_date", "infinity"} {
		if !strings.Contains(fmt.Sprint(message), want) {
			t.Errorf("row error %q does not contain %q", message, want)
		}
	}

	want := map[string]struct {
		domain any
		custom map[string]any
	}{
		"ACC-001": {"northwind-fab.example", map[string]any{
			"industry": "Manufacturing", "arr": json.Number("12345678901234567.89"), "employees": json.Number("120"),
			"renewal": "2027-03-31", "partner": true, "plan": "enterprise", "regions": []any{"EMEA", "NA"},
			"manager": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
		}},
		"ACC-002": {"orsted.example", map[string]any{
			"industry": "", "arr": json.Number("0.1"), "employees": json.Number("8"),
			"partner": false, "plan": "starter", "regions": []any{},
		}},
		"ACC-003": {nil, map[string]any{
			"industry": "Retail", "renewal": "2026-12-01", "regions": []any{"APAC"},
			"manager": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		}},
	}
	for id, w := range want {
		account, ok := p.emulator.Account(id)
		if !ok {
			t.Errorf("%s missing in the emulator", id)
			continue
		}
		if got := account.Fields["domain"]; got != w.domain {
			t.Errorf("%s domain = %v, want %v", id, got, w.domain)
		}
		if got := p.bodies.customFields(t, id); !reflect.DeepEqual(got, w.custom) {
			t.Errorf("%s custom fields sent = %#v, want %#v", id, got, w.custom)
		}
	}
	if account, _ := p.emulator.Account("ACC-003"); account.Name != "株式会社 Sakura" {
		t.Errorf("ACC-003 name = %q", account.Name)
	}

	// The unreadable row does not hold the cursor back: it is read again
	// when it changes or at the next full scan.
	cursor, err := p.store.Cursor(context.Background(), "warehouse")
	if err != nil {
		t.Fatal(err)
	}
	if cursor != "2024-03-01T09:15:00Z" {
		t.Errorf("stored cursor = %q, want the largest updated_at, 2024-03-01T09:15:00Z", cursor)
	}
}

func TestEngineStreams100kRows(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 upserts take a while; skipped with -short")
	}
	const rows = 100_000
	p := newPipeline(t)
	table := p.schema + ".accounts"
	p.exec("CREATE TABLE " + table + " (id text PRIMARY KEY, name text, revenue numeric)")
	p.exec("INSERT INTO "+table+" SELECT 'ACC-' || lpad(g::text, 6, '0'), 'Company ' || g, g * 1000 + 0.5 FROM generate_series(1, $1::int) AS g", rows)

	m := simpleMapping()
	m.CustomFields = map[string]config.Field{"arr": {Column: "revenue", Type: "decimal", Empty: "leave"}}
	job := p.job(postgres.Options{Table: table, KeyColumn: "id"}, m)

	first := p.run(job)
	if first.Outcome != atlassync.OutcomeOK {
		t.Fatalf("first run outcome = %s (%v)", first.Outcome, first.Err)
	}
	if first.Counts.Read != rows || first.Counts.Sent != rows || first.Counts.Created != rows {
		t.Errorf("first run counts = %+v, want %d read, sent and created", first.Counts, rows)
	}
	if got := len(p.emulator.Accounts()); got != rows {
		t.Errorf("emulator holds %d accounts, want %d", got, rows)
	}
	for _, id := range []int{1, 54321, rows} {
		externalID := fmt.Sprintf("ACC-%06d", id)
		account, ok := p.emulator.Account(externalID)
		if !ok {
			t.Errorf("%s missing in the emulator", externalID)
			continue
		}
		if account.Name != fmt.Sprintf("Company %d", id) {
			t.Errorf("%s name = %q", externalID, account.Name)
		}
		if want := json.Number(fmt.Sprintf("%d.5", id*1000)); p.bodies.customFields(t, externalID)["arr"] != want {
			t.Errorf("%s arr sent = %v, want %s", externalID, p.bodies.customFields(t, externalID)["arr"], want)
		}
	}

	p.exec("UPDATE " + table + " SET name = name || ' GmbH' WHERE id IN ('ACC-000007', 'ACC-099999')")
	second := p.run(job)
	if second.Outcome != atlassync.OutcomeOK {
		t.Fatalf("second run outcome = %s (%v)", second.Outcome, second.Err)
	}
	if second.Counts.Sent != 2 || second.Counts.Unchanged != rows-2 {
		t.Errorf("second run counts = %+v, want 2 sent and %d unchanged", second.Counts, rows-2)
	}
	if account, _ := p.emulator.Account("ACC-099999"); account.Name != "Company 99999 GmbH" {
		t.Errorf("ACC-099999 name = %q, want the update", account.Name)
	}
}

func TestEngineReadsLateCommit(t *testing.T) {
	p := newPipeline(t)
	ctx := context.Background()
	table := p.schema + ".accounts"
	p.exec("CREATE TABLE " + table + " (id text PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT now())")
	p.exec("INSERT INTO " + table + " SELECT 'ACC-' || g, 'Company ' || g, now() - interval '1 day' - g * interval '1 minute' FROM generate_series(1, 50) AS g")

	job := p.job(postgres.Options{Table: table, KeyColumn: "id", CursorColumn: "updated_at", Overlap: 5 * time.Minute, FullEvery: 24}, simpleMapping())
	if res := p.run(job); res.Outcome != atlassync.OutcomeOK || res.Counts.Sent != 50 {
		t.Fatalf("first run = %s, %+v (%v), want ok with 50 sent", res.Outcome, res.Counts, res.Err)
	}

	// Transaction A takes its timestamp first but commits last.
	late, err := pgx.Connect(ctx, p.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close(ctx)
	txA, err := late.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback(ctx)
	if _, err := txA.Exec(ctx, "INSERT INTO "+table+" (id, name) VALUES ('LATE', 'Committed late')"); err != nil {
		t.Fatal(err)
	}
	p.exec("INSERT INTO " + table + " (id, name) VALUES ('EARLY', 'Committed early')")

	second := p.run(job)
	if second.Outcome != atlassync.OutcomeOK || second.Counts.Sent != 1 {
		t.Fatalf("second run = %s, %+v (%v), want ok with EARLY sent", second.Outcome, second.Counts, second.Err)
	}
	if _, ok := p.emulator.Account("LATE"); ok {
		t.Fatal("LATE was sent before its transaction committed")
	}

	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	third := p.run(job)
	if third.Outcome != atlassync.OutcomeOK {
		t.Fatalf("third run outcome = %s (%v)", third.Outcome, third.Err)
	}
	if _, ok := p.emulator.Account("LATE"); !ok {
		t.Error("LATE was never delivered: the overlap window missed the late commit")
	}
	// The third run re-reads EARLY and LATE only: the 50 old rows lie
	// more than a day before the cursor.
	if third.Counts.Read != 2 || third.Counts.Sent != 1 || third.Counts.Unchanged != 1 {
		t.Errorf("third run counts = %+v, want 2 read, 1 sent (LATE), 1 unchanged (EARLY)", third.Counts)
	}
}

// killingSource ends its own server session once after a number of records,
// the way a DBA's pg_terminate_backend or a failover would.
type killingSource struct {
	sources.CursorSource
	admin   *pgx.Conn
	appName string
	after   int
	read    int
	killed  *atomic.Bool
}

func (k *killingSource) Next(ctx context.Context) (sources.Record, error) {
	if k.read == k.after && k.killed.CompareAndSwap(false, true) {
		if _, err := k.admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", k.appName); err != nil {
			return sources.Record{}, fmt.Errorf("test: terminate the source's session: %w", err)
		}
	}
	k.read++
	return k.CursorSource.Next(ctx)
}

func TestEngineRerunsAfterKilledConnection(t *testing.T) {
	const rows = 5000
	p := newPipeline(t)
	table := p.schema + ".accounts"
	p.exec("CREATE TABLE " + table + " (id text PRIMARY KEY, name text)")
	p.exec("INSERT INTO "+table+" SELECT 'ACC-' || g, 'Company ' || g FROM generate_series(1, $1::int) AS g", rows)

	appName := "atlas-sync-" + p.schema
	separator := "?"
	if strings.Contains(p.dsn, "?") {
		separator = "&"
	}
	opts := postgres.Options{DSN: p.dsn + separator + "application_name=" + appName, Table: table, KeyColumn: "id", FetchSize: 100}
	job := p.job(opts, simpleMapping())
	plain := job.Open
	killed := &atomic.Bool{}
	job.Open = func(ctx context.Context, run sources.OpenOptions) (sources.Source, error) {
		src, err := plain(ctx, run)
		if err != nil {
			return nil, err
		}
		return &killingSource{CursorSource: src.(sources.CursorSource), admin: p.admin, appName: appName, after: 2500, killed: killed}, nil
	}

	first := p.run(job)
	if first.Outcome != atlassync.OutcomeFailed {
		t.Fatalf("run with a killed connection: outcome = %s, want failed", first.Outcome)
	}
	if first.Err == nil || !strings.Contains(first.Err.Error(), "the server ended the connection") {
		t.Errorf("run error = %v, want one saying the server ended the connection", first.Err)
	}
	if first.Counts.Read >= rows || first.Counts.Sent == 0 {
		t.Errorf("the failed run read %d and sent %d rows, want some sent and fewer than %d read", first.Counts.Read, first.Counts.Sent, rows)
	}

	second := p.run(job)
	if second.Outcome != atlassync.OutcomeOK {
		t.Fatalf("rerun outcome = %s (%v)", second.Outcome, second.Err)
	}
	if got := len(p.emulator.Accounts()); got != rows {
		t.Errorf("emulator holds %d accounts after the rerun, want %d", got, rows)
	}
	if got := first.Counts.Sent + second.Counts.Sent; got != rows {
		t.Errorf("sent %d + %d = %d across both runs, want %d: acknowledged rows must not be sent again", first.Counts.Sent, second.Counts.Sent, got, rows)
	}
	if second.Counts.Unchanged != first.Counts.Sent {
		t.Errorf("rerun unchanged = %d, want the %d rows acknowledged by the failed run", second.Counts.Unchanged, first.Counts.Sent)
	}
}
