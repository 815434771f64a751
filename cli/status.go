package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"

	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/state"
)

type statusFlags struct {
	job  string
	runs int
	json bool
}

func (a *app) statusCommand() *cobra.Command {
	var flags statusFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each job's last runs, counts and next scheduled time",
		Long: `Show each job's last run from the run history in the state file: start,
end, outcome, row counts and error, the number of rejected rows waiting,
and the next time its schedule fires when ` + "`atlas-sync daemon`" + ` runs it
(for "@every" schedules, estimated from the start of the last run).

The state file is opened read-only and without the lock, so status works
while the daemon or a run is using the file. --json prints the same data
for scripts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.status(cmd.Context(), flags)
		},
	}
	cmd.Flags().StringVar(&flags.job, "job", "", "show only the job with this name")
	cmd.Flags().IntVar(&flags.runs, "runs", 1, "number of recent runs to show per job")
	cmd.Flags().BoolVar(&flags.json, "json", false, "print JSON instead of a table")
	return cmd
}

// jobStatus is one job in the output of status.
type jobStatus struct {
	Name         string      `json:"name"`
	Configured   bool        `json:"configured"` // false for jobs found only in the state file
	Schedule     string      `json:"schedule,omitempty"`
	NextRun      *time.Time  `json:"next_run,omitempty"` // when the daemon runs the job on its schedule
	RejectedRows int         `json:"rejected_rows"`      // rejected rows waiting, see `atlas-sync rejected`
	Runs         []runStatus `json:"runs"`               // newest first
}

// runStatus is one run in the output of status.
type runStatus struct {
	ID       int64        `json:"id"`
	Mode     string       `json:"mode"`
	Outcome  string       `json:"outcome"`
	Started  time.Time    `json:"started"`
	Finished *time.Time   `json:"finished,omitempty"`
	Duration string       `json:"duration,omitempty"`
	Counts   state.Counts `json:"counts"`
	Error    string       `json:"error,omitempty"`
}

type statusReport struct {
	StatePath string      `json:"state_path"`
	Jobs      []jobStatus `json:"jobs"`
}

func (a *app) status(ctx context.Context, flags statusFlags) error {
	if flags.runs < 1 {
		return &exitError{code: ExitUsage, err: fmt.Errorf("--runs %d: expected 1 or more", flags.runs)}
	}
	cfg, err := a.loadConfigForInspection()
	if err != nil {
		return err
	}
	location, err := time.LoadLocation(cfg.Daemon.TimeZone)
	if err != nil {
		return &exitError{code: ExitFailed, err: fmt.Errorf("daemon.time_zone %q: %w", cfg.Daemon.TimeZone, err)}
	}

	report := statusReport{StatePath: cfg.State.Path}
	store, err := state.Open(ctx, cfg.State.Path, state.Options{ReadOnly: true})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// No run has created the file yet: every job has an empty history.
		store = nil
	case err != nil:
		return &exitError{code: ExitFailed, err: err}
	default:
		defer store.Close()
	}

	report.Jobs, err = collectStatus(ctx, cfg, store, location, flags, time.Now())
	if err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	if flags.job != "" && len(report.Jobs) == 0 {
		return &exitError{code: ExitUsage, err: fmt.Errorf("job %q is neither configured nor in state file %s", flags.job, cfg.State.Path)}
	}

	if flags.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	printStatus(a.stdout, report, location, store == nil)
	return nil
}

// collectStatus returns the configured jobs in configuration order, then
// jobs found only in the state file (renamed or removed jobs).
func collectStatus(ctx context.Context, cfg *config.Config, store *state.Store, location *time.Location, flags statusFlags, now time.Time) ([]jobStatus, error) {
	var jobs []jobStatus
	seen := map[string]bool{}
	for _, jc := range cfg.Jobs {
		seen[jc.Name] = true
		if flags.job != "" && jc.Name != flags.job {
			continue
		}
		jobs = append(jobs, jobStatus{Name: jc.Name, Configured: true, Schedule: jc.Schedule})
	}
	if store == nil {
		setNextRuns(jobs, location, now)
		return jobs, nil
	}

	stored, err := store.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	for _, name := range stored {
		if !seen[name] && (flags.job == "" || flags.job == name) {
			jobs = append(jobs, jobStatus{Name: name})
		}
	}

	for i := range jobs {
		runs, err := store.Runs(ctx, jobs[i].Name, flags.runs)
		if err != nil {
			return nil, err
		}
		for _, run := range runs {
			jobs[i].Runs = append(jobs[i].Runs, newRunStatus(run))
		}
		rejected, err := store.Rejected(ctx, jobs[i].Name)
		if err != nil {
			return nil, err
		}
		jobs[i].RejectedRows = len(rejected)
	}
	setNextRuns(jobs, location, now)
	return jobs, nil
}

func setNextRuns(jobs []jobStatus, location *time.Location, now time.Time) {
	for i := range jobs {
		var lastStart time.Time
		if len(jobs[i].Runs) > 0 {
			lastStart = jobs[i].Runs[0].Started
		}
		if next, ok := nextRun(jobs[i].Schedule, location, now, lastStart); ok {
			jobs[i].NextRun = &next
		}
	}
}

// nextRun returns the next time spec fires after now, the way the daemon
// computes it: specs without CRON_TZ= follow daemon.time_zone.
//
// An "@every" schedule counts from the daemon's start, which the state file
// does not record. Its ticks fall on whole seconds, one interval apart, so
// the next one is estimated from the start of the job's last run. Without a
// run the next time is unknown.
func nextRun(spec string, location *time.Location, now, lastStart time.Time) (time.Time, bool) {
	if spec == "" {
		return time.Time{}, false
	}
	schedule, err := cron.ParseStandard(spec)
	if err != nil {
		return time.Time{}, false // config.Load has validated it; nothing to show
	}
	if every, ok := schedule.(cron.ConstantDelaySchedule); ok {
		if lastStart.IsZero() || every.Delay <= 0 {
			return time.Time{}, false
		}
		tick := lastStart.Truncate(time.Second)
		if now.Before(tick) {
			return tick.Add(every.Delay), true
		}
		elapsed := now.Sub(tick) / every.Delay
		return tick.Add((elapsed + 1) * every.Delay), true
	}
	next := schedule.Next(now.In(location))
	return next, !next.IsZero()
}

func newRunStatus(run state.Run) runStatus {
	rs := runStatus{
		ID:      run.ID,
		Mode:    run.Mode,
		Outcome: run.Outcome,
		Started: run.Started,
		Counts:  run.Counts,
		Error:   run.Error,
	}
	if !run.Finished.IsZero() {
		finished := run.Finished
		rs.Finished = &finished
		rs.Duration = run.Finished.Sub(run.Started).Round(time.Millisecond).String()
	}
	return rs
}

const statusTimeLayout = "2006-01-02 15:04:05 MST"

// printStatus writes one table row per run, then the errors of the runs
// shown, so that long messages do not break the table.
func printStatus(w io.Writer, report statusReport, location *time.Location, noFile bool) {
	fmt.Fprintf(w, "state file: %s", report.StatePath)
	if noFile {
		fmt.Fprint(w, " (does not exist yet: no run has been recorded)")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tOUTCOME\tSTARTED\tDURATION\tREAD\tSENT\tUNCHANGED\tREJECTED\tUNREADABLE\tUNSENT\tNEXT RUN")
	var notes []string
	for _, job := range report.Jobs {
		next := "-"
		switch {
		case job.NextRun != nil:
			next = job.NextRun.In(location).Format(statusTimeLayout)
		case !job.Configured:
			next = "not configured"
		case job.Schedule == "":
			next = "no schedule"
		}
		if len(job.Runs) == 0 {
			fmt.Fprintf(tw, "%s\tnever run\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n", job.Name, next)
		}
		for i, run := range job.Runs {
			duration := run.Duration
			if duration == "" {
				duration = "-"
			}
			c := run.Counts
			if i > 0 {
				next = ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n",
				job.Name, run.Outcome, run.Started.In(location).Format(statusTimeLayout), duration,
				c.Read, c.Sent, c.Unchanged, c.Rejected, c.Unreadable, c.Unsent, next)
			if run.Error != "" {
				notes = append(notes, fmt.Sprintf("%s run %d: %s", job.Name, run.ID, run.Error))
			}
		}
		if job.RejectedRows > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d rejected rows wait for a change or a retry; list them with `atlas-sync rejected --job %s`", job.Name, job.RejectedRows, job.Name))
		}
	}
	tw.Flush()
	for _, job := range report.Jobs {
		if job.NextRun != nil {
			notes = append([]string{"NEXT RUN is when `atlas-sync daemon` starts the job, if it is running; for @every schedules it is estimated from the last run."}, notes...)
			break
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n"))
	}
}
