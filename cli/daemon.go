package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/daemon"
	"github.com/atlas-sync/atlas-sync/metrics"
	"github.com/atlas-sync/atlas-sync/state"
)

// killWait bounds how long the daemon waits for runs after the second
// signal. Kill cancels their requests at once, so they normally return in
// milliseconds; the bound keeps a source stuck in a read from holding the
// exit. Checkpoint writes are transactions, so exiting mid-write loses at
// most the batch in progress, never the file's consistency.
const killWait = 5 * time.Second

// httpShutdownTimeout bounds the wait for scrapes in progress at exit.
const httpShutdownTimeout = 5 * time.Second

func (a *app) daemonCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "daemon",
		Short: "Run the jobs on their cron schedules until stopped",
		Long: `Run every job that has a schedule on that schedule, until SIGTERM or
SIGINT. Jobs without a schedule are not run. A job never overlaps itself:
a scheduled start that comes while its previous run is still going is
skipped and logged. Jobs run in parallel and share one Atlas rate limit.

Signals:
  SIGTERM, SIGINT  stop scheduling, let requests in flight finish within
                   daemon.shutdown_grace, record what Atlas acknowledged,
                   exit 0. A second signal cancels the requests and exits
                   with status 130.
  SIGHUP           reload the configuration. An invalid file is logged and
                   the running configuration stays. state.path,
                   daemon.listen and log.* take effect only after a restart.

daemon.listen serves /healthz, /readyz and /metrics. Under systemd with
Type=notify the daemon reports READY=1, RELOADING=1, STOPPING=1 and, when
WatchdogSec is set, WATCHDOG=1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.daemon(cmd.Context())
		},
	}
}

// daemonProcess is the state of `atlas-sync daemon` that outlives reloads.
type daemonProcess struct {
	app       *app
	logger    *zap.Logger
	store     *state.Store
	metrics   *metrics.Metrics
	scheduler *daemon.Scheduler
	notifier  *daemon.Notifier

	// kill is closed at the second stop signal; every run gets it as
	// RunOptions.Kill.
	kill chan struct{}
}

func (a *app) daemon(parent context.Context) error {
	// Subscribe before anything slow, so that a signal during start-up is
	// not lost to the default action.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)

	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	if err := requireSchedules(cfg); err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	logger, err := a.newLogger(cfg.Log)
	if err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	defer logger.Sync() //nolint:errcheck // stderr cannot be synced on some platforms
	notifier, err := daemon.NewNotifier(os.Getenv)
	if err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	watchdogInterval, err := daemon.WatchdogInterval(os.Getenv)
	if err != nil {
		return &exitError{code: ExitFailed, err: err}
	}

	m := metrics.New(metrics.Build{Version: a.build.Version, Commit: a.build.Commit})
	health := &daemon.Health{}

	// The endpoint starts before the store opens, so that /healthz
	// responds and /readyz reports why the daemon is not ready yet.
	var server *daemon.Server
	if cfg.Daemon.Listen != "off" {
		server, err = daemon.Listen(cfg.Daemon.Listen, daemon.Handler(health, m.Handler()), logger)
		if err != nil {
			return &exitError{code: ExitFailed, err: err}
		}
		defer shutdownServer(server, logger)
	}

	health.SetNotReady("opening the state file")
	store, err := state.Open(parent, cfg.State.Path, state.Options{Logger: logger})
	if err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	defer func() {
		if err := store.Close(); err != nil {
			logger.Error("close the state file", zap.Error(err))
		}
	}()

	d := &daemonProcess{
		app:       a,
		logger:    logger,
		store:     store,
		metrics:   m,
		scheduler: daemon.NewScheduler(logger, m),
		notifier:  notifier,
		kill:      make(chan struct{}),
	}
	current, err := d.newRuntime(cfg, nil)
	if err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	if err := d.apply(current); err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	d.preflight(parent, current)

	health.SetReady()
	d.notify("READY=1\nSTATUS=" + current.statusLine())
	fields := []zap.Field{zap.Int("pid", os.Getpid()), zap.String("state_path", store.Path()), zap.Strings("jobs", current.scheduledNames())}
	if server != nil {
		fields = append(fields, zap.String("listen", server.Addr().String()))
	}
	logger.Info("daemon started", fields...)

	watchdogCtx, stopWatchdog := context.WithCancel(context.Background())
	defer stopWatchdog()
	if watchdogInterval > 0 && notifier.Enabled() {
		go notifier.Watchdog(watchdogCtx, watchdogInterval, func(err error) {
			logger.Warn("send the watchdog keep-alive", zap.Error(err))
		})
	}

	first := d.serve(signals, &current)

	// Stop order: readiness turns false first, so that no orchestrator
	// routes work here. Then scheduling stops and the runs' contexts are
	// cancelled. The engine gives requests in flight daemon.shutdown_grace
	// and records every acknowledged row. The deferred calls then stop the
	// HTTP endpoint and close the state file last.
	health.SetNotReady("shutting down")
	d.notify("STOPPING=1")
	logger.Info("stopping: no new runs; runs in progress finish their requests in flight",
		zap.String("signal", first.String()), zap.Duration("shutdown_grace", current.cfg.Daemon.ShutdownGrace.D()))
	if !d.drain(signals) {
		return &exitError{code: ExitInterrupted}
	}
	logger.Info("daemon stopped")
	return nil
}

// serve handles signals until SIGTERM or SIGINT, which it returns. SIGHUP
// reloads the configuration into *current.
func (d *daemonProcess) serve(signals <-chan os.Signal, current **daemonRuntime) os.Signal {
	for sig := range signals {
		if sig != syscall.SIGHUP {
			return sig
		}
		d.notify(daemon.Reloading())
		next, err := d.reload(*current)
		if err != nil {
			d.metrics.ObserveReload(false)
			d.logger.Error("configuration not reloaded; the running configuration stays in effect", zap.Error(err))
		} else {
			d.metrics.ObserveReload(true)
			*current = next
			d.logger.Info("configuration reloaded", zap.Strings("jobs", next.scheduledNames()))
		}
		d.notify("READY=1\nSTATUS=" + (*current).statusLine())
	}
	return syscall.SIGTERM // unreachable: signals is never closed
}

// drain stops the scheduler and waits for the runs. It returns false when
// a second signal cut the wait short.
func (d *daemonProcess) drain(signals <-chan os.Signal) bool {
	done := d.scheduler.Stop()
	for {
		select {
		case <-done:
			return true
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				continue
			}
			d.logger.Warn("second signal: cancelling requests in flight", zap.String("signal", sig.String()))
			close(d.kill)
			select {
			case <-done:
			case <-time.After(killWait):
				d.logger.Error("runs did not return after cancellation; exiting anyway", zap.Duration("waited", killWait))
			}
			return false
		}
	}
}

// notify sends an sd_notify message and logs a failure, because systemd
// then treats the service as failed to start or hung and the log is the
// only place that explains it.
func (d *daemonProcess) notify(msg string) {
	if err := d.notifier.Notify(msg); err != nil {
		d.logger.Warn("notify systemd", zap.Error(err))
	}
}

// reload loads the configuration file again and, when it is valid,
// replaces the schedules. The state file stays open, so a changed
// state.path is rejected.
func (d *daemonProcess) reload(current *daemonRuntime) (*daemonRuntime, error) {
	cfg, err := config.Load(d.app.configPath, d.app.env)
	if err != nil {
		return nil, formatConfigError(err)
	}
	if err := requireSchedules(cfg); err != nil {
		return nil, err
	}
	if filepath.Clean(cfg.State.Path) != filepath.Clean(current.cfg.State.Path) {
		return nil, fmt.Errorf("state.path changed from %s to %s; the daemon keeps its state file open, so restart it to switch files", current.cfg.State.Path, cfg.State.Path)
	}

	next, err := d.newRuntime(cfg, current)
	if err != nil {
		return nil, err
	}
	if err := d.apply(next); err != nil {
		return nil, err
	}
	next.retire(current)
	d.warnRestartOnly(current.cfg, cfg)
	return next, nil
}

// warnRestartOnly logs settings that changed but apply only at start.
func (d *daemonProcess) warnRestartOnly(old, next *config.Config) {
	if old.Daemon.Listen != next.Daemon.Listen {
		d.logger.Warn("daemon.listen changed; the endpoint moves only after a restart",
			zap.String("current", old.Daemon.Listen), zap.String("configured", next.Daemon.Listen))
	}
	if old.Log != next.Log {
		d.logger.Warn("log settings changed; they apply only after a restart")
	}
}

// apply schedules the runtime's jobs, replacing the previous schedules.
func (d *daemonProcess) apply(rt *daemonRuntime) error {
	if err := d.scheduler.Apply(rt.location, rt.tasks(d)); err != nil {
		return err
	}
	d.metrics.SetJobs(rt.names())
	for _, spec := range rt.jobs {
		if spec.config.Schedule == "" {
			d.logger.Info("job has no schedule; the daemon does not run it", zap.String("job", spec.job.Name))
		}
	}
	return nil
}

// preflight checks each scheduled job's source and mapping once at start.
// A failure is a warning, not a reason to refuse to start: the source may
// appear before the first scheduled run (an export dropped later, a
// database still starting).
func (d *daemonProcess) preflight(ctx context.Context, rt *daemonRuntime) {
	checkCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	mappingErr, sourceErr := preflight(checkCtx, rt.scheduled())
	for _, err := range []error{mappingErr, sourceErr} {
		if err == nil {
			continue
		}
		for _, problem := range flatten(err) {
			d.logger.Warn("job check failed; its runs fail until this is fixed", zap.Error(problem))
		}
	}
}

// requireSchedules returns an error when no job has a schedule, because
// the daemon would then sit idle.
func requireSchedules(cfg *config.Config) error {
	for _, job := range cfg.Jobs {
		if job.Schedule != "" {
			return nil
		}
	}
	return fmt.Errorf("invalid configuration %s: no job has a schedule, so the daemon has nothing to run; set jobs[].schedule (for example \"@hourly\") or use `atlas-sync run`", cfg.Path)
}

func shutdownServer(server *daemon.Server, logger *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	defer cancel()
	if err := server.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("stop the HTTP endpoint", zap.Error(err))
	}
}

// scheduleSummary lists "job (schedule)" pairs for STATUS= lines.
func scheduleSummary(specs []jobSpec) string {
	parts := make([]string, 0, len(specs))
	for _, spec := range specs {
		parts = append(parts, fmt.Sprintf("%s (%s)", spec.job.Name, spec.config.Schedule))
	}
	return strings.Join(parts, ", ")
}
