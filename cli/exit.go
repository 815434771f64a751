package cli

import (
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// Exit statuses of atlas-sync. README.md documents them; keep both in step.
const (
	// ExitOK: every row was sent, unchanged, skipped or a duplicate.
	ExitOK = 0

	// ExitFailed: the run could not proceed: invalid configuration, token
	// rejected, checkpoint unusable or locked, source unreadable, or Atlas
	// failing past the retries.
	ExitFailed = 1

	// ExitUsage: the command line is invalid.
	ExitUsage = 2

	// ExitPartial: the run completed, but some rows were rejected by Atlas
	// or could not be read or mapped. They are listed in the log and by
	// `atlas-sync rejected`.
	ExitPartial = 3

	// ExitIncomplete: the run stopped sending at its budget
	// (max_requests, max_duration) or because Atlas kept answering 429;
	// the next run continues with the changes left.
	ExitIncomplete = 4

	// ExitInterrupted: a signal stopped the run; what Atlas acknowledged
	// is recorded.
	ExitInterrupted = 130
)

// severity orders outcomes so that a run of several jobs exits with the
// status of the worst one.
func severity(o atlassync.Outcome) int {
	switch o {
	case atlassync.OutcomeOK:
		return 0
	case atlassync.OutcomePartial:
		return 1
	case atlassync.OutcomeBudget, atlassync.OutcomeRateLimited:
		return 2
	case atlassync.OutcomeCanceled:
		return 3
	default:
		return 4
	}
}

func exitStatus(o atlassync.Outcome) int {
	switch o {
	case atlassync.OutcomeOK:
		return ExitOK
	case atlassync.OutcomePartial:
		return ExitPartial
	case atlassync.OutcomeBudget, atlassync.OutcomeRateLimited:
		return ExitIncomplete
	case atlassync.OutcomeCanceled:
		return ExitInterrupted
	default:
		return ExitFailed
	}
}
