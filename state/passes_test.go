package state

import (
	"context"
	"testing"
	"time"
)

func TestFullPassBeginResumeEnd(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)

	if _, ok, err := s.UnfinishedFullPass(ctx, "crm"); err != nil || ok {
		t.Fatalf("UnfinishedFullPass before any pass = %v, %v; want none", ok, err)
	}

	started := time.Unix(1_700_000_000, 700_000_000)
	if err := s.BeginFullPass(ctx, "crm", 7, started); err != nil {
		t.Fatal(err)
	}
	pass, ok, err := s.UnfinishedFullPass(ctx, "crm")
	if err != nil || !ok {
		t.Fatalf("UnfinishedFullPass = %v, %v; want the pass", ok, err)
	}
	if pass.RunID != 7 {
		t.Errorf("RunID = %d, want 7", pass.RunID)
	}
	if !pass.Started.Equal(time.Unix(1_700_000_000, 0)) {
		t.Errorf("Started = %s, want it truncated to whole seconds", pass.Started)
	}
	if _, ok, _ := s.UnfinishedFullPass(ctx, "erp"); ok {
		t.Error("another job sees the pass of crm")
	}

	// A new pass replaces the unfinished one.
	if err := s.BeginFullPass(ctx, "crm", 9, started.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	pass, _, _ = s.UnfinishedFullPass(ctx, "crm")
	if pass.RunID != 9 || !pass.Started.Equal(time.Unix(1_700_003_600, 0)) {
		t.Errorf("pass after a second begin = %+v, want run 9 an hour later", pass)
	}

	if err := s.EndFullPass(ctx, "crm"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.UnfinishedFullPass(ctx, "crm"); err != nil || ok {
		t.Errorf("UnfinishedFullPass after EndFullPass = %v, %v; want none", ok, err)
	}
	if err := s.EndFullPass(ctx, "never-ran"); err != nil {
		t.Errorf("EndFullPass of a job without state: %v", err)
	}
}

func TestFullPassSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	path := s.Path()
	if err := s.BeginFullPass(ctx, "crm", 3, time.Unix(1_700_000_000, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStoreAt(t, path)
	pass, ok, err := s.UnfinishedFullPass(ctx, "crm")
	if err != nil || !ok || pass.RunID != 3 {
		t.Errorf("after reopening: pass %+v, %v, %v; want run 3", pass, ok, err)
	}
}

func TestLoadIndexSinceKeepsRowsOfThePass(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	before := time.Unix(1_700_000_000, 0)
	passStart := before.Add(time.Hour)

	acks := []Ack{
		{ExternalID: "old", Hash: hashOf("old"), SentAt: before},
		{ExternalID: "at-start", Hash: hashOf("at-start"), SentAt: passStart},
		{ExternalID: "later", Hash: hashOf("later"), SentAt: passStart.Add(time.Minute)},
	}
	if err := s.Record(ctx, "crm", acks, nil); err != nil {
		t.Fatal(err)
	}
	rejections := []Rejection{
		{ExternalID: "old-bad", Hash: hashOf("x"), Status: 422, Message: "m", Position: "f:1", At: before},
		{ExternalID: "new-bad", Hash: hashOf("y"), Status: 422, Message: "m", Position: "f:2", At: passStart.Add(time.Second)},
	}
	if err := s.Record(ctx, "crm", nil, rejections); err != nil {
		t.Fatal(err)
	}

	ix, err := s.LoadIndexSince(ctx, "crm", passStart.Add(400*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 3 {
		t.Errorf("Len = %d, want 3 (at-start, later, new-bad)", ix.Len())
	}
	for _, id := range []string{"old", "old-bad"} {
		if _, ok := ix.Get(id); ok {
			t.Errorf("Get(%q) found a row from before the pass", id)
		}
	}
	if entry, ok := ix.Get("at-start"); !ok || !entry.Acked || entry.Hash != hashOf("at-start") {
		t.Errorf("Get(at-start) = %+v, %v; want acked in the second the pass started", entry, ok)
	}
	if entry, ok := ix.Get("new-bad"); !ok || !entry.Rejected || entry.RejectedHash != hashOf("y") {
		t.Errorf("Get(new-bad) = %+v, %v; want rejected during the pass", entry, ok)
	}

	empty, err := s.LoadIndexSince(ctx, "unknown", passStart)
	if err != nil || empty.Len() != 0 {
		t.Errorf("LoadIndexSince of a job without state = %d entries, %v; want empty", empty.Len(), err)
	}
}
