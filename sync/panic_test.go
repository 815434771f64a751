package sync_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/atlas/emulator"
	"github.com/atlas-sync/atlas-sync/sources"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// panickySource panics on its fifth record, standing in for a source bug.
type panickySource struct {
	sources.Source
	n int
}

func (s *panickySource) Next(ctx context.Context) (sources.Record, error) {
	s.n++
	if s.n == 5 {
		panic("source bug")
	}
	return s.Source.Next(ctx)
}

func TestPanicInSourceFailsRun(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	h.writeAccounts(50, nil)
	job := h.job()
	open := job.Open
	job.Open = func(ctx context.Context, opts sources.OpenOptions) (sources.Source, error) {
		src, err := open(ctx, opts)
		if err != nil {
			return nil, err
		}
		return &panickySource{Source: src}, nil
	}

	res := h.engine.Run(context.Background(), job, atlassync.RunOptions{})
	if res.Outcome != atlassync.OutcomeFailed {
		t.Fatalf("outcome = %s, want failed", res.Outcome)
	}
	if res.Err == nil || !strings.Contains(res.Err.Error(), "panic in source reader: source bug") {
		t.Errorf("err = %v, want the panic named", res.Err)
	}

	// The next run, without the bug, completes.
	if res := h.run(context.Background(), atlassync.RunOptions{}); res.Outcome != atlassync.OutcomeOK || res.Counts.Read != 50 {
		t.Errorf("next run %s read %d, want ok and 50", res.Outcome, res.Counts.Read)
	}
}

// panickyUpserter panics on its tenth request and otherwise sends through
// the real client.
type panickyUpserter struct {
	client *atlas.Client
	calls  atomic.Int64
}

func (u *panickyUpserter) Upsert(ctx context.Context, body []byte) (atlas.UpsertResult, error) {
	if u.calls.Add(1) == 10 {
		panic("client bug")
	}
	return u.client.Upsert(ctx, body)
}

func TestPanicInWorkerFailsRunAndKeepsAcks(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	h.writeAccounts(100, nil)
	client, err := atlas.NewClient(atlas.Options{BaseURL: h.server.URL, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	engine := atlassync.NewEngine(h.store, &panickyUpserter{client: client}, atlas.NewThrottle(2000, 50), h.settings, h.logger, nil)

	res := engine.Run(context.Background(), h.job(), atlassync.RunOptions{})
	if res.Outcome != atlassync.OutcomeFailed || !strings.Contains(res.Err.Error(), "panic in upsert worker") {
		t.Fatalf("outcome %s err %v, want failed with the worker panic", res.Outcome, res.Err)
	}
	index, err := h.store.LoadIndex(context.Background(), "crm")
	if err != nil {
		t.Fatal(err)
	}
	if int64(index.Len()) != res.Counts.Sent {
		t.Errorf("checkpoint holds %d rows, the run acknowledged %d", index.Len(), res.Counts.Sent)
	}

	second := h.run(context.Background(), atlassync.RunOptions{})
	if second.Outcome != atlassync.OutcomeOK || len(h.emulator.Accounts()) != 100 {
		t.Errorf("next run %s, emulator holds %d accounts, want ok and 100", second.Outcome, len(h.emulator.Accounts()))
	}
}
