package sync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/atlas/emulator"
	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/sources"
	csvsource "github.com/atlas-sync/atlas-sync/sources/csv"
	"github.com/atlas-sync/atlas-sync/state"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testToken = "test-token-5f0c2a"

// harness bundles a real emulator over loopback HTTP, a real SQLite
// checkpoint and a CSV file.
type harness struct {
	t        *testing.T
	emulator *emulator.Server
	server   *httptest.Server
	store    *state.Store
	engine   *atlassync.Engine
	csvPath  string
	settings atlassync.Settings
	logger   *zap.Logger
}

func newHarness(t *testing.T, opts emulator.Options) *harness {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	emu := emulator.New(opts)
	server := httptest.NewServer(emu)
	t.Cleanup(server.Close)

	dir := t.TempDir()
	store, err := state.Open(context.Background(), filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		t.Fatalf("open state: %v", err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("close state: %v", err)
		}
	})

	h := &harness{
		t:        t,
		emulator: emu,
		server:   server,
		store:    store,
		csvPath:  filepath.Join(dir, "accounts.csv"),
		logger:   zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
		settings: atlassync.Settings{
			Workers:           4,
			MaxRetries:        8,
			RetryBaseDelay:    time.Millisecond,
			RetryMaxDelay:     20 * time.Millisecond,
			RateLimitPatience: time.Minute,
			BatchSize:         50,
			FlushInterval:     10 * time.Millisecond,
			ShutdownGrace:     5 * time.Second,
		},
	}
	h.engine = h.newEngine(testToken, 2000, 50)
	return h
}

func (h *harness) newEngine(token string, rps float64, burst int) *atlassync.Engine {
	client, err := atlas.NewClient(atlas.Options{BaseURL: h.server.URL, Token: token, Timeout: 2 * time.Second})
	if err != nil {
		h.t.Fatalf("new client: %v", err)
	}
	return atlassync.NewEngine(h.store, client, atlas.NewThrottle(rps, burst), h.settings, h.logger, nil)
}

// writeAccounts writes n accounts; version changes the industry of the ids
// listed in changed.
func (h *harness) writeAccounts(n int, changed map[int]string) {
	h.t.Helper()
	var b strings.Builder
	b.WriteString("Id,Name,Website,Industry,AnnualRevenue\n")
	for i := 1; i <= n; i++ {
		industry := "Manufacturing"
		if v, ok := changed[i]; ok {
			industry = v
		}
		fmt.Fprintf(&b, "ACC-%05d,Company %d,company%d.example,%s,%d.50\n", i, i, i, industry, i*1000)
	}
	if err := os.WriteFile(h.csvPath, []byte(b.String()), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) job() atlassync.Job {
	path := h.csvPath
	return atlassync.Job{
		Name: "crm",
		Open: func(ctx context.Context, _ sources.OpenOptions) (sources.Source, error) {
			return csvsource.Open(ctx, csvsource.Options{Path: path, Delimiter: ','})
		},
		Mapping: testMapping(),
	}
}

func testMapping() config.Mapping {
	trim := true
	return config.Mapping{
		ExternalID: "Id",
		Name:       "Name",
		TrimSpace:  &trim,
		Fields:     map[string]config.Field{"domain": {Column: "Website", Type: "text", Empty: "leave"}},
		CustomFields: map[string]config.Field{
			"industry": {Column: "Industry", Type: "text", Empty: "leave"},
			"arr":      {Column: "AnnualRevenue", Type: "decimal", Empty: "leave"},
		},
	}
}

func (h *harness) run(ctx context.Context, opts atlassync.RunOptions) atlassync.Result {
	h.t.Helper()
	return h.engine.Run(ctx, h.job(), opts)
}

func (h *harness) requests() int {
	return h.emulator.Stats().Requests
}

func TestRunSendsAllThenNothing(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	h.writeAccounts(120, nil)

	first := h.run(context.Background(), atlassync.RunOptions{})
	if first.Outcome != atlassync.OutcomeOK {
		t.Fatalf("first run outcome = %s (%v), want ok", first.Outcome, first.Err)
	}
	if first.Counts.Read != 120 || first.Counts.Sent != 120 {
		t.Errorf("first run read %d sent %d, want 120 and 120", first.Counts.Read, first.Counts.Sent)
	}
	if first.Counts.Created != 120 {
		t.Errorf("first run created = %d, want 120", first.Counts.Created)
	}
	if got := len(h.emulator.Accounts()); got != 120 {
		t.Errorf("emulator holds %d accounts, want 120", got)
	}
	account, ok := h.emulator.Account("ACC-00007")
	if !ok {
		t.Fatal("ACC-00007 missing in the emulator")
	}
	if account.Name != "Company 7" {
		t.Errorf("ACC-00007 name = %q, want Company 7", account.Name)
	}
	if got := fmt.Sprint(account.CustomFields["arr"]); got != "7000.5" {
		t.Errorf("ACC-00007 arr = %s, want 7000.5", got)
	}
	if got := account.Fields["domain"]; got != "company7.example" {
		t.Errorf("ACC-00007 domain = %v, want company7.example", got)
	}

	before := h.requests()
	second := h.run(context.Background(), atlassync.RunOptions{})
	if second.Outcome != atlassync.OutcomeOK {
		t.Fatalf("second run outcome = %s (%v)", second.Outcome, second.Err)
	}
	if second.Counts.Unchanged != 120 || second.Counts.Sent != 0 {
		t.Errorf("second run unchanged %d sent %d, want 120 and 0", second.Counts.Unchanged, second.Counts.Sent)
	}
	if got := h.requests() - before; got != 0 {
		t.Errorf("second run made %d requests, want 0", got)
	}

	runs, err := h.store.Runs(context.Background(), "crm", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Outcome != "ok" || runs[0].Counts.Unchanged != 120 {
		t.Errorf("run history = %+v, want two ok runs, newest with 120 unchanged", runs)
	}
}

func TestRunSendsExactlyTheChangedRows(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	h.writeAccounts(50, nil)
	if res := h.run(context.Background(), atlassync.RunOptions{}); res.Outcome != atlassync.OutcomeOK {
		t.Fatalf("first run: %s %v", res.Outcome, res.Err)
	}

	h.writeAccounts(50, map[int]string{3: "Retail", 17: "Energy", 42: "Media"})
	before := h.emulator.Stats()
	res := h.run(context.Background(), atlassync.RunOptions{})
	if res.Counts.Sent != 3 || res.Counts.Unchanged != 47 {
		t.Errorf("sent %d unchanged %d, want 3 and 47", res.Counts.Sent, res.Counts.Unchanged)
	}
	after := h.emulator.Stats()
	if got := after.Requests - before.Requests; got != 3 {
		t.Errorf("requests = %d, want 3", got)
	}
	for id, want := range map[string]string{"ACC-00003": "Retail", "ACC-00017": "Energy", "ACC-00042": "Media"} {
		account, _ := h.emulator.Account(id)
		if got := account.CustomFields["industry"]; got != want {
			t.Errorf("%s industry = %v, want %s", id, got, want)
		}
		if after.Upserts[id] != 2 {
			t.Errorf("%s upserts = %d, want 2", id, after.Upserts[id])
		}
	}
	if res.Counts.Updated != 3 {
		t.Errorf("updated = %d, want 3", res.Counts.Updated)
	}
}

func TestRunFullResendsEverything(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	h.writeAccounts(30, nil)
	h.run(context.Background(), atlassync.RunOptions{})

	before := h.requests()
	res := h.run(context.Background(), atlassync.RunOptions{Full: true})
	if res.Counts.Sent != 30 || h.requests()-before != 30 {
		t.Errorf("full run sent %d with %d requests, want 30 and 30", res.Counts.Sent, h.requests()-before)
	}
	if res.Mode != "full" {
		t.Errorf("mode = %q, want full", res.Mode)
	}
}

func TestDryRunSendsNothing(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	h.writeAccounts(10, nil)
	h.run(context.Background(), atlassync.RunOptions{})
	h.writeAccounts(12, map[int]string{5: "Retail"})

	var out bytes.Buffer
	res := h.run(context.Background(), atlassync.RunOptions{DryRun: true, DryRunOutput: &out})
	if res.Counts.Changed != 3 || res.Unsent != 3 || res.Counts.Sent != 0 {
		t.Errorf("dry run changed %d unsent %d sent %d, want 3, 3, 0", res.Counts.Changed, res.Unsent, res.Counts.Sent)
	}
	for _, id := range []string{"ACC-00005", "ACC-00011", "ACC-00012"} {
		if !strings.Contains(out.String(), id) {
			t.Errorf("dry-run output lacks %s:\n%s", id, out.String())
		}
	}
	if got := h.emulator.Stats().Requests; got != 10 {
		t.Errorf("requests = %d, want 10 from the first run only", got)
	}
	runs, _ := h.store.Runs(context.Background(), "crm", 10)
	if len(runs) != 1 {
		t.Errorf("run history has %d runs, want 1: a dry run records nothing", len(runs))
	}
}

func TestRateLimitStormDeliversEveryRow(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	h.writeAccounts(60, nil)
	h.emulator.SetFaults(emulator.Faults{RateLimitBurst: 25})

	res := h.run(context.Background(), atlassync.RunOptions{})
	if res.Outcome != atlassync.OutcomeOK {
		t.Fatalf("outcome = %s (%v), want ok", res.Outcome, res.Err)
	}
	if res.Counts.Sent != 60 {
		t.Errorf("sent = %d, want 60", res.Counts.Sent)
	}
	if res.Counts.RateLimited < 1 {
		t.Errorf("rate_limited = %d, want at least one 429 counted", res.Counts.RateLimited)
	}
	if got := len(h.emulator.Accounts()); got != 60 {
		t.Errorf("emulator holds %d accounts, want 60", got)
	}
}

func TestTransientFaultsDeliverEveryRowOnce(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	h.writeAccounts(200, nil)
	h.emulator.SetFaults(emulator.Faults{Seed: 7, ErrorRate: 0.1, ResetRate: 0.05})

	res := h.run(context.Background(), atlassync.RunOptions{})
	if res.Outcome != atlassync.OutcomeOK {
		t.Fatalf("outcome = %s (%v), want ok", res.Outcome, res.Err)
	}
	if res.Counts.Sent != 200 || res.Counts.Retries == 0 {
		t.Errorf("sent %d retries %d, want 200 and some retries", res.Counts.Sent, res.Counts.Retries)
	}
	if got := len(h.emulator.Accounts()); got != 200 {
		t.Errorf("emulator holds %d accounts, want 200", got)
	}

	h.emulator.SetFaults(emulator.Faults{})
	before := h.requests()
	if res := h.run(context.Background(), atlassync.RunOptions{}); res.Counts.Unchanged != 200 {
		t.Errorf("rerun unchanged = %d, want 200", res.Counts.Unchanged)
	}
	if got := h.requests() - before; got != 0 {
		t.Errorf("rerun made %d requests, want 0: the checkpoint must match what Atlas acknowledged", got)
	}
}

func TestRejectedRowsRecordedAndResentWhenChanged(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	h.writeAccounts(20, nil)
	h.emulator.SetFaults(emulator.Faults{FailExternalIDs: map[string]int{"ACC-00004": 422, "ACC-00009": 400}})

	res := h.run(context.Background(), atlassync.RunOptions{})
	if res.Outcome != atlassync.OutcomePartial {
		t.Fatalf("outcome = %s, want partial", res.Outcome)
	}
	if res.Counts.Rejected != 2 || res.Counts.Sent != 18 {
		t.Errorf("rejected %d sent %d, want 2 and 18", res.Counts.Rejected, res.Counts.Sent)
	}
	rejected, err := h.store.Rejected(context.Background(), "crm")
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 2 {
		t.Fatalf("checkpoint holds %d rejected rows, want 2", len(rejected))
	}
	statuses := map[string]int{}
	for _, r := range rejected {
		statuses[r.ExternalID] = r.Status
		if r.Position == "" {
			t.Errorf("rejected %s has no position", r.ExternalID)
		}
	}
	if statuses["ACC-00004"] != 422 || statuses["ACC-00009"] != 400 {
		t.Errorf("rejected statuses = %v", statuses)
	}

	// Unchanged rejected rows are not resent.
	h.emulator.SetFaults(emulator.Faults{})
	before := h.requests()
	res = h.run(context.Background(), atlassync.RunOptions{})
	if got := h.requests() - before; got != 0 {
		t.Errorf("rerun made %d requests, want 0 for unchanged rejected rows", got)
	}
	if res.Counts.Rejected != 2 || res.Counts.RejectedEarlier != 2 {
		t.Errorf("rejected %d, rejected earlier %d, want 2 and 2", res.Counts.Rejected, res.Counts.RejectedEarlier)
	}
	if res.Counts.Skipped != 0 {
		t.Errorf("skipped = %d, want 0", res.Counts.Skipped)
	}
	if res.Outcome != atlassync.OutcomePartial {
		t.Errorf("outcome = %s, want partial while the rejected rows are unchanged", res.Outcome)
	}

	// A change sends the row again, and the acknowledgement clears it.
	h.writeAccounts(20, map[int]string{4: "Fixed"})
	res = h.run(context.Background(), atlassync.RunOptions{})
	if res.Counts.Sent != 1 {
		t.Errorf("sent after the fix = %d, want 1", res.Counts.Sent)
	}
	rejected, _ = h.store.Rejected(context.Background(), "crm")
	if len(rejected) != 1 || rejected[0].ExternalID != "ACC-00009" {
		t.Errorf("rejected after the fix = %+v, want only ACC-00009", rejected)
	}
}

func TestWrongTokenStopsAtFirstResponse(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	h.writeAccounts(100, nil)
	h.settings.Workers = 1
	engine := h.newEngine("wrong-token", 2000, 50)

	res := engine.Run(context.Background(), h.job(), atlassync.RunOptions{})
	if res.Outcome != atlassync.OutcomeFailed {
		t.Fatalf("outcome = %s, want failed", res.Outcome)
	}
	if !errors.Is(res.Err, atlassync.ErrUnauthorized) {
		t.Errorf("err = %v, want ErrUnauthorized", res.Err)
	}
	if strings.Contains(res.Err.Error(), "wrong-token") {
		t.Errorf("error leaks the token: %v", res.Err)
	}
	if got := h.requests(); got != 1 {
		t.Errorf("requests = %d, want 1 with one worker", got)
	}
	if res.Counts.Sent != 0 {
		t.Errorf("sent = %d, want 0", res.Counts.Sent)
	}
}

func TestMissingColumnSendsNothing(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	h.writeAccounts(5, nil)
	job := h.job()
	job.Mapping.CustomFields["tier"] = config.Field{Column: "Tier", Type: "text", Empty: "leave"}

	res := h.engine.Run(context.Background(), job, atlassync.RunOptions{})
	if res.Outcome != atlassync.OutcomeFailed || !errors.Is(res.Err, atlassync.ErrConfig) {
		t.Fatalf("outcome %s err %v, want failed with ErrConfig", res.Outcome, res.Err)
	}
	if !strings.Contains(res.Err.Error(), "Tier") {
		t.Errorf("error does not name the missing column: %v", res.Err)
	}
	if got := h.requests(); got != 0 {
		t.Errorf("requests = %d, want 0", got)
	}
}

func TestDuplicateExternalIDSentOnce(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	content := "Id,Name,Website,Industry,AnnualRevenue\nA-1,First,a.example,X,1\nA-2,Second,b.example,X,2\nA-1,First again,a.example,Y,1\n"
	if err := os.WriteFile(h.csvPath, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	res := h.run(context.Background(), atlassync.RunOptions{})
	if res.Counts.Duplicate != 1 || res.Counts.Sent != 2 {
		t.Errorf("duplicate %d sent %d, want 1 and 2", res.Counts.Duplicate, res.Counts.Sent)
	}
	if got := h.emulator.Stats().Upserts["A-1"]; got != 1 {
		t.Errorf("A-1 upserts = %d, want 1", got)
	}
	if account, _ := h.emulator.Account("A-1"); account.Name != "First" {
		t.Errorf("A-1 name = %q, want the first row's", account.Name)
	}
}

func TestBudgetStopsAndNextRunContinues(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	h.writeAccounts(40, nil)
	h.settings.Workers = 1
	h.engine = h.newEngine(testToken, 2000, 50)
	job := h.job()
	job.MaxRequests = 15

	res := h.engine.Run(context.Background(), job, atlassync.RunOptions{})
	if res.Outcome != atlassync.OutcomeBudget || !errors.Is(res.Err, atlassync.ErrBudget) {
		t.Fatalf("outcome %s err %v, want budget", res.Outcome, res.Err)
	}
	if res.Counts.Sent != 15 || res.Unsent != 25 {
		t.Errorf("sent %d unsent %d, want 15 and 25", res.Counts.Sent, res.Unsent)
	}

	job.MaxRequests = 0
	res = h.engine.Run(context.Background(), job, atlassync.RunOptions{})
	if res.Outcome != atlassync.OutcomeOK || res.Counts.Sent != 25 || res.Counts.Unchanged != 15 {
		t.Errorf("second run %s sent %d unchanged %d, want ok, 25, 15", res.Outcome, res.Counts.Sent, res.Counts.Unchanged)
	}
	if got := h.requests(); got != 40 {
		t.Errorf("requests = %d, want 40 in all", got)
	}
}

func TestCancelMidwayThenRerunCompletes(t *testing.T) {
	h := newHarness(t, emulator.Options{Latency: 5 * time.Millisecond})
	h.writeAccounts(300, nil)

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the emulator has accepted some rows.
		for len(h.emulator.Accounts()) < 60 {
			time.Sleep(2 * time.Millisecond)
		}
		cancel()
	}()
	first := h.run(ctx, atlassync.RunOptions{})
	cancel()
	if first.Outcome != atlassync.OutcomeCanceled {
		t.Fatalf("outcome = %s (%v), want canceled", first.Outcome, first.Err)
	}
	if first.Counts.Sent == 0 || first.Counts.Sent == 300 {
		t.Fatalf("sent = %d, want a partial run", first.Counts.Sent)
	}
	// Every acknowledged row is in the checkpoint.
	index, err := h.store.LoadIndex(context.Background(), "crm")
	if err != nil {
		t.Fatal(err)
	}
	if int64(index.Len()) != first.Counts.Sent {
		t.Errorf("checkpoint holds %d rows, run acknowledged %d", index.Len(), first.Counts.Sent)
	}

	second := h.run(context.Background(), atlassync.RunOptions{})
	if second.Outcome != atlassync.OutcomeOK {
		t.Fatalf("second outcome = %s (%v)", second.Outcome, second.Err)
	}
	if first.Counts.Sent+second.Counts.Sent != 300 {
		t.Errorf("sent %d + %d, want 300 in all", first.Counts.Sent, second.Counts.Sent)
	}
	stats := h.emulator.Stats()
	if len(stats.Upserts) != 300 {
		t.Errorf("emulator has %d distinct accounts, want 300", len(stats.Upserts))
	}
	for id, n := range stats.Upserts {
		if n != 1 {
			t.Errorf("%s upserted %d times, want once", id, n)
		}
	}
}
