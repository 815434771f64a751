package postgres

import (
	"context"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/atlas-sync/atlas-sync/sources"
)

// millionRowsQuery produces rows shaped like CRM accounts without a table,
// so that the server need not store them.
const millionRowsQuery = `SELECT 'ACC-' || g AS id, 'Company ' || g AS name,
	'company' || g || '.example' AS domain, (g * 1000 + 0.5)::numeric AS revenue,
	timestamptz '2024-03-01 00:00:00Z' + g * interval '1 second' AS updated_at,
	ARRAY['EMEA', 'NA'] AS regions
	FROM generate_series(1, 1000000) AS g`

// TestStreamMillionRowsInBoundedMemory reads a million rows and samples the
// Go heap every 50,000 rows. Holding the whole result would take an
// estimated 300 MB (six values of about 50 bytes per row, plus the
// strings), while the source keeps one fetch batch.
func TestStreamMillionRowsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a million rows take a while; skipped with -short")
	}
	const maxHeapGrowth = 64 << 20
	db := newTestDB(t)
	ctx := context.Background()
	src := db.open(Options{Query: millionRowsQuery, KeyColumn: "id", CursorColumn: "updated_at"}, sources.OpenOptions{})

	runtime.GC()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	baseline := stats.HeapAlloc
	var peak uint64

	read := 0
	for {
		rec, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("row %d: %v", read+1, err)
		}
		read++
		if read%50_000 == 0 {
			runtime.ReadMemStats(&stats)
			peak = max(peak, stats.HeapAlloc)
			if len(rec.Values[5].List) != 2 {
				t.Fatalf("row %d regions = %#v, want two elements", read, rec.Values[5])
			}
		}
	}
	if read != 1_000_000 {
		t.Errorf("read %d rows, want 1,000,000", read)
	}
	if got := src.Cursor(); got != "2024-03-12T13:46:40Z" {
		t.Errorf("cursor = %q, want the last row's updated_at", got)
	}
	growth := int64(peak) - int64(baseline)
	t.Logf("heap: %d KiB before reading, %d KiB at the largest sample, growth %d KiB", baseline>>10, peak>>10, growth>>10)
	if growth > maxHeapGrowth {
		t.Errorf("the heap grew by %d MiB while streaming, want at most %d MiB", growth>>20, maxHeapGrowth>>20)
	}
}

// BenchmarkNext reads 100,000 generated rows per iteration and reports rows
// per second.
func BenchmarkNext(b *testing.B) {
	db := newTestDB(b)
	ctx := context.Background()
	query := "SELECT 'ACC-' || g AS id, 'Company ' || g AS name, (g * 1000 + 0.5)::numeric AS revenue, now() AS updated_at FROM generate_series(1, 100000) AS g"
	b.ReportAllocs()
	rows := 0
	for b.Loop() {
		src, err := Open(ctx, Options{DSN: db.dsn, Query: query, KeyColumn: "id"}, sources.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := src.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows++
		}
		src.Close()
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
