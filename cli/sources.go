package cli

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/mapping"
	"github.com/atlas-sync/atlas-sync/sources"
	csvsource "github.com/atlas-sync/atlas-sync/sources/csv"
	pgsource "github.com/atlas-sync/atlas-sync/sources/postgres"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// jobSpec is a configured job ready to run, with a cheap way to learn its
// source's columns for the checks that run before anything is sent.
type jobSpec struct {
	job    atlassync.Job
	config config.Job
}

// buildJobs turns the configured jobs into engine jobs. Adding a source type
// means adding a case to openerFor; the engine does not change.
func buildJobs(cfg *config.Config) ([]jobSpec, error) {
	var problems []error
	specs := make([]jobSpec, 0, len(cfg.Jobs))
	for i, jc := range cfg.Jobs {
		open, err := openerFor(jc.Source, jc.Mapping.ExternalID)
		if err != nil {
			problems = append(problems, fmt.Errorf("jobs[%d].source: %w", i, err))
			continue
		}
		specs = append(specs, jobSpec{
			config: jc,
			job: atlassync.Job{
				Name:        jc.Name,
				Open:        open,
				Mapping:     jc.Mapping,
				MaxRequests: jc.MaxRequests,
				MaxDuration: jc.MaxDuration.D(),
			},
		})
	}
	return specs, errors.Join(problems...)
}

// openerFor returns the opener of a job's source. keyColumn, the mapping's
// external_id column, lets database sources name rows by key in positions.
func openerFor(sc config.Source, keyColumn string) (sources.Opener, error) {
	switch sc.Type {
	case "csv":
		delimiter, _ := utf8.DecodeRuneInString(sc.Delimiter)
		opts := csvsource.Options{Path: sc.Path, Delimiter: delimiter, Encoding: sc.Encoding}
		return func(ctx context.Context, _ sources.OpenOptions) (sources.Source, error) {
			return csvsource.Open(ctx, opts)
		}, nil
	case "postgres":
		opts := pgsource.Options{
			DSN:              sc.DSN,
			Table:            sc.Table,
			Query:            sc.Query,
			CursorColumn:     sc.CursorColumn,
			Overlap:          sc.Overlap.D(),
			StatementTimeout: sc.StatementTimeout.D(),
			KeyColumn:        keyColumn,
		}
		if sc.FullEvery != nil {
			opts.FullEvery = *sc.FullEvery
		}
		return func(ctx context.Context, run sources.OpenOptions) (sources.Source, error) {
			src, err := pgsource.Open(ctx, opts, run)
			if err != nil {
				return nil, err
			}
			return src, nil
		}, nil
	default:
		return nil, fmt.Errorf("unknown source type %q", sc.Type)
	}
}

// preflight opens each job's source, checks that every mapped column
// exists, and closes it again. It runs before the first request so that a
// configuration mistake in any job stops the run before anything is sent.
func preflight(ctx context.Context, specs []jobSpec) error {
	var problems []error
	for _, spec := range specs {
		src, err := spec.job.Open(ctx, sources.OpenOptions{})
		if err != nil {
			problems = append(problems, fmt.Errorf("job %s: open source: %w", spec.job.Name, err))
			continue
		}
		_, err = mapping.New(spec.job.Mapping, src.Columns())
		closeErr := src.Close()
		if err != nil {
			problems = append(problems, fmt.Errorf("job %s: mapping: %w", spec.job.Name, err))
		}
		if closeErr != nil {
			problems = append(problems, fmt.Errorf("job %s: close source: %w", spec.job.Name, closeErr))
		}
	}
	return errors.Join(problems...)
}
