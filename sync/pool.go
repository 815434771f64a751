package sync

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/atlas"
)

// send delivers one item, retrying transient failures with capped
// exponential backoff and pausing the whole pool on 429. readCtx ending
// means "start no new request"; sendCtx ending aborts the request on the
// wire. Every item ends as a delivery (acknowledged or rejected) or is
// counted as unsent.
func (r *run) send(readCtx, sendCtx context.Context, it item, deliveries chan<- delivery, stopReading context.CancelFunc) {
	settings := r.e.settings
	retries := 0
	rateLimited := 0
	for {
		if readCtx.Err() != nil || r.stopSending.Load() {
			r.counts.unsent.Add(1)
			return
		}
		waited, err := r.e.throttle.Wait(readCtx)
		r.e.observer.ObserveThrottleWait(r.job.Name, waited)
		if err != nil {
			r.counts.unsent.Add(1)
			return
		}
		if !r.reserveRequest() {
			r.counts.unsent.Add(1)
			return
		}

		started := time.Now()
		result, err := r.e.client.Upsert(sendCtx, it.payload.Body)
		r.e.observer.ObserveUpsert(r.job.Name, statusOf(result, err), time.Since(started))

		if err == nil {
			r.lastProgress.Store(time.Now().UnixNano())
			r.e.throttle.Recover()
			deliveries <- delivery{item: it, atlasID: result.ID, created: result.Created, at: time.Now()}
			return
		}

		class := atlas.Classify(err)
		if class != atlas.ClassRateLimited {
			r.lastProgress.Store(time.Now().UnixNano())
		}
		switch class {
		case atlas.ClassRejected:
			d := delivery{item: it, rejected: true, message: err.Error(), at: time.Now()}
			var apiErr *atlas.APIError
			if errors.As(err, &apiErr) {
				d.status, d.message = apiErr.Status, apiErr.Message
			}
			deliveries <- d
			return

		case atlas.ClassUnauthorized:
			r.fail(fmt.Errorf("%w: %w; check atlas.token", ErrUnauthorized, err))
			stopReading()
			r.counts.unsent.Add(1)
			return

		case atlas.ClassCanceled:
			r.counts.unsent.Add(1)
			return

		case atlas.ClassRateLimited:
			r.counts.rateLimited.Add(1)
			rateLimited++
			pause := backoff(rateLimited-1, time.Second, settings.RetryMaxDelay)
			var apiErr *atlas.APIError
			if errors.As(err, &apiErr) && apiErr.HasRetryAfter {
				pause = apiErr.RetryAfter
			}
			if pause > settings.RateLimitPatience {
				// Waiting that long would outlast the patience anyway;
				// end the run now and let the next one continue.
				r.stop(fmt.Errorf("%w: atlas asked to wait %s, longer than atlas.rate_limit_patience", ErrRateLimited, pause.Round(time.Second)))
				r.counts.unsent.Add(1)
				return
			}
			r.e.throttle.Pause(pause)
			before := r.e.throttle.Limit()
			r.e.throttle.Backoff()
			if after := r.e.throttle.Limit(); after < before {
				r.log.Info("lowered the request rate after a 429", zap.Float64("from_per_second", before), zap.Float64("to_per_second", after), zap.Duration("pause", pause))
			}
			if since := time.Since(time.Unix(0, r.lastProgress.Load())); since > settings.RateLimitPatience {
				r.stop(fmt.Errorf("%w: only 429 responses for %s (atlas.rate_limit_patience)", ErrRateLimited, since.Round(time.Second)))
			}
			r.e.observer.ObserveRetry(r.job.Name, class)
			continue

		case atlas.ClassTransient:
			if retries >= settings.MaxRetries {
				r.fail(fmt.Errorf("upsert %s (%s): giving up after %d retries: %w", it.payload.ExternalID, it.position, retries, err))
				stopReading()
				r.counts.unsent.Add(1)
				return
			}
			delay := backoff(retries, settings.RetryBaseDelay, settings.RetryMaxDelay)
			retries++
			r.counts.retries.Add(1)
			r.e.observer.ObserveRetry(r.job.Name, class)
			r.logRetry(it, retries, delay, err)
			if !sleep(readCtx, delay) {
				r.counts.unsent.Add(1)
				return
			}

		default:
			r.fail(fmt.Errorf("upsert %s (%s): %w", it.payload.ExternalID, it.position, err))
			stopReading()
			r.counts.unsent.Add(1)
			return
		}
	}
}

// maxLoggedRetries bounds the retry warnings of one run; the summary counts
// every retry.
const maxLoggedRetries = 20

// logRetry logs a retry at warn level, up to maxLoggedRetries per run, so
// that an outage shows in the log before the run gives up, without a line
// per request of a long run.
func (r *run) logRetry(it item, retry int, delay time.Duration, err error) {
	fields := []zap.Field{
		zap.String("external_id", it.payload.ExternalID),
		zap.String("position", it.position),
		zap.Int("retry", retry),
		zap.Duration("delay", delay),
		zap.Error(err),
	}
	n := r.retriesLogged.Add(1)
	switch {
	case n <= maxLoggedRetries:
		r.log.Warn("retrying upsert", fields...)
	case n == maxLoggedRetries+1:
		r.log.Warn("further retries are logged at debug level and counted in the summary", zap.Int("logged", maxLoggedRetries))
	default:
		r.log.Debug("retrying upsert", fields...)
	}
}

// reserveRequest counts a request against max_requests and reports whether
// it may be sent.
func (r *run) reserveRequest() bool {
	limit := int64(r.job.MaxRequests)
	if limit <= 0 {
		return true
	}
	if r.requests.Add(1) <= limit {
		return true
	}
	r.stop(fmt.Errorf("%w: max_requests %d sent", ErrBudget, limit))
	return false
}

func statusOf(result atlas.UpsertResult, err error) int {
	if err == nil {
		return result.Status
	}
	var apiErr *atlas.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status
	}
	return 0
}

// backoff returns the delay before retry n (from 0): base·2ⁿ capped at max,
// with full jitter over its upper half so that workers do not retry in step.
func backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return half + rand.N(half+1)
}

// sleep waits for d and reports false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
