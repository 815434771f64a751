package sync

import (
	"errors"
	"time"

	"github.com/atlas-sync/atlas-sync/state"
)

// Outcome classifies how a run ended. Its string form is stored in the run
// history and printed by `status`.
type Outcome string

// Outcomes, from best to worst.
const (
	// OutcomeOK: every row read was sent, unchanged, skipped or a
	// duplicate.
	OutcomeOK Outcome = "ok"

	// OutcomePartial: the run completed, but Atlas rejected some rows or
	// some rows could not be read or mapped.
	OutcomePartial Outcome = "partial"

	// OutcomeBudget: the run stopped sending at max_requests or
	// max_duration; the next run continues with the changes left.
	OutcomeBudget Outcome = "budget"

	// OutcomeRateLimited: Atlas responded with 429 for longer than
	// rate_limit_patience without a success; the next run continues.
	OutcomeRateLimited Outcome = "rate_limited"

	// OutcomeCanceled: the run was stopped by a signal or a shutdown.
	OutcomeCanceled Outcome = "canceled"

	// OutcomeFailed: the run could not proceed (source unreadable, token
	// rejected, checkpoint unusable, Atlas failing past the retries).
	OutcomeFailed Outcome = "failed"
)

// Result summarises one run of one job. Counts.Read equals the sum of
// Unchanged, Sent, Rejected, Unreadable, Duplicate, Skipped and Unsent.
type Result struct {
	Job      string
	Mode     string
	Outcome  Outcome
	Counts   state.Counts
	Started  time.Time
	Duration time.Duration

	// Unsent counts changed rows that were read but not acknowledged:
	// left by a budget, a rate limit, a cancellation or a failure. The
	// next run sends them.
	Unsent int64

	// FullPass describes the full pass of a full run; zero otherwise.
	FullPass FullPassInfo

	// Err is the reason for OutcomeFailed, OutcomeCanceled and
	// OutcomeRateLimited, and nil otherwise.
	Err error
}

// Errors that end a run. Callers match them with errors.Is to choose an
// exit status.
var (
	// ErrUnauthorized: Atlas rejected the token (401 or 403). Retrying
	// cannot help; the token must be replaced.
	ErrUnauthorized = errors.New("atlas rejected the token")

	// ErrConfig: the job's configuration does not fit its source (a
	// mapped column is missing, for example). Nothing was sent.
	ErrConfig = errors.New("invalid job configuration")

	// ErrRateLimited: Atlas kept responding with 429 past the patience.
	ErrRateLimited = errors.New("rate limited by atlas")

	// ErrBudget: the run reached max_requests or max_duration.
	ErrBudget = errors.New("run budget reached")
)
