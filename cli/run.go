package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

type runFlags struct {
	job    string
	dryRun bool
	full   bool
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
rows are recorded in the checkpoint either way.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.run(cmd, flags)
		},
	}
	cmd.Flags().StringVar(&flags.job, "job", "", "run only the job with this name")
	cmd.Flags().BoolVar(&flags.dryRun, "dry-run", false, "read, map and diff, print what would be sent, send nothing")
	cmd.Flags().BoolVar(&flags.full, "full", false, "send every row whatever the checkpoint holds (a backfill)")
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
	if err := preflight(ctx, specs); err != nil {
		return &exitError{code: ExitFailed, err: formatConfigError(err)}
	}

	opts := atlassync.RunOptions{DryRun: flags.dryRun, Full: flags.full, Kill: kill}
	if flags.dryRun {
		opts.DryRunOutput = a.stdout
	}

	worst := atlassync.OutcomeOK
	for _, spec := range specs {
		if ctx.Err() != nil {
			break
		}
		if flags.dryRun {
			fmt.Fprintf(a.stdout, "# job %s: changed externalIds (externalId, position)\n", spec.job.Name)
		}
		res := svc.engine.Run(ctx, spec.job, opts)
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
	fmt.Fprintf(w, "%s: %s: read %d, unchanged %d, %s %d (created %d, updated %d), rejected %d, unreadable %d, duplicate %d, skipped %d",
		res.Job, res.Outcome, c.Read, c.Unchanged, verb, sent, c.Created, c.Updated, c.Rejected, c.Unreadable, c.Duplicate, c.Skipped)
	if res.Mode != "dry-run" && res.Unsent > 0 {
		fmt.Fprintf(w, ", left for the next run %d", res.Unsent)
	}
	fmt.Fprintf(w, ", retries %d, in %s\n", c.Retries, res.Duration.Round(time.Millisecond))
	if res.Err != nil {
		fmt.Fprintf(w, "%s: %v\n", res.Job, res.Err)
	}
}
