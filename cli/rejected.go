package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/state"
)

type rejectedFlags struct {
	job   string
	json  bool
	retry bool
}

func (a *app) rejectedCommand() *cobra.Command {
	var flags rejectedFlags
	cmd := &cobra.Command{
		Use:   "rejected",
		Short: "List the rows Atlas rejected, or queue them to be sent again",
		Long: `List the rows Atlas rejected (4xx answers other than 401, 403 and 429)
with the HTTP status, Atlas' message, the source position and the time.
A rejected row is not sent again until its data changes.

--retry deletes the rejected rows (of --job, or of every job) so that the
next run sends them again, for example after a custom field was created
in Atlas. It needs the state file's lock: stop the daemon first, or run it
between scheduled runs of a one-shot setup.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if flags.retry {
				return a.retryRejected(cmd.Context(), flags)
			}
			return a.listRejected(cmd.Context(), flags)
		},
	}
	cmd.Flags().StringVar(&flags.job, "job", "", "only the rows of the job with this name")
	cmd.Flags().BoolVar(&flags.json, "json", false, "print JSON instead of a table")
	cmd.Flags().BoolVar(&flags.retry, "retry", false, "delete the rejected rows so that the next run sends them again")
	return cmd
}

// rejectedRow is one row in the output of rejected --json.
type rejectedRow struct {
	Job        string    `json:"job"`
	ExternalID string    `json:"external_id"`
	Status     int       `json:"status"`
	Message    string    `json:"message"`
	Position   string    `json:"position"`
	At         time.Time `json:"at"`
}

func (a *app) listRejected(ctx context.Context, flags rejectedFlags) error {
	cfg, err := a.loadConfigForInspection()
	if err != nil {
		return err
	}
	store, err := state.Open(ctx, cfg.State.Path, state.Options{ReadOnly: true})
	if err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	defer store.Close()

	if err := checkJobKnown(ctx, store, configuredNames(cfg.Jobs), flags.job); err != nil {
		return err
	}
	list, err := store.Rejected(ctx, flags.job)
	if err != nil {
		return &exitError{code: ExitFailed, err: err}
	}

	if flags.json {
		rows := make([]rejectedRow, 0, len(list))
		for _, r := range list {
			rows = append(rows, rejectedRow{Job: r.Job, ExternalID: r.ExternalID, Status: r.Status, Message: r.Message, Position: r.Position, At: r.At})
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	printRejected(a.stdout, list)
	return nil
}

func printRejected(w io.Writer, list []state.Rejection) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no rejected rows")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tEXTERNAL ID\tSTATUS\tPOSITION\tREJECTED AT\tMESSAGE")
	for _, r := range list {
		// Tabs and newlines in Atlas' message would break the table.
		message := strings.Join(strings.Fields(r.Message), " ")
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", r.Job, r.ExternalID, r.Status, r.Position, r.At.Format(statusTimeLayout), message)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d rejected rows. A row is sent again when its data changes, or after `atlas-sync rejected --retry`.\n", len(list))
}

func (a *app) retryRejected(ctx context.Context, flags rejectedFlags) error {
	cfg, err := a.loadConfigForInspection()
	if err != nil {
		return err
	}
	store, err := state.Open(ctx, cfg.State.Path, state.Options{})
	if err != nil {
		if _, locked := errors.AsType[*state.LockedError](err); locked {
			err = fmt.Errorf("%w\n--retry changes the state file, so it needs the lock: stop the daemon (systemctl stop atlas-sync), retry, then start it again", err)
		}
		return &exitError{code: ExitFailed, err: err}
	}

	if err := checkJobKnown(ctx, store, configuredNames(cfg.Jobs), flags.job); err != nil {
		store.Close()
		return err
	}
	queued, err := store.RetryRejected(ctx, flags.job)
	closeErr := store.Close()
	if err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	if closeErr != nil {
		return &exitError{code: ExitFailed, err: closeErr}
	}

	if flags.json {
		enc := json.NewEncoder(a.stdout)
		return enc.Encode(map[string]int64{"queued": queued})
	}
	scope := "all jobs"
	if flags.job != "" {
		scope = "job " + flags.job
	}
	fmt.Fprintf(a.stdout, "queued %d rejected rows of %s; the next run sends them again\n", queued, scope)
	return nil
}

// checkJobKnown returns a usage error when name is set but is neither a
// configured job nor a job in the state file, which is most likely a typo.
func checkJobKnown(ctx context.Context, store *state.Store, configured []string, name string) error {
	if name == "" || slices.Contains(configured, name) {
		return nil
	}
	stored, err := store.Jobs(ctx)
	if err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	if slices.Contains(stored, name) {
		return nil
	}
	known := append(slices.Clone(configured), stored...)
	slices.Sort(known)
	known = slices.Compact(known)
	return &exitError{code: ExitUsage, err: fmt.Errorf("job %q not found in the configuration or the state file; known jobs: %s", name, strings.Join(known, ", "))}
}

func configuredNames(jobs []config.Job) []string {
	names := make([]string, 0, len(jobs))
	for _, job := range jobs {
		names = append(names, job.Name)
	}
	return names
}
