package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

type runFlags struct {
	job         string
	dryRun      bool
	full        bool
	resume      bool
	maxRequests int
	maxDuration time.Duration
}

func (a *app) runCommand() *cobra.Command {
	var flags runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the configured jobs once and exit",
		Long: `Run every configured job once (or only --job), sending new and changed
accounts to Atlas, and exit with a status that tells how it went:
0 ok, 1 failed, 3 some rows rejected or unreadable, 4 stopped at a budget
or rate limit, 130 interrupted.

The first SIGINT or SIGTERM stops reading and lets requests in flight
finish (daemon.shutdown_grace); a second one cancels them. Acknowledged
rows are recorded in the checkpoint either way.

A backfill (--full) that stops early, at a budget, a signal or a crash,
continues with --full --resume: rows acknowledged since that full pass
started are not sent again. Without an unfinished pass, --resume starts
a new one, so a scheduled "run --full --resume --max-duration 8h" works
through a backfill that takes several days.

On a terminal a progress bar shows rows read, sent and rejected, the send
rate and an ETA that accounts for the rate limit; otherwise a progress
line is logged every log.progress_interval.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if flags.maxRequests < 0 || flags.maxDuration < 0 {
				return &usageError{err: errors.New("--max-requests and --max-duration must be 0 (no limit) or positive")}
			}
			return a.run(cmd, flags)
		},
	}
	cmd.Flags().StringVar(&flags.job, "job", "", "run only the job with this name")
	cmd.Flags().BoolVar(&flags.dryRun, "dry-run", false, "read, map and diff, print what would be sent, send nothing")
	cmd.Flags().BoolVar(&flags.full, "full", false, "send every row whatever the checkpoint holds (a backfill)")
	cmd.Flags().BoolVar(&flags.resume, "resume", false, "continue the unfinished full pass, skipping rows it already sent (implies --full)")
	cmd.Flags().IntVar(&flags.maxRequests, "max-requests", 0, "stop sending after this many upsert requests per job, overriding max_requests; 0 means no limit")
	cmd.Flags().DurationVar(&flags.maxDuration, "max-duration", 0, "stop sending after this long per job (\"8h\"), overriding max_duration; 0 means no limit")
	return cmd
}

func (a *app) run(cmd *cobra.Command, flags runFlags) error {
	ctx, kill, release := stopOnSignal(cmd.Context())
	defer release()

	svc, err := a.open(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err := svc.close(); err != nil {
			fmt.Fprintf(a.stderr, "atlas-sync: close checkpoint: %v\n", err)
		}
	}()

	specs, err := selectJobs(svc.jobs, flags.job)
	if err != nil {
		return &exitError{code: ExitUsage, err: err}
	}
	mappingErr, sourceErr := preflight(ctx, specs)
	if mappingErr != nil {
		return &exitError{code: ExitFailed, err: formatConfigError(mappingErr)}
	}
	if sourceErr != nil {
		// Each such job fails in its own run below, which records the
		// error in the run history; the other jobs still run.
		for _, problem := range flatten(sourceErr) {
			svc.logger.Warn("source cannot be opened; its job will fail", zap.Error(problem))
		}
	}

	opts := atlassync.RunOptions{DryRun: flags.dryRun, Full: flags.full || flags.resume, Resume: flags.resume, Kill: kill}
	if flags.dryRun {
		opts.DryRunOutput = a.stdout
	}
	maxRequestsSet := cmd.Flags().Changed("max-requests")
	maxDurationSet := cmd.Flags().Changed("max-duration")
	var display progressDisplay
	if !flags.dryRun {
		// A dry run prints to stdout, which a bar on the same terminal
		// would garble.
		display = a.newProgressDisplay(svc.logger, svc.cfg.Log.ProgressInterval.D())
	}

	worst := atlassync.OutcomeOK
	for _, spec := range specs {
		if ctx.Err() != nil {
			break
		}
		if flags.dryRun {
			fmt.Fprintf(a.stdout, "# job %s: changed externalIds (externalId, position)\n", spec.job.Name)
		}
		job := spec.job
		if maxRequestsSet {
			job.MaxRequests = flags.maxRequests
		}
		if maxDurationSet {
			job.MaxDuration = flags.maxDuration
		}
		if display != nil {
			opts.Progress, opts.ProgressInterval = display.options(job.Name)
		}
		res := svc.engine.Run(ctx, job, opts)
		if display != nil {
			display.finish()
		}
		printSummary(a.stdout, res)
		if severity(res.Outcome) > severity(worst) {
			worst = res.Outcome
		}
	}
	if ctx.Err() != nil && severity(worst) < severity(atlassync.OutcomeCanceled) {
		worst = atlassync.OutcomeCanceled
	}

	if code := exitStatus(worst); code != ExitOK {
		return &exitError{code: code}
	}
	return nil
}

// printSummary writes one human line per job run.
func printSummary(w io.Writer, res atlassync.Result) {
	c := res.Counts
	verb := "sent"
	sent := c.Sent
	if res.Mode == "dry-run" {
		verb = "would send"
		sent = res.Unsent
	}
	fmt.Fprintf(w, "%s: %s: read %d, unchanged %d, %s %d", res.Job, describeOutcome(res), c.Read, c.Unchanged, verb, sent)
	if res.Mode != "dry-run" {
		fmt.Fprintf(w, " (created %d, updated %d)", c.Created, c.Updated)
	}
	fmt.Fprintf(w, ", rejected %d, unreadable %d, duplicate %d, skipped %d", c.Rejected, c.Unreadable, c.Duplicate, c.Skipped)
	if res.Mode != "dry-run" && res.Unsent > 0 {
		fmt.Fprintf(w, ", left for the next run %d", res.Unsent)
	}
	fmt.Fprintf(w, ", retries %d, in %s\n", c.Retries, res.Duration.Round(time.Millisecond))
	if res.FullPass.Resumed {
		fmt.Fprintf(w, "%s: resumed the full pass started at %s: %d of %d rows read were already sent\n",
			res.Job, res.FullPass.Started.Format(time.RFC3339), res.FullPass.AlreadySent, c.Read)
	}
	if res.Mode == "full" && res.Outcome != atlassync.OutcomeFailed && !res.FullPass.Finished {
		fmt.Fprintf(w, "%s: the full pass is unfinished; run --full --resume to continue it\n", res.Job)
	}
	switch {
	case res.Outcome == atlassync.OutcomeCanceled:
		fmt.Fprintf(w, "%s: interrupted by a signal; what Atlas acknowledged is recorded and the next run continues (%d changes read here were not sent)\n", res.Job, res.Unsent)
	case res.Err != nil:
		fmt.Fprintf(w, "%s: %v\n", res.Job, res.Err)
	}
}

// describeOutcome words the outcome for the summary line. For a run
// stopped by its budget or by 429s it includes the changes left.
func describeOutcome(res atlassync.Result) string {
	switch res.Outcome {
	case atlassync.OutcomeBudget:
		return fmt.Sprintf("budget reached, %d changes left", res.Unsent)
	case atlassync.OutcomeRateLimited:
		return fmt.Sprintf("rate limited, %d changes left", res.Unsent)
	default:
		return string(res.Outcome)
	}
}
