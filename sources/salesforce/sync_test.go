package salesforce_test

import (
	"archive/zip"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/atlas/emulator"
	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/sources"
	"github.com/atlas-sync/atlas-sync/sources/salesforce"
	"github.com/atlas-sync/atlas-sync/state"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testToken = "test-token-sf-41d7"

// presetFields are the Atlas custom fields the preset writes, defined in
// the emulator so that it rejects a value of the wrong shape.
var presetFields = map[string]emulator.FieldDef{
	"account_type":     {Type: "text"},
	"annual_revenue":   {Type: "decimal"},
	"billing_address":  {Type: "address"},
	"description":      {Type: "text"},
	"employees":        {Type: "number"},
	"industry":         {Type: "text"},
	"phone":            {Type: "text"},
	"shipping_address": {Type: "address"},
}

// harness joins the real engine, a SQLite checkpoint and the emulator over
// loopback HTTP, with a salesforce job reading dir through the preset.
type harness struct {
	t        *testing.T
	emulator *emulator.Server
	engine   *atlassync.Engine
	store    *state.Store
	path     string // the job's source.path
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	emu := emulator.New(emulator.Options{Token: testToken, CustomFields: presetFields})
	server := httptest.NewServer(emu)
	t.Cleanup(server.Close)

	store, err := state.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatalf("open state: %v", err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("close state: %v", err)
		}
	})

	client, err := atlas.NewClient(atlas.Options{BaseURL: server.URL, Token: testToken, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	settings := atlassync.Settings{
		Workers:           4,
		MaxRetries:        3,
		RetryBaseDelay:    time.Millisecond,
		RetryMaxDelay:     10 * time.Millisecond,
		RateLimitPatience: time.Minute,
		BatchSize:         50,
		FlushInterval:     10 * time.Millisecond,
		ShutdownGrace:     5 * time.Second,
	}
	logger := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	engine := atlassync.NewEngine(store, client, atlas.NewThrottle(2000, 50), settings, logger, nil)
	return &harness{t: t, emulator: emu, engine: engine, store: store}
}

// run syncs h.path once with the preset mapping, as the CLI wires a
// salesforce job without a mapping.
func (h *harness) run() atlassync.Result {
	h.t.Helper()
	path := h.path
	job := atlassync.Job{
		Name: "salesforce",
		Open: func(ctx context.Context, _ sources.OpenOptions) (sources.Source, error) {
			return salesforce.Open(ctx, salesforce.Options{Path: path, FillMissing: salesforce.PresetColumns()})
		},
		Mapping: salesforce.MergeMapping(salesforce.PresetMapping(), config.Mapping{}),
	}
	res := h.engine.Run(context.Background(), job, atlassync.RunOptions{})
	if res.Outcome != atlassync.OutcomeOK {
		h.t.Fatalf("run outcome = %s (%v), want ok", res.Outcome, res.Err)
	}
	return res
}

// copyExport writes the two-part Data Export of the fixture directory week
// into dir, with Account.csv in part accountPart, and dates the archives.
func copyExport(t *testing.T, dir, week string, accountPart int, modTime time.Time) {
	t.Helper()
	files := []string{"Contact.csv", "Account.csv"}
	if accountPart == 1 {
		files = []string{"Account.csv", "Contact.csv"}
	}
	for i, name := range files {
		raw, err := os.ReadFile(filepath.Join("../../testdata/salesforce", week, name))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, fmt.Sprintf("WE_00D5g000004XyZaEAK_%d.ZIP", i+1))
		writeZIP(t, path, name, raw)
		if err := os.Chtimes(path, modTime, modTime); err != nil {
			t.Fatal(err)
		}
	}
}

func writeZIP(t *testing.T, path, name string, content []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := zip.NewWriter(file)
	entry, err := w.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := entry.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSyncWeeklyExportsSendsOnlyChanges(t *testing.T) {
	h := newHarness(t)
	h.path = t.TempDir()
	copyExport(t, filepath.Join(h.path, "2026-11-16"), "export-2026-11-16", 2, time.Date(2026, 11, 16, 6, 0, 0, 0, time.UTC))

	first := h.run()

	if first.Counts.Read != 10 || first.Counts.Sent != 9 || first.Counts.Skipped != 1 || first.Counts.Created != 9 {
		t.Errorf("first run read %d sent %d skipped %d created %d, want 10, 9, 1, 9",
			first.Counts.Read, first.Counts.Sent, first.Counts.Skipped, first.Counts.Created)
	}
	if got := len(h.emulator.Accounts()); got != 9 {
		t.Errorf("emulator holds %d accounts, want 9", got)
	}
	if _, ok := h.emulator.Account("0015g00000MNopQAAT"); ok {
		t.Error("the recycle-bin account 0015g00000MNopQAAT reached Atlas")
	}
	bellwether, ok := h.emulator.Account("0015g00000bK7mZAAS")
	if !ok {
		t.Fatal("0015g00000bK7mZAAS missing in the emulator")
	}
	if bellwether.Name != "Bellwether Freight" {
		t.Errorf("name = %q", bellwether.Name)
	}
	if got := bellwether.Fields["domain"]; got != "www.bellwether.example" {
		t.Errorf("domain = %v", got)
	}
	wantCustom := map[string]any{
		"account_type":   "Customer - Channel",
		"annual_revenue": 48000000.5,
		"description":    "Freight forwarder.\nTwo depots: Leeds and Hull.\n\"Priority\" lane customer.",
		"employees":      420.0,
		"industry":       "Transportation",
		"phone":          "(217) 555-0101",
		"billing_address": map[string]any{
			"street1": "101 Market Street", "city": "Springfield", "state": "IL", "zipCode": "62701", "country": "United States",
		},
		"shipping_address": map[string]any{
			"street1": "101 Market Street", "city": "Springfield", "state": "IL", "zipCode": "62701", "country": "United States",
		},
	}
	if !reflect.DeepEqual(bellwether.CustomFields, wantCustom) {
		t.Errorf("customFields = %#v\nwant %#v", bellwether.CustomFields, wantCustom)
	}
	emberline, _ := h.emulator.Account("0015g00000Bc2ReAAJ")
	if got := emberline.CustomFields["billing_address"].(map[string]any)["street1"]; got != "Unit 4, Mill Yard\n12 Weaver Lane" {
		t.Errorf("multi-line street1 = %q", got)
	}

	// The next week's export: one revenue and one description changed, one
	// account moved to the recycle bin, one account added.
	copyExport(t, filepath.Join(h.path, "2026-11-23"), "export-2026-11-23", 1, time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC))
	before := h.emulator.Stats()

	second := h.run()

	after := h.emulator.Stats()
	if got := after.Requests - before.Requests; got != 3 {
		t.Errorf("second run made %d requests, want 3", got)
	}
	if second.Counts.Read != 11 || second.Counts.Sent != 3 || second.Counts.Unchanged != 6 || second.Counts.Skipped != 2 {
		t.Errorf("second run read %d sent %d unchanged %d skipped %d, want 11, 3, 6, 2",
			second.Counts.Read, second.Counts.Sent, second.Counts.Unchanged, second.Counts.Skipped)
	}
	if second.Counts.Created != 1 || second.Counts.Updated != 2 {
		t.Errorf("second run created %d updated %d, want 1 and 2", second.Counts.Created, second.Counts.Updated)
	}
	for id, want := range map[string]int{"0015g00000QrST9AAN": 2, "0015g00000Bc2ReAAJ": 2, "0015g00000Fg6VlAAJ": 1, "0015g00000Ab1QxAAJ": 1, "0015g00000kD8wYAAS": 1} {
		if got := after.Upserts[id]; got != want {
			t.Errorf("%s upserts = %d, want %d", id, got, want)
		}
	}
	cinderfield, _ := h.emulator.Account("0015g00000QrST9AAN")
	if got := cinderfield.CustomFields["annual_revenue"]; got != 3400000.0 {
		t.Errorf("changed annual_revenue = %v, want 3400000", got)
	}
	if got := len(h.emulator.Accounts()); got != 10 {
		t.Errorf("emulator holds %d accounts, want 10: Atlas has no delete, so the account moved to the recycle bin stays", got)
	}

	before = h.emulator.Stats()
	third := h.run()
	if got := h.emulator.Stats().Requests - before.Requests; got != 0 || third.Counts.Unchanged != 9 {
		t.Errorf("third run made %d requests with %d unchanged, want 0 and 9", got, third.Counts.Unchanged)
	}
}

func TestSyncFifteenCharacterIDsKeepOneAccount(t *testing.T) {
	h := newHarness(t)
	h.path = t.TempDir()
	copyExport(t, h.path, "export-2026-11-16", 2, time.Date(2026, 11, 16, 6, 0, 0, 0, time.UTC))
	h.run()

	// A Data Loader extract of the same data, with 15-character IDs.
	h.path = "../../testdata/salesforce/dataloader/Account.csv"
	before := h.emulator.Stats().Requests
	res := h.run()

	if got := h.emulator.Stats().Requests - before; got != 0 {
		t.Errorf("the 15-character extract made %d requests, want 0", got)
	}
	if res.Counts.Unchanged != 9 || res.Counts.Skipped != 1 {
		t.Errorf("unchanged %d skipped %d, want 9 and 1", res.Counts.Unchanged, res.Counts.Skipped)
	}
	if got := len(h.emulator.Accounts()); got != 9 {
		t.Errorf("emulator holds %d accounts, want 9", got)
	}
}
