package state

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// benchAccounts is the checkpoint size of the index benchmarks. The
// end-to-end figures for a million accounts come from cmd/atlas-bench.
const benchAccounts = 100_000

// benchStore returns a store whose job "crm" has benchAccounts checkpoint
// rows, and the external IDs in a random order for lookups.
func benchStore(b *testing.B) (*Store, []string) {
	b.Helper()
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir()+"/state.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })

	ids := make([]string, benchAccounts)
	acks := make([]Ack, 0, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("CRM-%07d", i)
		acks = append(acks, Ack{ExternalID: ids[i], Hash: hashOf(ids[i]), SentAt: time.Unix(1_700_000_000, 0)})
		if len(acks) == cap(acks) {
			if err := s.Record(ctx, "crm", acks, nil); err != nil {
				b.Fatal(err)
			}
			acks = acks[:0]
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return s, ids
}

// BenchmarkLoadIndex loads the whole checkpoint of one job, as every run
// does before its diff.
func BenchmarkLoadIndex(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ix, err := s.LoadIndex(ctx, "crm")
		if err != nil {
			b.Fatal(err)
		}
		if ix.Len() != benchAccounts {
			b.Fatalf("Len = %d, want %d", ix.Len(), benchAccounts)
		}
	}
	b.ReportMetric(float64(b.N)*benchAccounts/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkLoadIndexSnapshot loads the same checkpoint from its index
// snapshot, with 1% of the accounts changed since the snapshot was written.
func BenchmarkLoadIndexSnapshot(b *testing.B) {
	s, ids := benchStore(b)
	ctx := context.Background()
	if wrote, err := s.RefreshIndexSnapshot(ctx, "crm"); err != nil || !wrote {
		b.Fatalf("RefreshIndexSnapshot = %v, %v", wrote, err)
	}
	acks := make([]Ack, 0, benchAccounts/100)
	for _, id := range ids[:benchAccounts/100] {
		acks = append(acks, Ack{ExternalID: id, Hash: hashOf("changed " + id), SentAt: time.Unix(1_700_000_100, 0)})
	}
	if err := s.Record(ctx, "crm", acks, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ix, err := s.LoadIndex(ctx, "crm")
		if err != nil {
			b.Fatal(err)
		}
		if ix.Len() != benchAccounts {
			b.Fatalf("Len = %d, want %d", ix.Len(), benchAccounts)
		}
	}
	b.ReportMetric(float64(b.N)*benchAccounts/b.Elapsed().Seconds(), "rows/s")
}

// The three lookup strategies for the diff, per looked-up account: a
// preloaded Index, one prepared point query per row, and one query per
// batch of 500 IDs.

// BenchmarkLookupIndex looks accounts up in a preloaded Index.
func BenchmarkLookupIndex(b *testing.B) {
	s, ids := benchStore(b)
	ix, err := s.LoadIndex(context.Background(), "crm")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := ix.Get(ids[i%len(ids)]); !ok {
			b.Fatal("not found")
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkLookupPointQuery runs one prepared SELECT per account.
func BenchmarkLookupPointQuery(b *testing.B) {
	s, ids := benchStore(b)
	ctx := context.Background()
	jobID, err := s.lookupJob(ctx, "crm")
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := s.db.PrepareContext(ctx, "SELECT hash FROM checkpoint WHERE job_id = ? AND external_id = ?")
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	b.ReportAllocs()
	i := 0
	var hash []byte
	for b.Loop() {
		if err := stmt.QueryRowContext(ctx, jobID, ids[i%len(ids)]).Scan(&hash); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkLookupBatchedQuery runs one SELECT ... IN (...) per 500
// accounts; b.N counts accounts.
func BenchmarkLookupBatchedQuery(b *testing.B) {
	const batch = 500
	s, ids := benchStore(b)
	ctx := context.Background()
	jobID, err := s.lookupJob(ctx, "crm")
	if err != nil {
		b.Fatal(err)
	}
	query := "SELECT external_id, hash FROM checkpoint WHERE job_id = ? AND external_id IN (?" +
		strings.Repeat(", ?", batch-1) + ")"
	stmt, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	args := make([]any, batch+1)
	args[0] = jobID
	b.ReportAllocs()
	looked := 0
	for looked < b.N {
		for k := 1; k <= batch; k++ {
			args[k] = ids[(looked+k)%len(ids)]
		}
		rows, err := stmt.QueryContext(ctx, args...)
		if err != nil {
			b.Fatal(err)
		}
		found := 0
		for rows.Next() {
			found++
		}
		if err := rows.Close(); err != nil {
			b.Fatal(err)
		}
		if found != batch {
			b.Fatalf("found %d of %d", found, batch)
		}
		looked += batch
	}
	b.ReportMetric(float64(looked)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkRecordAcks records acks in batches of 200, as the checkpoint
// writer does, for a job without an index snapshot and for one whose
// snapshot makes the triggers list every changed account; b.N counts acks.
func BenchmarkRecordAcks(b *testing.B) {
	for _, withSnapshot := range []bool{false, true} {
		name := "without snapshot"
		if withSnapshot {
			name = "with snapshot"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, b.TempDir()+"/state.db", Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if withSnapshot {
				s.minSnapshotEntries = 1
				if err := s.Record(ctx, "crm", []Ack{{ExternalID: "seed", Hash: hashOf("seed"), SentAt: time.Unix(1_700_000_000, 0)}}, nil); err != nil {
					b.Fatal(err)
				}
				if wrote, err := s.RefreshIndexSnapshot(ctx, "crm"); err != nil || !wrote {
					b.Fatalf("RefreshIndexSnapshot = %v, %v", wrote, err)
				}
			}
			acks := make([]Ack, 0, 200)
			recorded := 0
			for recorded < b.N {
				acks = acks[:0]
				for range min(200, b.N-recorded) {
					id := fmt.Sprintf("CRM-%08d", recorded)
					acks = append(acks, Ack{ExternalID: id, Hash: hashOf(id), AtlasID: "3f2504e0-4f89-41d3-9a0c-0305e82c3301", SentAt: time.Unix(1_700_000_000, 0)})
					recorded++
				}
				if err := s.Record(ctx, "crm", acks, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
