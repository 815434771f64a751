package atlas

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestThrottlePauseBlocksWait(t *testing.T) {
	throttle := NewThrottle(0, 1)
	throttle.Pause(100 * time.Millisecond)

	start := time.Now()
	waited, err := throttle.Wait(context.Background())
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	// Lower bounds only: timers never fire early, but a busy machine may
	// fire them late.
	if elapsed := time.Since(start); elapsed < 90*time.Millisecond {
		t.Errorf("Wait returned after %s, want at least the 100ms pause", elapsed)
	}
	if waited < 90*time.Millisecond {
		t.Errorf("Wait reported %s, want at least 100ms", waited)
	}

	waited, err = throttle.Wait(context.Background())
	if err != nil || waited > 50*time.Millisecond {
		t.Errorf("Wait after the pause: %s, %v; want no wait", waited, err)
	}
}

func TestThrottlePauseNeverShortens(t *testing.T) {
	throttle := NewThrottle(10, 1)
	throttle.Pause(time.Hour)
	long := throttle.PausedUntil()
	throttle.Pause(time.Millisecond)
	throttle.Pause(0)
	throttle.Pause(-time.Hour)
	if got := throttle.PausedUntil(); !got.Equal(long) {
		t.Errorf("PausedUntil = %s after shorter pauses, want %s", got, long)
	}
}

func TestThrottleWaitReturnsOnCancel(t *testing.T) {
	throttle := NewThrottle(10, 1)
	throttle.Pause(time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := throttle.Wait(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
}

func TestThrottleWaitReturnsOnDeadlineDuringLimiterWait(t *testing.T) {
	throttle := NewThrottle(0.001, 1) // One token per 1000s.
	if _, err := throttle.Wait(context.Background()); err != nil {
		t.Fatalf("first Wait uses the burst: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := throttle.Wait(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait = %v, want context.DeadlineExceeded", err)
	}
}

func TestThrottleRateSpacesRequests(t *testing.T) {
	throttle := NewThrottle(50, 1)
	start := time.Now()
	for range 6 {
		if _, err := throttle.Wait(context.Background()); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
	// Five intervals of 20ms after the first token.
	if elapsed := time.Since(start); elapsed < 90*time.Millisecond {
		t.Errorf("6 waits at 50/s took %s, want at least 100ms", elapsed)
	}
}

func TestThrottleConcurrentUse(t *testing.T) {
	throttle := NewThrottle(2000, 5)
	var wg sync.WaitGroup
	for worker := range 8 {
		wg.Go(func() {
			for i := range 25 {
				if _, err := throttle.Wait(context.Background()); err != nil {
					t.Errorf("Wait: %v", err)
					return
				}
				switch (worker + i) % 4 {
				case 0:
					throttle.Backoff()
				case 1:
					throttle.Recover()
				case 2:
					throttle.Pause(time.Millisecond)
				default:
					_ = throttle.Limit()
				}
			}
		})
	}
	wg.Wait()
	if limit := throttle.Limit(); limit < 200 || limit > 2000 {
		t.Errorf("Limit = %g, want within [200, 2000]", limit)
	}
}

// fakeClock is a settable clock for the AIMD tests.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func newFakeThrottle(rps float64, burst int) (*Throttle, *fakeClock) {
	clock := &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	throttle := NewThrottle(rps, burst)
	throttle.now = clock.Now
	return throttle, clock
}

func TestThrottleBackoffOncePerSecond(t *testing.T) {
	throttle, clock := newFakeThrottle(100, 1)

	throttle.Backoff()
	if got := throttle.Limit(); got != 60 {
		t.Errorf("after Backoff: Limit = %g, want 60", got)
	}
	throttle.Backoff()
	if got := throttle.Limit(); got != 60 {
		t.Errorf("second Backoff within 1s: Limit = %g, want 60", got)
	}
	for range 10 {
		clock.Advance(time.Second)
		throttle.Backoff()
	}
	if got := throttle.Limit(); got != 10 {
		t.Errorf("after many Backoffs: Limit = %g, want the floor 10", got)
	}
	if got := float64(throttle.limiter.Limit()); got != 10 {
		t.Errorf("limiter rate = %g, want 10", got)
	}
}

func TestThrottleRecoverClimbsLinearly(t *testing.T) {
	throttle, clock := newFakeThrottle(100, 1)
	throttle.Backoff() // 60

	throttle.Recover()
	if got := throttle.Limit(); got != 60 {
		t.Errorf("Recover right after Backoff: Limit = %g, want 60", got)
	}
	clock.Advance(time.Second)
	throttle.Recover()
	throttle.Recover()
	if got := throttle.Limit(); got != 64 {
		t.Errorf("Recover after 1s: Limit = %g, want 64 (once per second)", got)
	}
	for range 40 {
		clock.Advance(time.Second)
		throttle.Recover()
	}
	if got := throttle.Limit(); got != 100 {
		t.Errorf("after a long recovery: Limit = %g, want the configured 100", got)
	}
}

func TestThrottleUnlimitedIgnoresAIMD(t *testing.T) {
	throttle := NewThrottle(0, 1)
	throttle.Backoff()
	throttle.Recover()
	if got := throttle.Limit(); !math.IsInf(got, 1) {
		t.Errorf("Limit = %g, want +Inf", got)
	}
}

// TestThrottleAIMDSettlesBelowServerLimit runs a single worker on a fake
// clock against a server token bucket with half the configured rate. Each
// 429 pauses for the server's Retry-After (whole seconds, at least 1) and
// calls Backoff; each success calls Recover.
func TestThrottleAIMDSettlesBelowServerLimit(t *testing.T) {
	const (
		configured  = 20.0
		serverLimit = 10.0
		duration    = 10 * time.Minute
	)
	throttle, clock := newFakeThrottle(configured, 1)
	server := rate.NewLimiter(serverLimit, int(serverLimit))
	end := clock.now.Add(duration)
	tail := end.Add(-time.Minute)

	var ok, limited, tailOK, tailLimited int
	for clock.now.Before(end) {
		if until := throttle.PausedUntil(); until.After(clock.now) {
			clock.now = until
		}
		reservation := throttle.limiter.ReserveN(clock.now, 1)
		clock.Advance(reservation.DelayFrom(clock.now))

		serverReservation := server.ReserveN(clock.now, 1)
		if delay := serverReservation.DelayFrom(clock.now); delay > 0 {
			serverReservation.CancelAt(clock.now)
			limited++
			if clock.now.After(tail) {
				tailLimited++
			}
			throttle.Pause(max(time.Second, time.Duration(math.Ceil(delay.Seconds()))*time.Second))
			throttle.Backoff()
			continue
		}
		ok++
		if clock.now.After(tail) {
			tailOK++
		}
		throttle.Recover()
	}

	total := ok + limited
	t.Logf("requests %d, 429s %d (%.2f%%), throughput %.2f/s", total, limited, 100*float64(limited)/float64(total), float64(ok)/duration.Seconds())
	if share := float64(limited) / float64(total); share > 0.02 {
		t.Errorf("429 share = %.2f%%, want at most 2%%", 100*share)
	}
	if throughput := float64(ok) / duration.Seconds(); throughput < 0.6*serverLimit || throughput > serverLimit {
		t.Errorf("throughput = %.2f/s, want between 60%% and 100%% of the server's %g/s", throughput, serverLimit)
	}
	if tailOK == 0 || tailLimited > 10 {
		t.Errorf("last minute: %d successes, %d 429s; want the rate settled", tailOK, tailLimited)
	}
}
