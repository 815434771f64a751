package sync

import (
	"context"
	"math"
	"time"

	"github.com/atlas-sync/atlas-sync/sources"
	"github.com/atlas-sync/atlas-sync/state"
)

// defaultProgressInterval applies when RunOptions.Progress is set and
// RunOptions.ProgressInterval is not.
const defaultProgressInterval = time.Second

// sendRateWindow is how far back the observed send rate looks. It is long
// enough to smooth over a 429 pause, short enough to follow an AIMD change
// of the throttle within a few progress reports.
const sendRateWindow = 15 * time.Second

// Progress is a snapshot of a running run, passed to RunOptions.Progress.
type Progress struct {
	Job     string
	Mode    string // "incremental", "full" or "dry-run"
	Elapsed time.Duration
	Counts  state.Counts

	// ReadDone is true once reading has stopped, at the end of the source
	// or early. Counts.Changed is then final.
	ReadDone bool

	// BytesRead and Size measure reading when the source implements
	// sources.Progresser; Size is 0 when unknown. BytesRead counts the
	// bytes read up to the last row diffed, not the source's read-ahead,
	// so that it matches Counts.
	BytesRead int64
	Size      int64

	// SendRate is the observed rate of completed requests (acknowledged or
	// rejected rows) per second over the last 15 seconds.
	SendRate float64

	// Limit is the throttle's current rate in requests per second,
	// lowered after 429 responses; +Inf without a rate limit.
	Limit float64

	// Remaining estimates the changed rows still to send: exact once
	// ReadDone, extrapolated from the fraction of the source read so far
	// before that, and -1 when the size of the source is unknown.
	Remaining int64

	// ETA estimates the time until the run ends: the longer of the time
	// left to read at the current read speed and Remaining divided by the
	// lower of Limit and SendRate. -1 when unknown.
	ETA time.Duration

	FullPass FullPassInfo
}

// progressSample is one point of the send-rate window.
type progressSample struct {
	at       time.Time
	answered int64
}

// progressReporter builds Progress snapshots of one run and keeps the
// samples behind SendRate. It is used from one goroutine.
type progressReporter struct {
	r       *run
	samples []progressSample
}

// startProgress starts the progress reports, when RunOptions.Progress is
// set, and returns the function that stops them after a last report.
func (r *run) startProgress() (stop func()) {
	if r.opts.Progress == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.reportProgress(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// reportProgress calls opts.Progress every interval until ctx is done,
// then once more with the final counts. It returns when the last call
// has returned.
func (r *run) reportProgress(ctx context.Context) {
	interval := r.opts.ProgressInterval
	if interval <= 0 {
		interval = defaultProgressInterval
	}
	reporter := &progressReporter{r: r}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			r.opts.Progress(reporter.snapshot(time.Now()))
		case <-ctx.Done():
			r.opts.Progress(reporter.snapshot(time.Now()))
			return
		}
	}
}

func (p *progressReporter) snapshot(now time.Time) Progress {
	r := p.r
	counts := r.counts.snapshot()
	progress := Progress{
		Job:       r.job.Name,
		Mode:      r.opts.mode(),
		Elapsed:   now.Sub(r.started),
		Counts:    counts,
		ReadDone:  r.readDone.Load(),
		Limit:     r.e.throttle.Limit(),
		Remaining: -1,
		ETA:       -1,
		FullPass:  r.fullPass(),
	}
	if src, ok := r.progresser(); ok {
		progress.BytesRead, progress.Size = r.bytesDiffed.Load(), src.Size()
		if progress.ReadDone {
			progress.BytesRead = src.BytesRead()
		}
	}

	answered := counts.Sent + counts.Rejected
	progress.SendRate = p.sendRate(now, answered)
	progress.Remaining = estimateRemaining(progress, r.opts.DryRun || r.stopSending.Load())
	progress.ETA = estimateETA(progress)
	return progress
}

// sendRate adds a sample and returns the rate of completed requests since
// the oldest sample inside the window.
func (p *progressReporter) sendRate(now time.Time, answered int64) float64 {
	p.samples = append(p.samples, progressSample{at: now, answered: answered})
	cut := 0
	for cut < len(p.samples)-2 && now.Sub(p.samples[cut+1].at) >= sendRateWindow {
		cut++
	}
	p.samples = p.samples[cut:]

	oldest := p.samples[0]
	elapsed := now.Sub(oldest.at).Seconds()
	if len(p.samples) == 1 {
		// One sample: measure from the start of the run.
		oldest = progressSample{at: p.r.started}
		elapsed = now.Sub(p.r.started).Seconds()
	}
	if elapsed <= 0 {
		return 0
	}
	return float64(answered-oldest.answered) / elapsed
}

// estimateRemaining returns the changed rows still to send, or -1 when
// it cannot be known yet.
func estimateRemaining(p Progress, notSending bool) int64 {
	if notSending {
		return 0
	}
	c := p.Counts
	handled := c.Sent + c.Rejected + c.Unsent
	known := max(c.Changed-handled, 0)
	if p.ReadDone {
		return known
	}
	if p.Size <= 0 || p.BytesRead <= 0 {
		return -1
	}
	// The changes seen so far, scaled to the whole source: an estimate
	// that assumes changes are spread evenly through the source.
	fraction := min(float64(p.BytesRead)/float64(p.Size), 1)
	total := int64(math.Round(float64(c.Changed) / fraction))
	return max(total-handled, known)
}

// estimateETA returns the time until the run is likely to end, or -1.
func estimateETA(p Progress) time.Duration {
	if p.Remaining < 0 {
		return -1
	}
	readLeft := time.Duration(0)
	if !p.ReadDone {
		if p.Size <= 0 || p.BytesRead <= 0 {
			return -1
		}
		fraction := min(float64(p.BytesRead)/float64(p.Size), 1)
		readLeft = time.Duration(float64(p.Elapsed) * (1 - fraction) / fraction)
	}

	sendLeft := time.Duration(0)
	if p.Remaining > 0 {
		rate := p.Limit
		if p.SendRate > 0 && p.SendRate < rate {
			rate = p.SendRate
		}
		if rate <= 0 || math.IsInf(rate, 1) {
			return -1
		}
		sendLeft = time.Duration(float64(p.Remaining) / rate * float64(time.Second))
	}
	return max(readLeft, sendLeft)
}

// progresser returns the run's source as a sources.Progresser, when it
// is one.
func (r *run) progresser() (sources.Progresser, bool) {
	src := r.progressSource.Load()
	if src == nil {
		return nil, false
	}
	return *src, true
}
