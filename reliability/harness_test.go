package reliability

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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

const token = "rel-token-Q4v8Zt2m"

// soak reports whether the long versions run (make soak).
func soak() bool {
	return os.Getenv("ATLAS_SYNC_SOAK") != ""
}

// account is one source row: the latest data the emulator must end with.
type account struct {
	id, name, tier string
}

// generation builds n accounts; version changes the tier of every
// changeEvery-th account, so that a later generation is a set of changes.
func generation(n, version, changeEvery int) []account {
	accounts := make([]account, n)
	for i := range accounts {
		tier := "standard"
		if version > 0 && changeEvery > 0 && i%changeEvery == 0 {
			tier = "premium-v" + strconv.Itoa(version)
		}
		accounts[i] = account{id: fmt.Sprintf("R-%06d", i+1), name: fmt.Sprintf("Company %d", i+1), tier: tier}
	}
	return accounts
}

func writeCSV(t testing.TB, path string, accounts []account) {
	t.Helper()
	var b strings.Builder
	b.WriteString("Id,Name,Tier\n")
	for _, a := range accounts {
		fmt.Fprintf(&b, "%s,%s,%s\n", a.id, a.name, a.tier)
	}
	// Write and rename, so that a reader never sees a half-written file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// missingOrStale returns the accounts the emulator lacks or holds with
// other data than the source's latest.
func missingOrStale(emu *emulator.Server, accounts []account) []string {
	var bad []string
	for _, a := range accounts {
		got, ok := emu.Account(a.id)
		if !ok || got.Name != a.name || fmt.Sprint(got.CustomFields["tier"]) != a.tier {
			bad = append(bad, a.id)
		}
	}
	return bad
}

// repeatedUpserts sums, over every externalId, the upserts beyond the
// expected count.
func repeatedUpserts(stats emulator.Stats, expected map[string]int) int {
	repeated := 0
	for id, n := range stats.Upserts {
		if n > expected[id] {
			repeated += n - expected[id]
		}
	}
	return repeated
}

func reliabilityMapping() config.Mapping {
	trim := true
	return config.Mapping{
		ExternalID: "Id",
		Name:       "Name",
		TrimSpace:  &trim,
		CustomFields: map[string]config.Field{
			"tier": {Column: "Tier", Type: "text", Empty: "leave"},
		},
	}
}

// engineEnv is an in-process engine on a real SQLite file, talking over
// loopback HTTP to a server whose handler the test chooses.
type engineEnv struct {
	t        *testing.T
	emulator *emulator.Server
	server   *httptest.Server
	store    *state.Store
	csvPath  string
	settings atlassync.Settings
	timeout  time.Duration
	logger   *zap.Logger
}

func newEngineEnv(t *testing.T, emu *emulator.Server, server *httptest.Server) *engineEnv {
	t.Helper()
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
	return &engineEnv{
		t:        t,
		emulator: emu,
		server:   server,
		store:    store,
		csvPath:  filepath.Join(dir, "accounts.csv"),
		timeout:  2 * time.Second,
		logger:   zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)),
		settings: atlassync.Settings{
			Workers:           4,
			MaxRetries:        10,
			RetryBaseDelay:    time.Millisecond,
			RetryMaxDelay:     20 * time.Millisecond,
			RateLimitPatience: time.Minute,
			BatchSize:         50,
			FlushInterval:     10 * time.Millisecond,
			ShutdownGrace:     5 * time.Second,
		},
	}
}

func (e *engineEnv) run(ctx context.Context) atlassync.Result {
	e.t.Helper()
	client, err := atlas.NewClient(atlas.Options{BaseURL: e.server.URL, Token: token, Timeout: e.timeout})
	if err != nil {
		e.t.Fatalf("new client: %v", err)
	}
	defer client.CloseIdleConnections()
	engine := atlassync.NewEngine(e.store, client, atlas.NewThrottle(2000, 50), e.settings, e.logger, nil)
	path := e.csvPath
	job := atlassync.Job{
		Name: "crm",
		Open: func(ctx context.Context, _ sources.OpenOptions) (sources.Source, error) {
			return csvsource.Open(ctx, csvsource.Options{Path: path, Delimiter: ','})
		},
		Mapping: reliabilityMapping(),
	}
	return engine.Run(ctx, job, atlassync.RunOptions{})
}

// checkpointLen returns the number of acknowledged rows in the checkpoint.
func (e *engineEnv) checkpointLen() int {
	e.t.Helper()
	index, err := e.store.LoadIndex(context.Background(), "crm")
	if err != nil {
		e.t.Fatal(err)
	}
	return index.Len()
}
