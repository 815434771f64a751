package state

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// snapshotCrashEnv makes the test binary act as a process that changes a
// state file and is killed half way: see runSnapshotCrash.
// snapshotCrashStepEnv names the step at which it waits.
const (
	snapshotCrashEnv     = "ATLAS_SYNC_STATE_TEST_SNAPSHOT_CRASH"
	snapshotCrashStepEnv = "ATLAS_SYNC_STATE_TEST_SNAPSHOT_STEP"
)

// runSnapshotCrash opens the state file, whose job "crm" has a snapshot,
// changes it as step selects, prints "ready" and waits to be killed:
//
//   - "after-rows": commits acks, a rejection and a deleted rejection
//     after the snapshot, and writes no new snapshot;
//   - "in-rows": leaves a transaction of acks uncommitted;
//   - "in-snapshot": commits acks, then leaves uncommitted a transaction
//     that replaces the snapshot with the index from before those acks
//     and clears the change list.
func runSnapshotCrash(path, step string) int {
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := changeBeforeCrash(ctx, s, step); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	// The parent kills this process; a bare select{} would end it with
	// Go's deadlock detector instead.
	time.Sleep(time.Hour)
	return 1
}

func changeBeforeCrash(ctx context.Context, s *Store, step string) error {
	sentAt := time.Unix(1_700_000_100, 0)
	changed := []Ack{
		{ExternalID: "acct-0003", Hash: hashOf("changed-3"), SentAt: sentAt},
		{ExternalID: "acct-9999", Hash: hashOf("new-9999"), SentAt: sentAt},
		{ExternalID: "acct-0001", Hash: hashOf("after-rejection-1"), SentAt: sentAt}, // deletes its rejection
	}
	switch step {
	case "after-rows":
		rejection := Rejection{ExternalID: "acct-0004", Hash: hashOf("rejected-4"), Status: 422, Message: "invalid", Position: "f:5", At: sentAt}
		return s.Record(ctx, "crm", changed, []Rejection{rejection})
	case "in-rows":
		jobID, err := s.lookupJob(ctx, "crm")
		if err != nil {
			return err
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		return recordAcks(ctx, tx, jobID, changed)
	case "in-snapshot":
		stale, err := s.LoadIndex(ctx, "crm")
		if err != nil {
			return err
		}
		if err := s.Record(ctx, "crm", changed, nil); err != nil {
			return err
		}
		jobID, err := s.lookupJob(ctx, "crm")
		if err != nil {
			return err
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM index_snapshot_chunks WHERE job_id = ?", jobID); err != nil {
			return err
		}
		if err := insertSnapshot(ctx, tx, jobID, stale.Len(), encodeIndex(stale)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM index_changes WHERE job_id = ?", jobID)
		return err
	}
	return fmt.Errorf("unknown step %q", step)
}

// seedSnapshotJob records 200 acks and 10 rejections for job "crm" and
// writes its snapshot.
func seedSnapshotJob(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	s.minSnapshotEntries = 1
	sentAt := time.Unix(1_700_000_000, 0)
	var acks []Ack
	for i := range 200 {
		acks = append(acks, Ack{ExternalID: fmt.Sprintf("acct-%04d", i), Hash: hashOf(fmt.Sprintf("hash-%d", i)), SentAt: sentAt})
	}
	var rejections []Rejection
	for i := range 10 {
		rejections = append(rejections, Rejection{
			ExternalID: fmt.Sprintf("acct-%04d", i*3+1), Hash: hashOf(fmt.Sprintf("bad-%d", i)),
			Status: 422, Message: "invalid", Position: "f:1", At: sentAt,
		})
	}
	if err := s.Record(ctx, "crm", acks, rejections); err != nil {
		t.Fatal(err)
	}
	wrote, err := s.RefreshIndexSnapshot(ctx, "crm")
	if err != nil || !wrote {
		t.Fatalf("RefreshIndexSnapshot = %v, %v; want a new snapshot", wrote, err)
	}
}

// scannedIndex reads the job's index from its rows, ignoring any snapshot.
func scannedIndex(t *testing.T, s *Store, job string) *Index {
	t.Helper()
	ctx := context.Background()
	jobID, err := s.lookupJob(ctx, job)
	if errors.Is(err, errNoJob) {
		return &Index{}
	}
	if err != nil {
		t.Fatal(err)
	}
	var ix *Index
	err = s.withReadTx(ctx, func(q querier) error {
		var err error
		ix, err = scanIndex(ctx, q, jobID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

// assertSameIndex fails unless got and want hold the same accounts in
// the same layout.
func assertSameIndex(t *testing.T, got, want *Index) {
	t.Helper()
	if got.ids != want.ids {
		t.Errorf("IDs differ: got %d bytes, want %d", len(got.ids), len(want.ids))
	}
	if !slices.Equal(got.ends, want.ends) {
		t.Errorf("end offsets differ: got %d entries, want %d", len(got.ends), len(want.ends))
	}
	if !slices.Equal(got.hashes, want.hashes) {
		t.Error("acknowledged hashes differ")
	}
	if !slices.Equal(got.acked, want.acked) {
		t.Error("acked flags differ")
	}
	if !slices.Equal(got.rejectedAt, want.rejectedAt) {
		t.Errorf("rejected positions differ: got %v, want %v", got.rejectedAt, want.rejectedAt)
	}
	if !slices.Equal(got.rejectedHashes, want.rejectedHashes) {
		t.Error("rejected hashes differ")
	}
}

// assertIndexMatchesRows checks that LoadIndex returns what a scan of the
// rows returns.
func assertIndexMatchesRows(t *testing.T, s *Store, job string) *Index {
	t.Helper()
	ix, err := s.LoadIndex(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	assertSameIndex(t, ix, scannedIndex(t, s, job))
	return ix
}

func snapshotMetaOf(t *testing.T, s *Store, job string) snapshotMeta {
	t.Helper()
	ctx := context.Background()
	jobID, err := s.lookupJob(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := readSnapshotMeta(ctx, s.db, jobID)
	if err != nil {
		t.Fatal(err)
	}
	return meta
}

func TestSnapshotEncodeRoundTrip(t *testing.T) {
	s := openTestStore(t)
	seedSnapshotJob(t, s)
	ix := scannedIndex(t, s, "crm")

	data := encodeIndex(ix)
	decoded, err := decodeBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	assertSameIndex(t, decoded, ix)

	// A reader that returns one byte at a time splits every section.
	decoded, err = decodeIndex(iotest.OneByteReader(bytes.NewReader(data)), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	assertSameIndex(t, decoded, ix)

	empty, err := decodeBytes(encodeIndex(&Index{}))
	if err != nil || empty.Len() != 0 {
		t.Errorf("decode of an empty index = %d entries, %v; want 0, nil", empty.Len(), err)
	}
}

func TestSnapshotDecodeRejectsDamage(t *testing.T) {
	s := openTestStore(t)
	seedSnapshotJob(t, s)
	data := encodeIndex(scannedIndex(t, s, "crm"))

	for _, at := range []int{0, 5, 13, len(data) / 2, len(data) - 1} {
		damaged := slices.Clone(data)
		damaged[at] ^= 0x40
		if _, err := decodeBytes(damaged); !errors.Is(err, errBadSnapshot) {
			t.Errorf("byte %d flipped: error %v, want errBadSnapshot", at, err)
		}
	}
	for _, size := range []int{0, 15, len(data) - 1} {
		if _, err := decodeBytes(data[:size]); !errors.Is(err, errBadSnapshot) {
			t.Errorf("cut to %d bytes: error %v, want errBadSnapshot", size, err)
		}
		if _, err := decodeIndex(bytes.NewReader(data[:size]), int64(len(data))); !errors.Is(err, errBadSnapshot) {
			t.Errorf("%d of %d bytes stored: error %v, want errBadSnapshot", size, len(data), err)
		}
	}
	if _, err := decodeIndex(bytes.NewReader(append(slices.Clone(data), 0)), int64(len(data))); !errors.Is(err, errBadSnapshot) {
		t.Errorf("a byte after the checksum: error %v, want errBadSnapshot", err)
	}

	// A valid checksum over end offsets that run backwards.
	bad := &Index{ids: "ab", ends: []uint32{2, 1}, hashes: make([]Hash, 2), acked: []bool{true, true}}
	if _, err := decodeBytes(encodeIndex(bad)); !errors.Is(err, errBadSnapshot) {
		t.Errorf("offsets out of order: error %v, want errBadSnapshot", err)
	}
}

// decodeBytes decodes a snapshot held in memory.
func decodeBytes(data []byte) (*Index, error) {
	return decodeIndex(bytes.NewReader(data), int64(len(data)))
}

func TestSnapshotSpansChunks(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	const accounts = 20_000
	acks := make([]Ack, 0, accounts)
	for i := range accounts {
		acks = append(acks, Ack{ExternalID: fmt.Sprintf("acct-%06d", i), Hash: hashOf(fmt.Sprint(i)), SentAt: time.Unix(1_700_000_000, 0)})
	}
	if err := s.Record(ctx, "crm", acks, nil); err != nil {
		t.Fatal(err)
	}
	if wrote, err := s.RefreshIndexSnapshot(ctx, "crm"); err != nil || !wrote {
		t.Fatalf("RefreshIndexSnapshot = %v, %v; want a snapshot", wrote, err)
	}

	var chunks int
	var total int64
	if err := s.db.QueryRow("SELECT count(*), sum(length(data)) FROM index_snapshot_chunks").Scan(&chunks, &total); err != nil {
		t.Fatal(err)
	}
	if meta := snapshotMetaOf(t, s, "crm"); chunks < 2 || total != meta.bytes {
		t.Errorf("%d chunks of %d bytes together, metadata %+v; want several chunks whose bytes add up", chunks, total, meta)
	}
	ix := assertIndexMatchesRows(t, s, "crm")
	if ix.Len() != accounts {
		t.Errorf("Len = %d, want %d", ix.Len(), accounts)
	}
}

func TestSnapshotLoadMergesChanges(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	seedSnapshotJob(t, s)
	if meta := snapshotMetaOf(t, s, "crm"); !meta.present || meta.entries != 200 || meta.changes != 0 {
		t.Fatalf("after the refresh: %+v, want a snapshot of 200 entries and no changes", meta)
	}

	sentAt := time.Unix(1_700_000_100, 0)
	acks := []Ack{
		{ExternalID: "acct-0000", Hash: hashOf("changed-0"), SentAt: sentAt},
		{ExternalID: "acct-0001", Hash: hashOf("hash-1"), SentAt: sentAt}, // same hash, deletes the rejection
		{ExternalID: "acct-0002", Hash: hashOf("hash-2"), SentAt: sentAt}, // same hash: no change
		{ExternalID: "aaa-first", Hash: hashOf("new-first"), SentAt: sentAt},
		{ExternalID: "zzz-last", Hash: hashOf("new-last"), SentAt: sentAt},
	}
	rejections := []Rejection{
		{ExternalID: "only-rejected", Hash: hashOf("bad"), Status: 400, Message: "m", Position: "p", At: sentAt},
		{ExternalID: "acct-0005", Hash: hashOf("bad-5"), Status: 400, Message: "m", Position: "p", At: sentAt},
	}
	if err := s.Record(ctx, "crm", acks, rejections); err != nil {
		t.Fatal(err)
	}
	// The job erp has no snapshot; its rows list no changes.
	if err := s.Record(ctx, "erp", acks, nil); err != nil {
		t.Fatal(err)
	}

	meta := snapshotMetaOf(t, s, "crm")
	if meta.changes != 6 {
		t.Errorf("changes = %d, want 6 (acct-0000, acct-0001, aaa-first, zzz-last, only-rejected, acct-0005)", meta.changes)
	}
	var erpChanges int
	if err := s.db.QueryRow("SELECT count(*) FROM index_changes ch JOIN jobs j ON j.id = ch.job_id WHERE j.name = 'erp'").Scan(&erpChanges); err != nil {
		t.Fatal(err)
	}
	if erpChanges != 0 {
		t.Errorf("erp has %d changes without a snapshot, want 0", erpChanges)
	}

	ix := assertIndexMatchesRows(t, s, "crm")
	checks := map[string]Entry{
		"acct-0000":     {Hash: hashOf("changed-0"), Acked: true},
		"acct-0001":     {Hash: hashOf("hash-1"), Acked: true},
		"acct-0004":     {Hash: hashOf("hash-4"), Acked: true, RejectedHash: hashOf("bad-1"), Rejected: true},
		"acct-0005":     {Hash: hashOf("hash-5"), Acked: true, RejectedHash: hashOf("bad-5"), Rejected: true},
		"aaa-first":     {Hash: hashOf("new-first"), Acked: true},
		"zzz-last":      {Hash: hashOf("new-last"), Acked: true},
		"only-rejected": {RejectedHash: hashOf("bad"), Rejected: true},
	}
	for id, want := range checks {
		if got, ok := ix.Get(id); !ok || got != want {
			t.Errorf("Get(%q) = %+v, %v; want %+v", id, got, ok, want)
		}
	}

	if n, err := s.RetryRejected(ctx, "crm"); err != nil || n != 11 {
		t.Fatalf("RetryRejected = %d, %v; want 11 rows", n, err)
	}
	ix = assertIndexMatchesRows(t, s, "crm")
	if _, ok := ix.Get("only-rejected"); ok {
		t.Error("only-rejected is still in the index after its rejection was deleted")
	}
}

func TestSnapshotFollowsRandomChanges(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	seedSnapshotJob(t, s)
	rng := rand.New(rand.NewPCG(7, 11))
	sentAt := time.Unix(1_700_000_200, 0)
	randomID := func() string { return fmt.Sprintf("acct-%04d", rng.IntN(260)) }
	randomHash := func() Hash { return hashOf(fmt.Sprintf("hash-%d", rng.IntN(300))) }

	merged := 0
	for step := range 200 {
		switch rng.IntN(12) {
		default:
			var acks []Ack
			var rejections []Rejection
			for range 1 + rng.IntN(5) {
				acks = append(acks, Ack{ExternalID: randomID(), Hash: randomHash(), SentAt: sentAt})
			}
			for range rng.IntN(3) {
				rejections = append(rejections, Rejection{ExternalID: randomID(), Hash: randomHash(), Status: 422, Message: "m", Position: "p", At: sentAt})
			}
			if err := s.Record(ctx, "crm", dedupeAcks(acks), dedupeRejections(rejections)); err != nil {
				t.Fatal(err)
			}
		case 0:
			if _, err := s.RetryRejected(ctx, "crm"); err != nil {
				t.Fatal(err)
			}
		case 1:
			// Marking the snapshot invalid forces a rewrite before the
			// change threshold.
			jobID, _ := s.lookupJob(ctx, "crm")
			s.markSnapshotBroken(jobID, true)
			if wrote, err := s.RefreshIndexSnapshot(ctx, "crm"); err != nil || !wrote {
				t.Fatalf("forced refresh = %v, %v; want a new snapshot", wrote, err)
			}
		case 2:
			if _, err := s.RefreshIndexSnapshot(ctx, "crm"); err != nil {
				t.Fatal(err)
			}
		}
		if meta := snapshotMetaOf(t, s, "crm"); meta.usable() && meta.changes > 0 {
			merged++
		}
		assertIndexMatchesRows(t, s, "crm")
		if t.Failed() {
			t.Fatalf("index differs from the rows after step %d", step)
		}
	}
	if merged < 100 {
		t.Errorf("only %d of 200 loads merged changes into a snapshot; the test no longer covers the merge", merged)
	}
}

// dedupeAcks keeps the last ack per external ID, as the engine's writer
// never records one ID twice in a batch.
func dedupeAcks(acks []Ack) []Ack {
	seen := map[string]int{}
	var out []Ack
	for _, a := range acks {
		if i, ok := seen[a.ExternalID]; ok {
			out[i] = a
			continue
		}
		seen[a.ExternalID] = len(out)
		out = append(out, a)
	}
	return out
}

func dedupeRejections(rejections []Rejection) []Rejection {
	seen := map[string]int{}
	var out []Rejection
	for _, r := range rejections {
		if i, ok := seen[r.ExternalID]; ok {
			out[i] = r
			continue
		}
		seen[r.ExternalID] = len(out)
		out = append(out, r)
	}
	return out
}

func TestSnapshotRefreshPolicy(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	sentAt := time.Unix(1_700_000_000, 0)
	record := func(from, to int, prefix string) {
		t.Helper()
		var acks []Ack
		for i := from; i < to; i++ {
			acks = append(acks, Ack{ExternalID: fmt.Sprintf("acct-%05d", i), Hash: hashOf(prefix + fmt.Sprint(i)), SentAt: sentAt})
		}
		if err := s.Record(ctx, "crm", acks, nil); err != nil {
			t.Fatal(err)
		}
	}

	if wrote, err := s.RefreshIndexSnapshot(ctx, "never-ran"); err != nil || wrote {
		t.Errorf("refresh of a job without state = %v, %v; want false, nil", wrote, err)
	}
	record(0, 2000, "a")
	if wrote, err := s.RefreshIndexSnapshot(ctx, "crm"); err != nil || wrote {
		t.Errorf("refresh of 2000 accounts with the default minimum = %v, %v; want false, nil", wrote, err)
	}
	if meta := snapshotMetaOf(t, s, "crm"); meta.present {
		t.Errorf("a job below the minimum got a snapshot: %+v", meta)
	}

	s.minSnapshotEntries = 1000
	if wrote, err := s.RefreshIndexSnapshot(ctx, "crm"); err != nil || !wrote {
		t.Fatalf("first refresh = %v, %v; want a snapshot", wrote, err)
	}
	record(0, 10, "b")
	if wrote, err := s.RefreshIndexSnapshot(ctx, "crm"); err != nil || wrote {
		t.Errorf("refresh after 10 changes = %v, %v; want false", wrote, err)
	}
	if meta := snapshotMetaOf(t, s, "crm"); meta.changes != 10 {
		t.Errorf("changes = %d, want 10", meta.changes)
	}
	record(0, minRefreshChanges+1, "c")
	if wrote, err := s.RefreshIndexSnapshot(ctx, "crm"); err != nil || !wrote {
		t.Errorf("refresh after %d changes = %v, %v; want a new snapshot", minRefreshChanges+1, wrote, err)
	}
	if meta := snapshotMetaOf(t, s, "crm"); meta.changes != 0 || meta.entries != 2000 {
		t.Errorf("after the refresh: %+v, want 2000 entries and no changes", meta)
	}
	assertIndexMatchesRows(t, s, "crm")

	// A job that falls below the minimum loses its snapshot, so that
	// its writes stop listing changes.
	s.minSnapshotEntries = 5000
	if _, err := s.db.Exec("UPDATE index_snapshots SET format = 0"); err != nil {
		t.Fatal(err)
	}
	if wrote, err := s.RefreshIndexSnapshot(ctx, "crm"); err != nil || wrote {
		t.Errorf("refresh below the minimum = %v, %v; want false", wrote, err)
	}
	if meta := snapshotMetaOf(t, s, "crm"); meta.present {
		t.Errorf("snapshot kept below the minimum: %+v", meta)
	}
	assertIndexMatchesRows(t, s, "crm")
}

func TestSnapshotInvalidDataFallsBackToRows(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	seedSnapshotJob(t, s)
	if _, err := s.db.Exec("UPDATE index_snapshot_chunks SET data = x'0102030405060708090a0b0c0d0e0f10'"); err != nil {
		t.Fatal(err)
	}

	ix := assertIndexMatchesRows(t, s, "crm")
	if ix.Len() != 200 {
		t.Errorf("Len = %d, want 200", ix.Len())
	}
	wrote, err := s.RefreshIndexSnapshot(ctx, "crm")
	if err != nil || !wrote {
		t.Fatalf("refresh of an invalid snapshot without changes = %v, %v; want a rewrite", wrote, err)
	}
	jobID, _ := s.lookupJob(ctx, "crm")
	if s.snapshotBroken(jobID) {
		t.Error("the snapshot is still marked invalid after the rewrite")
	}
	assertIndexMatchesRows(t, s, "crm")
}

func TestSnapshotReadOnlyStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	seedSnapshotJob(t, s)
	want := scannedIndex(t, s, "crm")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := Open(context.Background(), path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	ix, err := ro.LoadIndex(context.Background(), "crm")
	if err != nil {
		t.Fatal(err)
	}
	assertSameIndex(t, ix, want)
	if _, err := ro.RefreshIndexSnapshot(context.Background(), "crm"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("RefreshIndexSnapshot on a read-only store: %v, want ErrReadOnly", err)
	}
}

// TestSnapshotConsistentAfterCrash kills a process that changes the rows
// or the snapshot, at three points, and checks that the index loaded
// afterwards equals the rows.
func TestSnapshotConsistentAfterCrash(t *testing.T) {
	for _, step := range []string{"after-rows", "in-rows", "in-snapshot"} {
		t.Run(step, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			s, err := Open(context.Background(), path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			seedSnapshotJob(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			killHelper(t, snapshotCrashEnv+"="+path, snapshotCrashStepEnv+"="+step)

			s = openStoreAt(t, path)
			ix := assertIndexMatchesRows(t, s, "crm")
			meta := snapshotMetaOf(t, s, "crm")
			got, _ := ix.Get("acct-0003")
			switch step {
			case "after-rows":
				if meta.changes != 4 || !meta.usable() {
					t.Errorf("snapshot %+v, want one that lists the 4 changed accounts", meta)
				}
				if got.Hash != hashOf("changed-3") {
					t.Errorf("acct-0003 has hash %s, want the one committed before the crash", got.Hash)
				}
				if entry, _ := ix.Get("acct-0004"); !entry.Rejected {
					t.Error("acct-0004 lost the rejection committed before the crash")
				}
			case "in-rows":
				if meta.changes != 0 || ix.Len() != 200 || got.Hash != hashOf("hash-3") {
					t.Errorf("uncommitted acks are visible: %+v, %d entries, acct-0003 %s", meta, ix.Len(), got.Hash)
				}
			case "in-snapshot":
				if meta.changes != 3 || got.Hash != hashOf("changed-3") {
					t.Errorf("the uncommitted snapshot replaced the committed one: %+v, acct-0003 %s", meta, got.Hash)
				}
			}
		})
	}
}

// killHelper runs the test binary with env, waits for it to print
// "ready" and kills it with SIGKILL, as a crash would.
func killHelper(t *testing.T, env ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, readErr := bufio.NewReader(stdout).ReadString('\n')
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait() //nolint:errcheck // "signal: killed" is expected
	if readErr != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("helper did not report ready: line %q, error %v", line, readErr)
	}
}

func TestFindNearMatchesFind(t *testing.T) {
	var b indexBuilder
	hash := hashOf("h")
	for i := range 300 {
		if err := b.add([]byte(fmt.Sprintf("id-%04d", i*3)), hash[:], true); err != nil {
			t.Fatal(err)
		}
	}
	ix := b.finish()
	var probes []string
	for i := -1; i <= 900; i++ {
		probes = append(probes, fmt.Sprintf("id-%04d", i))
	}
	probes = append(probes, "", "a", "id-", "id-0000x", "zzz")
	for _, id := range probes {
		want, wantFound := ix.Find(id)
		insertAt := sort.SearchStrings(allIDs(ix), id)
		for hint := -2; hint <= ix.Len()+1; hint++ {
			got, found := ix.FindNear(id, hint)
			if found != wantFound || (found && got != want) || (!found && got != insertAt) {
				t.Fatalf("FindNear(%q, %d) = %d, %v; want %d, %v (insertion point %d)", id, hint, got, found, want, wantFound, insertAt)
			}
		}
	}
	if got, found := (&Index{}).FindNear("x", 5); got != 0 || found {
		t.Errorf("FindNear on an empty index = %d, %v; want 0, false", got, found)
	}
}

func allIDs(ix *Index) []string {
	ids := make([]string, ix.Len())
	for i := range ids {
		ids[i] = ix.id(i)
	}
	return ids
}
