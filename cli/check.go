package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/mapping"
	"github.com/atlas-sync/atlas-sync/sources"
)

func (a *app) checkCommand() *cobra.Command {
	var job string
	var offline bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration, the Atlas token and each job's source without sending anything",
		Long: `Load and validate the configuration, make one read-only request to Atlas
(GET /v1/accounts?limit=1) to verify the base URL and the token, open every
job's source, verify that each mapped column exists, and map the first
record. No account is sent and the checkpoint is not opened. --offline skips
the request to Atlas. Exit 0 when everything passed, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.check(cmd.Context(), job, offline)
		},
	}
	cmd.Flags().StringVar(&job, "job", "", "check only the job with this name")
	cmd.Flags().BoolVar(&offline, "offline", false, "do not contact Atlas; check the configuration and the sources only")
	return cmd
}

func (a *app) check(ctx context.Context, name string, offline bool) error {
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
	if !offline {
		if err := checkAtlas(ctx, cfg, a.build.Version); err != nil {
			failed++
			fmt.Fprintf(a.stdout, "FAIL  atlas %s: %v\n", cfg.Atlas.BaseURL, err)
		} else {
			fmt.Fprintf(a.stdout, "ok    atlas %s: the token is accepted\n", cfg.Atlas.BaseURL)
		}
	}
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
		return &exitError{code: ExitFailed, err: fmt.Errorf("%d checks failed", failed)}
	}
	return nil
}

// checkAtlas lists one account, which proves that the base URL responds and
// that the token may read. Whether it may also write shows at the first
// upsert.
func checkAtlas(ctx context.Context, cfg *config.Config, version string) error {
	client, err := newAtlasClient(cfg, version)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()

	if _, err := client.ListAccounts(ctx, "", 1); err != nil {
		if atlas.Classify(err) == atlas.ClassUnauthorized {
			return fmt.Errorf("%w; check atlas.token", err)
		}
		return err
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
