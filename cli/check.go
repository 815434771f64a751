package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/atlas-sync/atlas-sync/mapping"
	"github.com/atlas-sync/atlas-sync/sources"
)

func (a *app) checkCommand() *cobra.Command {
	var job string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and each job's source without sending anything",
		Long: `Load and validate the configuration, open every job's source, verify
that each mapped column exists, and map the first record. Nothing is sent to
Atlas and the checkpoint is not opened. Exit 0 when every job passed, 1
otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.check(cmd.Context(), job)
		},
	}
	cmd.Flags().StringVar(&job, "job", "", "check only the job with this name")
	return cmd
}

func (a *app) check(ctx context.Context, name string) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	jobs, err := buildJobs(cfg, nil)
	if err != nil {
		return &exitError{code: ExitFailed, err: formatConfigError(err)}
	}
	specs, err := selectJobs(jobs, name)
	if err != nil {
		return &exitError{code: ExitUsage, err: err}
	}

	failed := 0
	for _, spec := range specs {
		detail, err := checkJob(ctx, spec)
		if err != nil {
			failed++
			fmt.Fprintf(a.stdout, "FAIL  %s (%s): %v\n", spec.job.Name, spec.config.Source.Type, err)
			continue
		}
		fmt.Fprintf(a.stdout, "ok    %s (%s): %s\n", spec.job.Name, spec.config.Source.Type, detail)
	}
	if failed > 0 {
		return &exitError{code: ExitFailed, err: fmt.Errorf("%d of %d jobs failed the check", failed, len(specs))}
	}
	return nil
}

// checkJob opens the source, compiles the mapping against its columns and
// maps the first record.
func checkJob(ctx context.Context, spec jobSpec) (string, error) {
	src, err := spec.job.Open(ctx, sources.OpenOptions{})
	if err != nil {
		return "", fmt.Errorf("open source: %w", err)
	}
	defer src.Close()

	mapper, err := mapping.New(spec.job.Mapping, src.Columns())
	if err != nil {
		return "", fmt.Errorf("mapping: %w", err)
	}

	rec, err := src.Next(ctx)
	switch {
	case err == nil:
		if rec.Skip != "" {
			return fmt.Sprintf("%d columns, mapping uses %s; first record skipped by the source (%s)", len(src.Columns()), strings.Join(mapper.Columns(), ", "), rec.Skip), nil
		}
		if _, err := mapper.Map(rec); err != nil {
			return "", fmt.Errorf("first record: %w", err)
		}
		return fmt.Sprintf("%d columns, mapping uses %s; first record maps", len(src.Columns()), strings.Join(mapper.Columns(), ", ")), nil
	case sources.IsRowError(err):
		return "", fmt.Errorf("first record: %w", err)
	case errors.Is(err, io.EOF):
		return fmt.Sprintf("%d columns, mapping uses %s; the source has no records", len(src.Columns()), strings.Join(mapper.Columns(), ", ")), nil
	default:
		return "", fmt.Errorf("read the first record: %w", err)
	}
}
