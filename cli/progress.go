package cli

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
	"golang.org/x/term"

	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// barInterval is how often the progress bar on a terminal is redrawn.
const barInterval = 250 * time.Millisecond

// barSteps is the resolution of the progress bar: per mille of the
// estimated run time.
const barSteps = 1000

// progressDisplay shows the progress of one run at a time.
type progressDisplay interface {
	// options returns the engine's progress settings for one job's run.
	options(job string) (report func(atlassync.Progress), interval time.Duration)
	// finish removes a progress bar before the run's summary is printed.
	finish()
}

// newProgressDisplay returns a progress bar when stderr is a terminal, and
// otherwise log lines every interval (none when interval is 0).
func (a *app) newProgressDisplay(logger *zap.Logger, interval time.Duration) progressDisplay {
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &barDisplay{w: a.stderr}
	}
	return &logDisplay{logger: logger, interval: interval}
}

// logDisplay logs one info line per interval.
type logDisplay struct {
	logger   *zap.Logger
	interval time.Duration
}

func (d *logDisplay) options(job string) (func(atlassync.Progress), time.Duration) {
	if d.interval <= 0 {
		return nil, 0
	}
	log := d.logger.With(zap.String("job", job))
	return func(p atlassync.Progress) {
		c := p.Counts
		fields := []zap.Field{
			zap.String("mode", p.Mode),
			zap.Int64("read", c.Read),
			zap.Int64("changed", c.Changed),
			zap.Int64("sent", c.Sent),
			zap.Int64("rejected", c.Rejected),
			zap.Int64("unsent", c.Unsent),
			zap.Float64("send_rate", math.Round(p.SendRate*100)/100),
			zap.Float64("rate_limit", p.Limit),
			zap.Bool("read_done", p.ReadDone),
			zap.Duration("elapsed", p.Elapsed.Round(time.Second)),
		}
		if p.Size > 0 {
			fields = append(fields, zap.Int64("bytes_read", p.BytesRead), zap.Int64("size", p.Size))
		}
		if p.Remaining >= 0 {
			fields = append(fields, zap.Int64("remaining_estimate", p.Remaining))
		}
		if p.ETA >= 0 {
			fields = append(fields, zap.Duration("eta", p.ETA.Round(time.Second)))
		}
		if p.FullPass.Resumed {
			fields = append(fields, zap.Int64("already_sent", p.FullPass.AlreadySent))
		}
		log.Info("progress", fields...)
	}, d.interval
}

func (d *logDisplay) finish() {}

// barDisplay draws a bar over the estimated run time, with the counts,
// the send rate and the ETA as its description.
type barDisplay struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (d *barDisplay) options(job string) (func(atlassync.Progress), time.Duration) {
	d.bar = progressbar.NewOptions(barSteps,
		progressbar.OptionSetWriter(d.w),
		progressbar.OptionSetWidth(24),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetDescription(job),
	)
	bar := d.bar
	return func(p atlassync.Progress) {
		bar.Describe(describeProgress(job, p))
		_ = bar.Set(barPosition(p)) // writes to a terminal; nothing to do when it fails
	}, barInterval
}

func (d *barDisplay) finish() {
	if d.bar != nil {
		_ = d.bar.Clear()
		d.bar = nil
	}
}

// barPosition returns the elapsed share of the estimated run time, in
// barSteps. Without an ETA the bar stays where the reading is, when the
// source size is known.
func barPosition(p atlassync.Progress) int {
	switch {
	case p.ETA >= 0 && p.Elapsed+p.ETA > 0:
		return int(barSteps * float64(p.Elapsed) / float64(p.Elapsed+p.ETA))
	case p.Size > 0:
		return int(barSteps * min(float64(p.BytesRead)/float64(p.Size), 1))
	default:
		return 0
	}
}

// describeProgress formats the counts for the bar: "crm: read 412000,
// sent 3200, rejected 0, 4.9/s, ETA 2h13m".
func describeProgress(job string, p atlassync.Progress) string {
	var b strings.Builder
	c := p.Counts
	fmt.Fprintf(&b, "%s: read %d", job, c.Read)
	if p.FullPass.Resumed {
		fmt.Fprintf(&b, " (already sent %d)", p.FullPass.AlreadySent)
	}
	fmt.Fprintf(&b, ", sent %d, rejected %d, %.1f/s", c.Sent, c.Rejected, p.SendRate)
	if p.ETA >= 0 {
		fmt.Fprintf(&b, ", ETA %s", p.ETA.Round(time.Second))
	} else {
		b.WriteString(", ETA unknown")
	}
	return b.String()
}
