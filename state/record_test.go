package state

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRecordLoadIndexRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	sentAt := time.Unix(1_700_000_000, 0)
	acks := []Ack{
		{ExternalID: "b-2", Hash: hashOf("hash-b"), AtlasID: "uuid-b", SentAt: sentAt},
		{ExternalID: "a-1", Hash: hashOf("hash-a"), SentAt: sentAt},
		{ExternalID: "c-3", Hash: hashOf("hash-c"), AtlasID: "uuid-c", SentAt: sentAt},
	}
	if err := s.Record(ctx, "crm", acks, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, "erp", []Ack{{ExternalID: "a-1", Hash: hashOf("erp-a"), SentAt: sentAt}}, nil); err != nil {
		t.Fatal(err)
	}

	ix, err := s.LoadIndex(ctx, "crm")
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 3 {
		t.Errorf("Len = %d, want 3", ix.Len())
	}
	for _, ack := range acks {
		entry, ok := ix.Get(ack.ExternalID)
		if !ok {
			t.Errorf("Get(%q) not found", ack.ExternalID)
			continue
		}
		want := Entry{Hash: ack.Hash, Acked: true}
		if entry != want {
			t.Errorf("Get(%q) = %+v, want %+v", ack.ExternalID, entry, want)
		}
	}
	for _, missing := range []string{"", "a", "a-0", "a-10", "b-1", "zzz"} {
		if entry, ok := ix.Get(missing); ok {
			t.Errorf("Get(%q) = %+v, want not found", missing, entry)
		}
	}

	erp, err := s.LoadIndex(ctx, "erp")
	if err != nil {
		t.Fatal(err)
	}
	if entry, _ := erp.Get("a-1"); erp.Len() != 1 || entry.Hash != hashOf("erp-a") {
		t.Errorf("erp index: Len %d, a-1 = %+v; want its own hash", erp.Len(), entry)
	}
}

func TestRecordUpdatesHashAndKeepsAtlasID(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	first := time.Unix(1_700_000_000, 0)
	second := first.Add(time.Hour)

	if err := s.Record(ctx, "crm", []Ack{{ExternalID: "a", Hash: hashOf("v1"), AtlasID: "uuid-1", SentAt: first}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, "crm", []Ack{{ExternalID: "a", Hash: hashOf("v2"), SentAt: second}}, nil); err != nil {
		t.Fatal(err)
	}

	var hash []byte
	var atlasID string
	var sentAt int64
	err := s.db.QueryRow("SELECT hash, atlas_id, sent_at FROM checkpoint WHERE external_id = 'a'").Scan(&hash, &atlasID, &sentAt)
	if err != nil {
		t.Fatal(err)
	}
	if Hash(hash) != hashOf("v2") {
		t.Errorf("hash = %x, want the second ack's", hash)
	}
	if atlasID != "uuid-1" {
		t.Errorf("atlas_id = %q, want the first ack's uuid-1 kept", atlasID)
	}
	if sentAt != second.Unix() {
		t.Errorf("sent_at = %d, want %d", sentAt, second.Unix())
	}
}

func TestRecordStoresNullAtlasIDWhenUnknown(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if err := s.Record(ctx, "crm", []Ack{{ExternalID: "a", Hash: hashOf("v1"), SentAt: time.Now()}}, nil); err != nil {
		t.Fatal(err)
	}
	var atlasID sql.NullString
	if err := s.db.QueryRow("SELECT atlas_id FROM checkpoint WHERE external_id = 'a'").Scan(&atlasID); err != nil {
		t.Fatal(err)
	}
	if atlasID.Valid {
		t.Errorf("atlas_id = %q, want NULL", atlasID.String)
	}
}

func TestRejectionThenAck(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	at := time.UnixMilli(1_700_000_000_123)

	rejection := Rejection{ExternalID: "a", Hash: hashOf("bad"), Status: 422, Message: "name is required", Position: "accounts.csv:7", At: at}
	if err := s.Record(ctx, "crm", nil, []Rejection{rejection}); err != nil {
		t.Fatal(err)
	}
	ix, err := s.LoadIndex(ctx, "crm")
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{RejectedHash: hashOf("bad"), Rejected: true}
	if entry, ok := ix.Get("a"); !ok || entry != want {
		t.Errorf("after rejection Get(a) = %+v, %v; want %+v", entry, ok, want)
	}

	if err := s.Record(ctx, "crm", []Ack{{ExternalID: "a", Hash: hashOf("good"), SentAt: time.Now()}}, nil); err != nil {
		t.Fatal(err)
	}
	ix, err = s.LoadIndex(ctx, "crm")
	if err != nil {
		t.Fatal(err)
	}
	want = Entry{Hash: hashOf("good"), Acked: true}
	if entry, ok := ix.Get("a"); !ok || entry != want {
		t.Errorf("after ack Get(a) = %+v, %v; want %+v", entry, ok, want)
	}
	rejected, err := s.Rejected(ctx, "crm")
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 0 {
		t.Errorf("Rejected after ack = %+v, want none", rejected)
	}
}

func TestRejectionKeepsCheckpointRow(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if err := s.Record(ctx, "crm", []Ack{{ExternalID: "a", Hash: hashOf("v1"), SentAt: time.Now()}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, "crm", nil, []Rejection{{ExternalID: "a", Hash: hashOf("v2"), Status: 400, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}

	ix, err := s.LoadIndex(ctx, "crm")
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{Hash: hashOf("v1"), Acked: true, RejectedHash: hashOf("v2"), Rejected: true}
	if entry, ok := ix.Get("a"); !ok || entry != want {
		t.Errorf("Get(a) = %+v, %v; want %+v", entry, ok, want)
	}
	if ix.Len() != 1 {
		t.Errorf("Len = %d, want 1: both rows belong to one account", ix.Len())
	}
}

func TestIndexMixesAckedAndRejected(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	var acks []Ack
	var rejections []Rejection
	want := make(map[string]Entry)
	for i := range 300 {
		id := "acct-" + strconv.Itoa(i)
		var entry Entry
		if i%3 != 0 {
			entry.Hash, entry.Acked = hashOf("ok"+id), true
			acks = append(acks, Ack{ExternalID: id, Hash: entry.Hash, SentAt: time.Now()})
		}
		if i%2 == 0 {
			entry.RejectedHash, entry.Rejected = hashOf("no"+id), true
			rejections = append(rejections, Rejection{ExternalID: id, Hash: entry.RejectedHash, Status: 422, At: time.Now()})
		}
		if entry.Acked || entry.Rejected {
			want[id] = entry
		}
	}
	if err := s.Record(ctx, "crm", acks, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, "crm", nil, rejections); err != nil {
		t.Fatal(err)
	}

	ix, err := s.LoadIndex(ctx, "crm")
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != len(want) {
		t.Errorf("Len = %d, want %d", ix.Len(), len(want))
	}
	for id, w := range want {
		if got, ok := ix.Get(id); !ok || got != w {
			t.Errorf("Get(%q) = %+v, %v; want %+v", id, got, ok, w)
		}
	}
}

func TestLoadIndexUnknownJob(t *testing.T) {
	s := openTestStore(t)
	ix, err := s.LoadIndex(context.Background(), "never-ran")
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 0 {
		t.Errorf("Len = %d, want 0", ix.Len())
	}
	jobs, err := s.Jobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 0 {
		t.Errorf("LoadIndex created jobs %v", jobs)
	}
}

func TestNilIndexIsEmpty(t *testing.T) {
	var ix *Index
	if ix.Len() != 0 {
		t.Errorf("Len = %d, want 0", ix.Len())
	}
	if _, ok := ix.Get("a"); ok {
		t.Error("Get on nil Index found an entry")
	}
}

func TestRecordRejectsInvalidInput(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if err := s.Record(ctx, "", []Ack{{ExternalID: "a"}}, nil); err == nil {
		t.Error("Record with empty job succeeded")
	}
	if err := s.Record(ctx, "crm", []Ack{{ExternalID: ""}}, nil); err == nil {
		t.Error("Record with empty ack external ID succeeded")
	}
	if err := s.Record(ctx, "crm", nil, []Rejection{{ExternalID: ""}}); err == nil {
		t.Error("Record with empty rejection external ID succeeded")
	}
	ix, err := s.LoadIndex(ctx, "crm")
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 0 {
		t.Errorf("invalid batches stored %d entries", ix.Len())
	}
}

func TestRecordCanceledContextStoresNothing(t *testing.T) {
	s := openTestStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Record(ctx, "crm", []Ack{{ExternalID: "a", SentAt: time.Now()}}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	ix, err := s.LoadIndex(context.Background(), "crm")
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 0 {
		t.Errorf("canceled Record stored %d entries", ix.Len())
	}
}

func TestRejectedListsAllJobs(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	at := time.UnixMilli(1_700_000_000_123)
	long := strings.Repeat("é", MaxRejectionMessageBytes) // 2 bytes per character
	if err := s.Record(ctx, "erp", nil, []Rejection{
		{ExternalID: "z", Hash: hashOf("z"), Status: 422, Message: long, Position: "erp.csv:3", At: at},
		{ExternalID: "b", Hash: hashOf("b"), Status: 400, Message: "bad domain", Position: "erp.csv:2", At: at},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, "crm", nil, []Rejection{
		{ExternalID: "a", Hash: hashOf("a"), Status: 409, Message: "conflict", Position: "crm.csv:9", At: at},
	}); err != nil {
		t.Fatal(err)
	}

	all, err := s.Rejected(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range all {
		keys = append(keys, r.Job+"/"+r.ExternalID)
	}
	if got, want := strings.Join(keys, ","), "crm/a,erp/b,erp/z"; got != want {
		t.Fatalf("Rejected(\"\") order = %s, want %s", got, want)
	}

	wantFirst := Rejection{Job: "crm", ExternalID: "a", Hash: hashOf("a"), Status: 409, Message: "conflict", Position: "crm.csv:9", At: at}
	if got := all[0]; got.Job != wantFirst.Job || got.Hash != wantFirst.Hash || got.Status != wantFirst.Status ||
		got.Message != wantFirst.Message || got.Position != wantFirst.Position || !got.At.Equal(at) {
		t.Errorf("Rejected[0] = %+v, want %+v", got, wantFirst)
	}

	cut := all[2].Message
	if len(cut) != MaxRejectionMessageBytes || cut != long[:MaxRejectionMessageBytes] {
		t.Errorf("long message stored with %d bytes, want the first %d", len(cut), MaxRejectionMessageBytes)
	}

	erp, err := s.Rejected(ctx, "erp")
	if err != nil {
		t.Fatal(err)
	}
	if len(erp) != 2 {
		t.Errorf("Rejected(erp) returned %d rows, want 2", len(erp))
	}
}

func TestTruncateUTF8(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"}, // é is 2 bytes and would be split
		{"aé", 3, "aé"},
		{"日本", 4, "日"},
	} {
		if got := truncateUTF8(tc.in, tc.limit); got != tc.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}

func TestRetryRejected(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	reject := func(job string, ids ...string) {
		t.Helper()
		var list []Rejection
		for _, id := range ids {
			list = append(list, Rejection{ExternalID: id, Hash: hashOf(id), Status: 422, At: time.Now()})
		}
		if err := s.Record(ctx, job, nil, list); err != nil {
			t.Fatal(err)
		}
	}
	reject("crm", "a", "b", "c")
	reject("erp", "x", "y")

	n, err := s.RetryRejected(ctx, "crm")
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("RetryRejected(crm) = %d, want 3", n)
	}
	ix, err := s.LoadIndex(ctx, "crm")
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 0 {
		t.Errorf("crm index still has %d entries", ix.Len())
	}

	n, err = s.RetryRejected(ctx, "unknown")
	if err != nil || n != 0 {
		t.Errorf("RetryRejected(unknown) = %d, %v; want 0, nil", n, err)
	}

	reject("crm", "d")
	n, err = s.RetryRejected(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("RetryRejected(all) = %d, want 3", n)
	}
	left, err := s.Rejected(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("rejected rows left: %+v", left)
	}
}

func TestCursor(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)

	cursor, err := s.Cursor(ctx, "crm")
	if err != nil || cursor != "" {
		t.Fatalf("Cursor before SetCursor = %q, %v; want \"\", nil", cursor, err)
	}
	if err := s.SetCursor(ctx, "crm", "2024-05-01T10:00:00Z/4711"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCursor(ctx, "erp", "other"); err != nil {
		t.Fatal(err)
	}
	cursor, err = s.Cursor(ctx, "crm")
	if err != nil || cursor != "2024-05-01T10:00:00Z/4711" {
		t.Errorf("Cursor = %q, %v; want the stored cursor", cursor, err)
	}

	if err := s.SetCursor(ctx, "crm", ""); err != nil {
		t.Fatal(err)
	}
	cursor, err = s.Cursor(ctx, "crm")
	if err != nil || cursor != "" {
		t.Errorf("Cursor after clearing = %q, %v; want \"\"", cursor, err)
	}

	jobs, err := s.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(jobs, ","); got != "crm,erp" {
		t.Errorf("Jobs = %s, want crm,erp", got)
	}
}

func TestCursorSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	path := s.Path()
	if err := s.SetCursor(ctx, "crm", "c-42"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	reopened := openStoreAt(t, path)
	cursor, err := reopened.Cursor(ctx, "crm")
	if err != nil || cursor != "c-42" {
		t.Errorf("Cursor after reopen = %q, %v; want c-42", cursor, err)
	}
}

// TestConcurrentUse runs writers and readers of several jobs at once; run
// it with -race.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	const jobs, batches, batchSize = 4, 10, 50

	var wg sync.WaitGroup
	errs := make(chan error, jobs*3)
	for j := range jobs {
		job := "job-" + strconv.Itoa(j)
		wg.Add(2)
		go func() {
			defer wg.Done()
			runID, err := s.StartRun(ctx, job, ModeIncremental, time.Now())
			if err != nil {
				errs <- err
				return
			}
			for b := range batches {
				acks := make([]Ack, batchSize)
				for i := range acks {
					acks[i] = Ack{ExternalID: strconv.Itoa(b*batchSize + i), Hash: hashOf(job), SentAt: time.Now()}
				}
				if err := s.Record(ctx, job, acks, nil); err != nil {
					errs <- err
					return
				}
				if err := s.SetCursor(ctx, job, strconv.Itoa(b)); err != nil {
					errs <- err
					return
				}
			}
			errs <- s.FinishRun(ctx, runID, time.Now(), OutcomeOK, Counts{Sent: batches * batchSize}, "")
		}()
		go func() {
			defer wg.Done()
			for range batches {
				if _, err := s.LoadIndex(ctx, job); err != nil {
					errs <- err
					return
				}
				if _, err := s.LastRuns(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	for j := range jobs {
		job := "job-" + strconv.Itoa(j)
		ix, err := s.LoadIndex(ctx, job)
		if err != nil {
			t.Fatal(err)
		}
		if ix.Len() != batches*batchSize {
			t.Errorf("%s index has %d entries, want %d", job, ix.Len(), batches*batchSize)
		}
		completed, err := s.CompletedRuns(ctx, job)
		if err != nil || completed != 1 {
			t.Errorf("CompletedRuns(%s) = %d, %v; want 1", job, completed, err)
		}
	}
}

func TestRecordAckAndRejectionInOneBatch(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	err := s.Record(ctx, "crm",
		[]Ack{{ExternalID: "a", Hash: hashOf("v1"), SentAt: time.Now()}},
		[]Rejection{{ExternalID: "a", Hash: hashOf("v2"), Status: 422, At: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}

	ix, err := s.LoadIndex(ctx, "crm")
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{Hash: hashOf("v1"), Acked: true, RejectedHash: hashOf("v2"), Rejected: true}
	if entry, ok := ix.Get("a"); !ok || entry != want {
		t.Errorf("Get(a) = %+v, %v; want %+v", entry, ok, want)
	}
}
