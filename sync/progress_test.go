package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/atlas-sync/atlas-sync/atlas/emulator"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

func TestProgressReportsFinalCounts(t *testing.T) {
	h := newHarness(t, emulator.Options{})
	h.writeAccounts(500, nil)

	var reports []atlassync.Progress
	res := h.run(context.Background(), atlassync.RunOptions{
		Progress:         func(p atlassync.Progress) { reports = append(reports, p) },
		ProgressInterval: time.Millisecond,
	})
	if res.Outcome != atlassync.OutcomeOK {
		t.Fatalf("run: %s (%v)", res.Outcome, res.Err)
	}
	if len(reports) == 0 {
		t.Fatal("no progress report")
	}
	last := reports[len(reports)-1]
	if last.Counts != res.Counts {
		t.Errorf("last report counts %+v, want the result's %+v", last.Counts, res.Counts)
	}
	if !last.ReadDone || last.Remaining != 0 || last.ETA != 0 {
		t.Errorf("last report: read done %v, remaining %d, ETA %s; want true, 0, 0", last.ReadDone, last.Remaining, last.ETA)
	}
	if last.Size == 0 || last.BytesRead != last.Size {
		t.Errorf("last report read %d of %d bytes, want the whole file", last.BytesRead, last.Size)
	}
	for i := 1; i < len(reports); i++ {
		if reports[i].Counts.Read < reports[i-1].Counts.Read {
			t.Errorf("report %d read %d rows, fewer than report %d", i, reports[i].Counts.Read, i-1)
		}
	}
}
