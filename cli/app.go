package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/state"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// loadConfig loads and validates the configuration, printing every problem
// on its own line.
func (a *app) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(a.configPath, a.env)
	if err != nil {
		return nil, &exitError{code: ExitFailed, err: formatConfigError(err)}
	}
	return cfg, nil
}

// loadConfigForInspection loads the configuration for status and rejected,
// which read only the state file: missing secrets and unset variables are
// no error there, so they work outside the service's environment.
func (a *app) loadConfigForInspection() (*config.Config, error) {
	cfg, err := config.LoadForInspection(a.configPath, a.env)
	if err != nil {
		return nil, &exitError{code: ExitFailed, err: formatConfigError(err)}
	}
	return cfg, nil
}

// formatConfigError puts each joined problem on its own indented line.
func formatConfigError(err error) error {
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, problem := range flatten(err) {
		b.WriteString("\n  - ")
		b.WriteString(problem.Error())
	}
	return errors.New(b.String())
}

// flatten returns the leaves of a tree of joined errors, keeping the
// prefix that wrapping added ("config x.yaml: ").
func flatten(err error) []error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	if inner := errors.Unwrap(err); inner != nil {
		if _, ok := inner.(interface{ Unwrap() []error }); ok {
			prefix := strings.TrimSuffix(err.Error(), inner.Error())
			var out []error
			for _, e := range flatten(inner) {
				out = append(out, fmt.Errorf("%s%w", prefix, e))
			}
			return out
		}
	}
	return []error{err}
}

// newLogger builds the process logger: console text on a terminal, JSON
// otherwise, always on stderr so that journald and container runtimes
// collect it.
func (a *app) newLogger(cfg config.Log) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}

	format := cfg.Format
	if format == "auto" {
		format = "json"
		if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "console"
		}
	}

	encoderConfig := zap.NewProductionEncoderConfig()
	encoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	encoderConfig.TimeKey = "time"
	var encoder zapcore.Encoder
	if format == "console" {
		encoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
		encoder = zapcore.NewConsoleEncoder(encoderConfig)
	} else {
		encoder = zapcore.NewJSONEncoder(encoderConfig)
	}
	core := zapcore.NewCore(encoder, zapcore.AddSync(a.stderr), level)
	return zap.New(core, zap.ErrorOutput(zapcore.AddSync(a.stderr))), nil
}

// newAtlasClient builds the Atlas client that the configuration describes.
func newAtlasClient(cfg *config.Config, version string) (*atlas.Client, error) {
	return atlas.NewClient(atlas.Options{
		BaseURL:           cfg.Atlas.BaseURL,
		Token:             cfg.Atlas.Token,
		Timeout:           cfg.Atlas.Timeout.D(),
		UserAgent:         "atlas-sync/" + version,
		AllowInsecureHTTP: cfg.Atlas.AllowInsecureHTTP,
	})
}

// services are the long-lived parts that run, daemon and check share.
type services struct {
	cfg      *config.Config
	logger   *zap.Logger
	store    *state.Store
	client   *atlas.Client
	throttle *atlas.Throttle
	engine   *atlassync.Engine
	jobs     []jobSpec
}

// open loads everything a run needs. Nothing contacts Atlas here; the
// store is opened last because it takes the state file's lock.
func (a *app) open(ctx context.Context, observer atlassync.Observer) (*services, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	logger, err := a.newLogger(cfg.Log)
	if err != nil {
		return nil, &exitError{code: ExitFailed, err: err}
	}

	jobs, err := buildJobs(cfg, logger)
	if err != nil {
		return nil, &exitError{code: ExitFailed, err: formatConfigError(err)}
	}

	client, err := newAtlasClient(cfg, a.build.Version)
	if err != nil {
		return nil, &exitError{code: ExitFailed, err: fmt.Errorf("atlas: %w", err)}
	}

	store, err := state.Open(ctx, cfg.State.Path, state.Options{Logger: logger})
	if err != nil {
		return nil, &exitError{code: ExitFailed, err: err}
	}

	throttle := atlas.NewThrottle(cfg.Atlas.RequestsPerSecond, cfg.Atlas.Burst)
	engine := atlassync.NewEngine(store, client, throttle, atlassync.SettingsFromConfig(cfg), logger, observer)
	return &services{
		cfg:      cfg,
		logger:   logger,
		store:    store,
		client:   client,
		throttle: throttle,
		engine:   engine,
		jobs:     jobs,
	}, nil
}

// close releases the store and flushes the logger. A failure to close the
// store is returned: it may mean the last checkpoint write did not land.
func (s *services) close() error {
	err := s.store.Close()
	_ = s.logger.Sync() // stderr cannot be synced on some platforms; nothing to do about it
	return err
}

// selectJobs returns the jobs named, or all when name is "".
func selectJobs(jobs []jobSpec, name string) ([]jobSpec, error) {
	if name == "" {
		return jobs, nil
	}
	var names []string
	for _, j := range jobs {
		if j.job.Name == name {
			return []jobSpec{j}, nil
		}
		names = append(names, j.job.Name)
	}
	return nil, fmt.Errorf("job %q not found in the configuration; configured jobs: %s", name, strings.Join(names, ", "))
}
