package state

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRunsHistory(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	base := time.UnixMilli(1_700_000_000_000)

	first, err := s.StartRun(ctx, "crm", ModeFull, base)
	if err != nil {
		t.Fatal(err)
	}
	counts := Counts{Read: 10, Unchanged: 2, Sent: 7, Created: 5, Updated: 2, Rejected: 1, Retries: 3, RateLimited: 1}
	if err := s.FinishRun(ctx, first, base.Add(time.Minute), OutcomePartial, counts, ""); err != nil {
		t.Fatal(err)
	}
	second, err := s.StartRun(ctx, "crm", ModeIncremental, base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	erpRun, err := s.StartRun(ctx, "erp", ModeDryRun, base.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, erpRun, base.Add(3*time.Hour), OutcomeFailed, Counts{}, "source unreadable"); err != nil {
		t.Fatal(err)
	}

	runs, err := s.Runs(ctx, "crm", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("Runs(crm) returned %d runs, want 2", len(runs))
	}
	running, done := runs[0], runs[1]
	if running.ID != second || running.Outcome != OutcomeRunning || !running.Finished.IsZero() || running.Mode != ModeIncremental {
		t.Errorf("newest run = %+v, want run %d running incremental with zero Finished", running, second)
	}
	if done.ID != first || done.Job != "crm" || done.Outcome != OutcomePartial || done.Mode != ModeFull {
		t.Errorf("older run = %+v, want run %d partial full", done, first)
	}
	if !done.Started.Equal(base) || !done.Finished.Equal(base.Add(time.Minute)) {
		t.Errorf("older run times = %v..%v, want %v..%v", done.Started, done.Finished, base, base.Add(time.Minute))
	}
	if done.Counts != counts {
		t.Errorf("counts = %+v, want %+v", done.Counts, counts)
	}

	limited, err := s.Runs(ctx, "crm", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(limited) != 1 || limited[0].ID != second {
		t.Errorf("Runs(crm, 1) = %+v, want only run %d", limited, second)
	}

	last, err := s.LastRuns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(last) != 2 || last[0].Job != "crm" || last[0].ID != second || last[1].Job != "erp" || last[1].ID != erpRun {
		t.Errorf("LastRuns = %+v, want crm run %d then erp run %d", last, second, erpRun)
	}
	if last[1].Error != "source unreadable" {
		t.Errorf("erp run error = %q, want %q", last[1].Error, "source unreadable")
	}
}

func TestCompletedRunsCountsOKAndPartial(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for _, outcome := range []string{OutcomeOK, OutcomePartial, OutcomeFailed, OutcomeCanceled, OutcomeBudget, OutcomeRateLimited, OutcomeOK} {
		id, err := s.StartRun(ctx, "crm", ModeIncremental, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, id, time.Now(), outcome, Counts{}, ""); err != nil {
			t.Fatalf("FinishRun(%s): %v", outcome, err)
		}
	}

	n, err := s.CompletedRuns(ctx, "crm")
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("CompletedRuns = %d, want 3", n)
	}
	n, err = s.CompletedRuns(ctx, "unknown")
	if err != nil || n != 0 {
		t.Errorf("CompletedRuns(unknown) = %d, %v; want 0, nil", n, err)
	}
}

func TestFinishRunErrors(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	id, err := s.StartRun(ctx, "crm", ModeFull, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	if err := s.FinishRun(ctx, id, time.Now(), OutcomeRunning, Counts{}, ""); err == nil {
		t.Error("FinishRun with outcome running succeeded")
	}
	if err := s.FinishRun(ctx, id, time.Now(), OutcomeInterrupted, Counts{}, ""); err == nil {
		t.Error("FinishRun with outcome interrupted succeeded")
	}
	if err := s.FinishRun(ctx, id+100, time.Now(), OutcomeOK, Counts{}, ""); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("FinishRun of unknown run: error %v, want not found", err)
	}

	if err := s.FinishRun(ctx, id, time.Now(), OutcomeOK, Counts{}, ""); err != nil {
		t.Fatal(err)
	}
	err = s.FinishRun(ctx, id, time.Now(), OutcomeFailed, Counts{}, "")
	if err == nil || !strings.Contains(err.Error(), `outcome is "ok"`) {
		t.Errorf("second FinishRun: error %v, want one naming outcome ok", err)
	}
	if n, _ := s.CompletedRuns(ctx, "crm"); n != 1 {
		t.Errorf("CompletedRuns = %d after a rejected second FinishRun, want 1", n)
	}
}

func TestStartRunRejectsInvalidMode(t *testing.T) {
	s := openTestStore(t)
	if _, err := s.StartRun(context.Background(), "crm", "sometimes", time.Now()); err == nil {
		t.Error("StartRun with mode sometimes succeeded")
	}
	if _, err := s.StartRun(context.Background(), "", ModeFull, time.Now()); err == nil {
		t.Error("StartRun with empty job succeeded")
	}
}

func TestReopenMarksRunInterrupted(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	path := s.Path()
	started := time.UnixMilli(1_700_000_000_000)
	id, err := s.StartRun(ctx, "crm", ModeIncremental, started)
	if err != nil {
		t.Fatal(err)
	}
	progress := Counts{Read: 500, Sent: 120, Unchanged: 380}
	if err := s.UpdateRunCounts(ctx, id, progress); err != nil {
		t.Fatal(err)
	}
	// Close without FinishRun, as a crashed process leaves the file.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	reopened := openStoreAt(t, path)
	runs, err := reopened.Runs(ctx, "crm", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Fatalf("got %d runs, want 1", len(runs))
	}
	run := runs[0]
	if run.Outcome != OutcomeInterrupted {
		t.Errorf("outcome = %q, want %q", run.Outcome, OutcomeInterrupted)
	}
	if run.Counts != progress {
		t.Errorf("counts = %+v, want the last stored %+v", run.Counts, progress)
	}
	if !run.Finished.IsZero() {
		t.Errorf("Finished = %v, want zero for an interrupted run", run.Finished)
	}
	if !run.Started.Equal(started) {
		t.Errorf("Started = %v, want %v", run.Started, started)
	}
	if run.Error != interruptedMessage {
		t.Errorf("Error = %q, want %q", run.Error, interruptedMessage)
	}

	if err := reopened.FinishRun(ctx, id, time.Now(), OutcomeOK, Counts{}, ""); err == nil {
		t.Error("FinishRun of an interrupted run succeeded")
	}
	if err := reopened.UpdateRunCounts(ctx, id, Counts{}); err == nil {
		t.Error("UpdateRunCounts of an interrupted run succeeded")
	}
}

func TestPruneRuns(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	var crmIDs []int64
	for range 5 {
		id, err := s.StartRun(ctx, "crm", ModeIncremental, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, id, time.Now(), OutcomeOK, Counts{}, ""); err != nil {
			t.Fatal(err)
		}
		crmIDs = append(crmIDs, id)
	}
	running, err := s.StartRun(ctx, "crm", ModeIncremental, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartRun(ctx, "erp", ModeFull, time.Now()); err != nil {
		t.Fatal(err)
	}

	deleted, err := s.PruneRuns(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if deleted != 4 {
		t.Errorf("PruneRuns deleted %d, want 4", deleted)
	}
	runs, err := s.Runs(ctx, "crm", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != running || runs[1].ID != crmIDs[4] {
		t.Errorf("crm runs after prune = %+v, want runs %d and %d", runs, running, crmIDs[4])
	}
	if n, _ := s.CompletedRuns(ctx, "crm"); n != 5 {
		t.Errorf("CompletedRuns after prune = %d, want 5", n)
	}
	if erp, _ := s.Runs(ctx, "erp", 0); len(erp) != 1 {
		t.Errorf("erp has %d runs after prune, want 1", len(erp))
	}

	if _, err := s.PruneRuns(ctx, 0); err == nil {
		t.Error("PruneRuns(0) succeeded")
	}
}
