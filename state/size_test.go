package state

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestCheckpointBytesPerRow measures how much the file grows per account:
// 100,000 acks with 12-character external IDs in random order (the worst
// case for B-tree page fill) and a 36-character Atlas UUID each. The size
// is deterministic for a given SQLite version, so the bound is firm.
func TestCheckpointBytesPerRow(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	path := s.Path()
	const rows, batchSize = 100_000, 1000

	if err := s.SetCursor(ctx, "crm", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before := fileSize(t, path)

	s = openStoreAt(t, path)
	rng := rand.New(rand.NewPCG(1, 2))
	order := rng.Perm(rows)
	for start := 0; start < rows; start += batchSize {
		acks := make([]Ack, 0, batchSize)
		for _, n := range order[start : start+batchSize] {
			acks = append(acks, Ack{
				ExternalID: fmt.Sprintf("acct-%07d", n),
				Hash:       hashOf(fmt.Sprintf("%016d", n)),
				AtlasID:    fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n),
				SentAt:     time.Unix(1_700_000_000+int64(n), 0),
			})
		}
		if err := s.Record(ctx, "crm", acks, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Close checkpoints the WAL into the file and removes it.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	perRow := float64(fileSize(t, path)-before) / rows
	t.Logf("checkpoint grows by %.1f bytes per account (%d rows)", perRow, rows)
	if perRow >= 200 {
		t.Errorf("checkpoint grows by %.1f bytes per account, want < 200", perRow)
	}

	s = openStoreAt(t, path)
	ix, err := s.LoadIndex(ctx, "crm")
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != rows {
		t.Fatalf("index has %d entries, want %d", ix.Len(), rows)
	}
	for _, n := range []int{0, 1, 4242, rows - 1} {
		want := Entry{Hash: hashOf(fmt.Sprintf("%016d", n)), Acked: true}
		if got, ok := ix.Get(fmt.Sprintf("acct-%07d", n)); !ok || got != want {
			t.Errorf("Get(acct-%07d) = %+v, %v; want %+v", n, got, ok, want)
		}
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// TestIndexHeapForMillionEntries builds an Index of 1,000,000 accounts
// with 16-character IDs, a tenth of them also rejected, and measures the
// live heap it keeps.
func TestIndexHeapForMillionEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a million entries")
	}
	const entries = 1_000_000
	heapBefore := liveHeap()

	var b indexBuilder
	hash := make([]byte, 16)
	for n := range entries {
		id := fmt.Appendf(nil, "acct-%011d", n)
		if err := b.add(id, hash, true); err != nil {
			t.Fatal(err)
		}
		if n%10 == 0 {
			if err := b.add(id, hash, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	ix := b.finish()
	b = indexBuilder{} // drop the builder's copy of the IDs

	heap := liveHeap() - heapBefore
	t.Logf("index of %d entries keeps %.1f MB of heap (%.1f bytes per entry)",
		ix.Len(), float64(heap)/1e6, float64(heap)/entries)
	if heap > 150e6 {
		t.Errorf("index keeps %d bytes of heap, want < 150 MB", heap)
	}
	if _, ok := ix.Get("acct-00000999999"); !ok || ix.Len() != entries {
		t.Errorf("index has %d entries and lacks the last one", ix.Len())
	}
	runtime.KeepAlive(ix)
}

func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestLoadIndexQueryPlanAvoidsSort checks that SQLite merges the two
// primary-key scans instead of sorting every row in a temporary B-tree.
func TestLoadIndexQueryPlanAvoidsSort(t *testing.T) {
	s := openTestStore(t)
	rows, err := s.db.Query(`EXPLAIN QUERY PLAN
		SELECT external_id, hash, 1 AS acked FROM checkpoint WHERE job_id = ?1
		UNION ALL
		SELECT external_id, hash, 0 AS acked FROM rejected WHERE job_id = ?1
		ORDER BY external_id`, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()

	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(plan, "; ")
	t.Logf("plan: %s", joined)
	if strings.Contains(joined, "TEMP B-TREE") {
		t.Errorf("LoadIndex query sorts in a temporary B-tree: %s", joined)
	}
}
