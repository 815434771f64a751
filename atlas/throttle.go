package atlas

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// AIMD parameters of Backoff and Recover. In
// TestThrottleAIMDSettlesBelowServerLimit (one worker on a fake clock,
// configured at 20/s against a server allowing 10/s, 10 simulated minutes)
// they reach 98% of the server's limit with 1.4% of requests rejected with 429.
// After a single 429 the rate is back at the configured one within 10
// seconds. Workers in flight together each get their 429, so a real pool
// gets a few more per episode.
const (
	// backoffFactor multiplies the rate on each Backoff.
	backoffFactor = 0.6
	// minRateFraction is the floor of Backoff, as a fraction of the
	// configured rate.
	minRateFraction = 0.1
	// backoffInterval groups the 429s of requests that were in flight
	// together into one decrease.
	backoffInterval = time.Second
	// recoverStep is the fraction of the configured rate that Recover adds,
	// at most once per recoverInterval.
	recoverStep     = 0.04
	recoverInterval = time.Second
)

// Throttle paces requests made with one Atlas token. Create one per token and
// share it between every worker and every job using that token, because
// Atlas limits the token, not the worker. It combines a token-bucket limiter
// (golang.org/x/time/rate), a pool-wide pause that a 429's Retry-After sets,
// and optional AIMD adaptation of the rate. It is safe for concurrent use.
type Throttle struct {
	limiter    *rate.Limiter
	configured rate.Limit
	now        func() time.Time

	mu           sync.Mutex
	pausedUntil  time.Time
	current      rate.Limit
	lastBackoff  time.Time
	lastIncrease time.Time
}

// NewThrottle returns a Throttle that allows requestsPerSecond on average and
// bursts of up to burst requests. requestsPerSecond <= 0 means no rate limit,
// so that only Pause applies; burst < 1 is raised to 1.
func NewThrottle(requestsPerSecond float64, burst int) *Throttle {
	limit := rate.Limit(requestsPerSecond)
	if requestsPerSecond <= 0 {
		limit = rate.Inf
	}
	burst = max(burst, 1)
	return &Throttle{
		limiter:    rate.NewLimiter(limit, burst),
		configured: limit,
		current:    limit,
		now:        time.Now,
	}
}

// Wait blocks until the caller may send one request: first while a pause is
// active, then until the limiter grants a token, then again if a pause began
// meanwhile. It returns the time spent waiting. When ctx is done it returns
// ctx.Err() at once and gives back the limiter token it had reserved.
func (t *Throttle) Wait(ctx context.Context) (time.Duration, error) {
	start := t.now()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := t.waitPause(ctx); err != nil {
		return t.now().Sub(start), err
	}

	now := t.now()
	reservation := t.limiter.ReserveN(now, 1)
	if delay := reservation.DelayFrom(now); delay > 0 {
		if err := sleep(ctx, delay); err != nil {
			reservation.Cancel()
			return t.now().Sub(start), err
		}
	}

	err := t.waitPause(ctx)
	return t.now().Sub(start), err
}

// Pause stops every Wait until now+d. It never shortens an active pause;
// d <= 0 does nothing. Callers should cap d, because a server may send an
// arbitrary Retry-After.
func (t *Throttle) Pause(d time.Duration) {
	if d <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	until := t.now().Add(d)
	if until.After(t.pausedUntil) {
		t.pausedUntil = until
	}
}

// PausedUntil returns the end of the current pause, or a time in the past
// when no pause is active.
func (t *Throttle) PausedUntil() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pausedUntil
}

// Limit returns the current rate in requests per second; +Inf when the
// Throttle has no rate limit.
func (t *Throttle) Limit() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.current == rate.Inf {
		return math.Inf(1)
	}
	return float64(t.current)
}

// Backoff lowers the rate to 60% after a 429 (multiplicative decrease), but not
// below 10% of the configured rate and at most once per second, so that the
// 429s of requests that were in flight together count as one signal. It
// does nothing without a configured rate. Call it in addition to Pause.
func (t *Throttle) Backoff() {
	if t.configured == rate.Inf {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if !t.lastBackoff.IsZero() && now.Sub(t.lastBackoff) < backoffInterval {
		return
	}
	t.lastBackoff = now
	t.lastIncrease = now
	t.current = max(t.current*backoffFactor, t.configured*minRateFraction)
	t.limiter.SetLimitAt(now, t.current)
}

// Recover raises the rate after a successful request (additive increase):
// by 4% of the configured rate, at most once per second, never above the
// configured rate. So the rate climbs linearly while requests succeed.
func (t *Throttle) Recover() {
	if t.configured == rate.Inf {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.current >= t.configured {
		return
	}
	now := t.now()
	if now.Sub(t.lastIncrease) < recoverInterval {
		return
	}
	t.lastIncrease = now
	t.current = min(t.current+t.configured*recoverStep, t.configured)
	t.limiter.SetLimitAt(now, t.current)
}

func (t *Throttle) waitPause(ctx context.Context) error {
	for {
		t.mu.Lock()
		until := t.pausedUntil
		t.mu.Unlock()
		// Pause may extend the pause while this waits, hence the loop.
		delay := until.Sub(t.now())
		if delay <= 0 {
			return nil
		}
		if err := sleep(ctx, delay); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
