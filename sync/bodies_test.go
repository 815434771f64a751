package sync_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	stdsync "sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/mapping"
	"github.com/atlas-sync/atlas-sync/sources"
	csvsource "github.com/atlas-sync/atlas-sync/sources/csv"
	"github.com/atlas-sync/atlas-sync/state"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// recordingUpserter acknowledges every request and keeps its body.
type recordingUpserter struct {
	mu     stdsync.Mutex
	bodies [][]byte
}

func (u *recordingUpserter) Upsert(_ context.Context, body []byte) (atlas.UpsertResult, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.bodies = append(u.bodies, append([]byte(nil), body...))
	return atlas.UpsertResult{Status: 200}, nil
}

func (u *recordingUpserter) take() map[string]bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	sent := make(map[string]bool, len(u.bodies))
	for _, body := range u.bodies {
		sent[string(body)] = true
	}
	u.bodies = nil
	return sent
}

// expectedBodies maps every record of the CSV file with Mapper.Map.
func expectedBodies(t *testing.T, path string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	src, err := csvsource.Open(ctx, csvsource.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	mapper, err := mapping.New(testMapping(), src.Columns())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for {
		rec, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return want
		}
		if err != nil {
			t.Fatal(err)
		}
		payload, err := mapper.Map(rec)
		if err != nil {
			t.Fatal(err)
		}
		want[string(payload.Body)] = true
	}
}

// TestSentBodiesSurviveBatchReuse sends more rows than the reader's
// batches hold, so that batches and their body buffers are reused while
// earlier bodies wait for a worker, and checks every body that arrives.
func TestSentBodiesSurviveBatchReuse(t *testing.T) {
	const rows = 20_000
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "accounts.csv")
	write := func(version string, changedEvery int) {
		t.Helper()
		content := []byte("Id,Name,Website,Industry,AnnualRevenue\n")
		for i := 1; i <= rows; i++ {
			industry := "Manufacturing"
			if changedEvery > 0 && i%changedEvery == 0 {
				industry = "Retail " + version
			}
			content = fmt.Appendf(content, "ACC-%06d,Company %d,company%d.example,%s,%d.50\n", i, i, i, industry, i*1000)
		}
		if err := os.WriteFile(csvPath, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	ctx := context.Background()
	store, err := state.Open(ctx, filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	upserter := &recordingUpserter{}
	settings := atlassync.Settings{Workers: 4, BatchSize: 200, FlushInterval: 10 * time.Millisecond, ShutdownGrace: time.Second}
	engine := atlassync.NewEngine(store, upserter, atlas.NewThrottle(0, 1), settings, zap.NewNop(), nil)
	job := atlassync.Job{
		Name: "crm",
		Open: func(ctx context.Context, _ sources.OpenOptions) (sources.Source, error) {
			return csvsource.Open(ctx, csvsource.Options{Path: csvPath})
		},
		Mapping: testMapping(),
	}

	// The first run sends every row; the second, against the index
	// snapshot the first wrote, the tenth that changed.
	for _, step := range []struct {
		version      string
		changedEvery int
		wantSent     int
	}{{"v1", 0, rows}, {"v2", 10, rows / 10}} {
		write(step.version, step.changedEvery)
		res := engine.Run(ctx, job, atlassync.RunOptions{})
		if res.Err != nil || res.Counts.Sent != int64(step.wantSent) {
			t.Fatalf("run %s sent %d rows, want %d (%s, %v)", step.version, res.Counts.Sent, step.wantSent, res.Outcome, res.Err)
		}
		sent := upserter.take()
		want := expectedBodies(t, csvPath)
		if len(sent) != step.wantSent {
			t.Errorf("run %s: %d distinct bodies arrived, want %d", step.version, len(sent), step.wantSent)
		}
		for body := range sent {
			if !want[body] {
				t.Fatalf("run %s sent a body that no row maps to: %s", step.version, body)
			}
		}
	}
}
