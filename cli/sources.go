package cli

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/mapping"
	"github.com/atlas-sync/atlas-sync/sources"
	csvsource "github.com/atlas-sync/atlas-sync/sources/csv"
	pgsource "github.com/atlas-sync/atlas-sync/sources/postgres"
	"github.com/atlas-sync/atlas-sync/sources/salesforce"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// jobSpec is a configured job ready to run, with a cheap way to learn its
// source's columns for the checks that run before anything is sent.
type jobSpec struct {
	job    atlassync.Job
	config config.Job
}

// buildJobs turns the configured jobs into engine jobs. Adding a source type
// means adding a case to openerFor; the engine does not change. Sources log
// to logger, which may be nil. A salesforce job reading the Account object
// gets the built-in preset mapping, extended and overridden by its own.
func buildJobs(cfg *config.Config, logger *zap.Logger) ([]jobSpec, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	var problems []error
	specs := make([]jobSpec, 0, len(cfg.Jobs))
	for i, jc := range cfg.Jobs {
		if jc.Source.Type == "salesforce" && salesforce.IsAccountObject(jc.Source.Object) {
			jc.Mapping = salesforce.MergeMapping(salesforce.PresetMapping(), jc.Mapping)
		}
		open, err := openerFor(jc.Source, jc.Mapping.ExternalID, logger.With(zap.String("job", jc.Name)))
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
func openerFor(sc config.Source, keyColumn string, logger *zap.Logger) (sources.Opener, error) {
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
	case "salesforce":
		opts := salesforce.Options{Path: sc.Path, Object: sc.Object, Encoding: sc.Encoding, Logger: logger}
		if salesforce.IsAccountObject(sc.Object) {
			// The preset reads these; an extract that selected fewer
			// fields leaves them out instead of failing the mapping.
			opts.FillMissing = salesforce.PresetColumns()
		}
		return func(ctx context.Context, _ sources.OpenOptions) (sources.Source, error) {
			return salesforce.Open(ctx, opts)
		}, nil
	default:
		return nil, fmt.Errorf("unknown source type %q", sc.Type)
	}
}

// preflight opens each job's source, checks that every mapped column
// exists, and closes it again. It runs before the first request so that a
// mapping that does not fit its source stops the run before anything is
// sent. It returns the sources that could not be opened apart from the
// mapping problems. A source that is unreachable now (a database
// restarting, an export not yet downloaded) fails only its own job's run,
// which records the error, and the other jobs go on.
func preflight(ctx context.Context, specs []jobSpec) (mappingErr, sourceErr error) {
	var mappingProblems, sourceProblems []error
	for _, spec := range specs {
		src, err := spec.job.Open(ctx, sources.OpenOptions{})
		if err != nil {
			sourceProblems = append(sourceProblems, fmt.Errorf("job %s: open source: %w", spec.job.Name, err))
			continue
		}
		_, err = mapping.New(spec.job.Mapping, src.Columns())
		closeErr := src.Close()
		if err != nil {
			mappingProblems = append(mappingProblems, fmt.Errorf("job %s: %w", spec.job.Name, err))
		}
		if closeErr != nil {
			sourceProblems = append(sourceProblems, fmt.Errorf("job %s: close source: %w", spec.job.Name, closeErr))
		}
	}
	return errors.Join(mappingProblems...), errors.Join(sourceProblems...)
}
