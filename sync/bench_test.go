package sync_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/sources"
	csvsource "github.com/atlas-sync/atlas-sync/sources/csv"
	"github.com/atlas-sync/atlas-sync/state"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// acceptingUpserter acknowledges every request at once and counts them.
type acceptingUpserter struct{ calls atomic.Int64 }

func (u *acceptingUpserter) Upsert(context.Context, []byte) (atlas.UpsertResult, error) {
	u.calls.Add(1)
	return atlas.UpsertResult{Status: 200}, nil
}

// BenchmarkDiffPass runs the engine over 100,000 rows whose checkpoint is
// up to date: reading, mapping, hashing and the diff, with nothing to
// send. cmd/atlas-bench measures the same pass over a million rows against
// bare encoding/csv.
func BenchmarkDiffPass(b *testing.B) {
	const rows = 100_000
	dir := b.TempDir()
	csvPath := filepath.Join(dir, "accounts.csv")
	var content strings.Builder
	content.WriteString("Id,Name,Website,Industry,AnnualRevenue\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&content, "ACC-%07d,Company %d,company%d.example,Manufacturing,%d.50\n", i, i, i, i*1000)
	}
	if err := os.WriteFile(csvPath, []byte(content.String()), 0o600); err != nil {
		b.Fatal(err)
	}

	ctx := context.Background()
	store, err := state.Open(ctx, filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	upserter := &acceptingUpserter{}
	settings := atlassync.Settings{Workers: 4, BatchSize: 200, FlushInterval: 250 * time.Millisecond, ShutdownGrace: time.Second}
	engine := atlassync.NewEngine(store, upserter, atlas.NewThrottle(0, 1), settings, zap.NewNop(), nil)
	job := atlassync.Job{
		Name: "crm",
		Open: func(ctx context.Context, _ sources.OpenOptions) (sources.Source, error) {
			return csvsource.Open(ctx, csvsource.Options{Path: csvPath})
		},
		Mapping: testMapping(),
	}
	if res := engine.Run(ctx, job, atlassync.RunOptions{}); res.Counts.Sent != rows {
		b.Fatalf("first run sent %d rows, want %d (%v)", res.Counts.Sent, rows, res.Err)
	}
	sent := upserter.calls.Load()

	b.SetBytes(int64(content.Len()))
	b.ReportAllocs()
	for b.Loop() {
		res := engine.Run(ctx, job, atlassync.RunOptions{})
		if res.Counts.Unchanged != rows {
			b.Fatalf("unchanged %d, want %d (%s, %v)", res.Counts.Unchanged, rows, res.Outcome, res.Err)
		}
	}
	if upserter.calls.Load() != sent {
		b.Errorf("the up-to-date runs sent %d requests, want none", upserter.calls.Load()-sent)
	}
	b.ReportMetric(float64(b.N)*rows/b.Elapsed().Seconds(), "rows/s")
}
