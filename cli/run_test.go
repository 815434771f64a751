package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/atlas-sync/atlas-sync/state"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

func TestSummaryOfBudgetStop(t *testing.T) {
	var out bytes.Buffer
	printSummary(&out, atlassync.Result{
		Job:      "crm",
		Mode:     "incremental",
		Outcome:  atlassync.OutcomeBudget,
		Counts:   state.Counts{Read: 40, Changed: 40, Sent: 15, Unsent: 25},
		Unsent:   25,
		Duration: time.Second,
	})
	if got := out.String(); !strings.HasPrefix(got, "crm: budget reached, 25 changes left: read 40,") {
		t.Errorf("summary = %q, want it to start with the budget and the changes left", got)
	}
}

func TestSummaryOfResumedFullPass(t *testing.T) {
	var out bytes.Buffer
	started := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	printSummary(&out, atlassync.Result{
		Job:      "crm",
		Mode:     "full",
		Outcome:  atlassync.OutcomeCanceled,
		Counts:   state.Counts{Read: 1000, Unchanged: 600, Changed: 400, Sent: 300, Unsent: 100},
		Unsent:   100,
		FullPass: atlassync.FullPassInfo{Started: started, Resumed: true, AlreadySent: 600},
	})
	got := out.String()
	if !strings.Contains(got, "crm: resumed the full pass started at 2026-03-01T02:00:00Z: 600 of 1000 rows read were already sent\n") {
		t.Errorf("summary = %q, want how far the resumed pass is", got)
	}
	if !strings.Contains(got, "crm: the full pass is unfinished; run --full --resume to continue it\n") {
		t.Errorf("summary = %q, want the hint to resume", got)
	}
}

func TestSummaryOfRateLimitedRun(t *testing.T) {
	got := describeOutcome(atlassync.Result{Outcome: atlassync.OutcomeRateLimited, Unsent: 7})
	if got != "rate limited, 7 changes left" {
		t.Errorf("describeOutcome = %q, want %q", got, "rate limited, 7 changes left")
	}
}
