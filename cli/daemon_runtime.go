package cli

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/daemon"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// keepRuns is how many runs of each job the daemon keeps in the run
// history; older ones are pruned after each run. At one run a minute it
// covers the last 16 hours, at one an hour about six weeks.
const keepRuns = 1000

// daemonRuntime is the set of objects built from one version of the
// configuration: the jobs, their time zone, the Atlas client, the rate
// limit and the engine. A reload builds a new one, and runs in progress
// finish with the old one.
type daemonRuntime struct {
	cfg      *config.Config
	jobs     []jobSpec
	location *time.Location
	client   *atlas.Client
	throttle *atlas.Throttle
	engine   *atlassync.Engine
}

// newRuntime builds the runtime of cfg. The client and the throttle of prev
// are kept when their settings did not change, so that a reload does not
// reset the rate limit that running jobs share.
//
// NOTE: when a reload changes requests_per_second or burst, runs started
// before it keep the old throttle until they end, so for that time the
// old and the new limit apply side by side.
func (d *daemonProcess) newRuntime(cfg *config.Config, prev *daemonRuntime) (*daemonRuntime, error) {
	jobs, err := buildJobs(cfg, d.logger)
	if err != nil {
		return nil, formatConfigError(err)
	}
	location, err := time.LoadLocation(cfg.Daemon.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("daemon.time_zone %q: %w", cfg.Daemon.TimeZone, err)
	}

	rt := &daemonRuntime{cfg: cfg, jobs: jobs, location: location}
	if prev != nil && prev.cfg.Atlas.BaseURL == cfg.Atlas.BaseURL && prev.cfg.Atlas.Token == cfg.Atlas.Token &&
		prev.cfg.Atlas.Timeout == cfg.Atlas.Timeout && prev.cfg.Atlas.AllowInsecureHTTP == cfg.Atlas.AllowInsecureHTTP {
		rt.client = prev.client
	} else {
		rt.client, err = newAtlasClient(cfg, d.app.build.Version)
		if err != nil {
			return nil, fmt.Errorf("atlas: %w", err)
		}
	}
	if prev != nil && prev.cfg.Atlas.RequestsPerSecond == cfg.Atlas.RequestsPerSecond && prev.cfg.Atlas.Burst == cfg.Atlas.Burst {
		rt.throttle = prev.throttle
	} else {
		rt.throttle = atlas.NewThrottle(cfg.Atlas.RequestsPerSecond, cfg.Atlas.Burst)
	}
	rt.engine = atlassync.NewEngine(d.store, rt.client, rt.throttle, atlassync.SettingsFromConfig(cfg), d.logger, d.metrics)
	return rt, nil
}

// retire releases what rt no longer shares with prev. Only idle
// connections are closed, so runs of prev still in progress go on.
func (rt *daemonRuntime) retire(prev *daemonRuntime) {
	if prev.client != rt.client {
		prev.client.CloseIdleConnections()
	}
}

// scheduled returns the jobs that have a schedule.
func (rt *daemonRuntime) scheduled() []jobSpec {
	var out []jobSpec
	for _, spec := range rt.jobs {
		if spec.config.Schedule != "" {
			out = append(out, spec)
		}
	}
	return out
}

func (rt *daemonRuntime) scheduledNames() []string {
	var names []string
	for _, spec := range rt.scheduled() {
		names = append(names, spec.job.Name)
	}
	return names
}

// names returns the names of the scheduled jobs, the ones the daemon
// reports metrics for.
func (rt *daemonRuntime) names() []string { return rt.scheduledNames() }

// statusLine is the STATUS= text systemctl status shows.
func (rt *daemonRuntime) statusLine() string {
	return "scheduling " + scheduleSummary(rt.scheduled())
}

// tasks turns the scheduled jobs into scheduler tasks. Each run uses this
// runtime's engine even when a reload replaces the runtime meanwhile.
func (rt *daemonRuntime) tasks(d *daemonProcess) []daemon.Task {
	var tasks []daemon.Task
	for _, spec := range rt.scheduled() {
		job := spec.job
		tasks = append(tasks, daemon.Task{
			Name:     job.Name,
			Schedule: spec.config.Schedule,
			Run: func(ctx context.Context) {
				rt.engine.Run(ctx, job, atlassync.RunOptions{Kill: d.kill})
				d.pruneRuns(ctx, job.Name)
			},
		})
	}
	return tasks
}

// pruneRuns keeps the run history at keepRuns per job. A failure is logged
// and retried after the next run.
func (d *daemonProcess) pruneRuns(ctx context.Context, job string) {
	pruneCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := d.store.PruneRuns(pruneCtx, keepRuns); err != nil {
		d.logger.Warn("prune the run history", zap.String("job", job), zap.Error(err))
	}
}
