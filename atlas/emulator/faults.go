package emulator

import (
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// Faults are failures injected into responses. The rates are fractions of
// authenticated requests that passed the rate limit, drawn from a generator
// seeded with Seed; ErrorRate+TimeoutRate+ResetRate+TruncateRate should not
// exceed 1.
type Faults struct {
	// Seed seeds the generator behind the rates, so that a sequential test
	// gets the same faults on every run.
	Seed int64
	// ErrorRate is the fraction that gets 500, 502 or 503. The request is
	// not applied.
	ErrorRate float64
	// TimeoutRate is the fraction that gets no response: it is held until
	// the client gives up or the Server is closed. It is not applied.
	TimeoutRate float64
	// ResetRate is the fraction whose connection is closed (with a TCP
	// reset where possible) after the status line, headers and half of the
	// body. The request is applied first, because the realistic case is a
	// server that did the work and lost the connection while responding.
	ResetRate float64
	// TruncateRate is the fraction that gets 200 with the first half of the
	// JSON body (Content-Length matches the half, so only the JSON is
	// broken). The request is applied, as under ResetRate.
	TruncateRate float64
	// Slow is added to Options.Latency on every response.
	Slow time.Duration
	// RateLimitBurst makes the next N authenticated requests get 429.
	RateLimitBurst int
	// RateLimitRetryAfter is the Retry-After of those 429s; 0 means 1s.
	// It is rounded up to whole seconds.
	RateLimitRetryAfter time.Duration
	// RetryAfterHTTPDate sends every Retry-After as an HTTP date instead of
	// seconds.
	RetryAfterHTTPDate bool
	// OmitRetryAfter leaves Retry-After out of 429s. RateLimit-* headers
	// are still sent when Options.RateLimit is set.
	OmitRetryAfter bool
	// RedirectTo sends 307 in response to every request, pointing to
	// RedirectTo followed by
	// the request's path and query, before authentication.
	RedirectTo string
	// Unauthorized sends 401 in response to every request.
	Unauthorized bool
	// FailExternalIDs sends the given status in response to upserts of these
	// externalIds, without applying them (for example 422, or 500 for a
	// row that always fails).
	FailExternalIDs map[string]int
}

type faultKind int

const (
	faultNone faultKind = iota
	faultError
	faultTimeout
	faultReset
	faultTruncate
)

// SetFaults replaces the faults. It reseeds the generator and restarts the
// RateLimitBurst count. It is safe to call while requests are served.
func (s *Server) SetFaults(f Faults) {
	f.FailExternalIDs = maps.Clone(f.FailExternalIDs)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.burstLeft = f.RateLimitBurst
	s.rng = rand.New(rand.NewPCG(uint64(f.Seed), uint64(f.Seed)^0x9e3779b97f4a7c15))
}

// drawFaultLocked picks the random fault for one request. It draws only when
// a rate is set, so that the sequence for a seed does not depend on
// requests made while all rates were 0.
func (s *Server) drawFaultLocked() (faultKind, int) {
	f := s.faults
	if f.ErrorRate+f.TimeoutRate+f.ResetRate+f.TruncateRate <= 0 {
		return faultNone, 0
	}
	x := s.rng.Float64()
	switch {
	case x < f.ErrorRate:
		statuses := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}
		return faultError, statuses[s.rng.IntN(len(statuses))]
	case x < f.ErrorRate+f.TimeoutRate:
		return faultTimeout, 0
	case x < f.ErrorRate+f.TimeoutRate+f.ResetRate:
		return faultReset, 0
	case x < f.ErrorRate+f.TimeoutRate+f.ResetRate+f.TruncateRate:
		return faultTruncate, 0
	default:
		return faultNone, 0
	}
}

// rateLimited applies Faults.RateLimitBurst and Options.RateLimit. It sends
// 429 and returns true when the request is over the limit; otherwise it sets
// the RateLimit-* headers (when a limit is configured) and returns false.
// Rejected requests do not consume the limit.
func (s *Server) rateLimited(rw *responder) bool {
	s.mu.Lock()
	now := s.now()
	faults := s.faults
	var retryAfter time.Duration
	limited := false
	if s.burstLeft > 0 {
		s.burstLeft--
		limited = true
		retryAfter = faults.RateLimitRetryAfter
		if retryAfter <= 0 {
			retryAfter = time.Second
		}
	}
	if s.limiter != nil {
		if !limited {
			reservation := s.limiter.ReserveN(now, 1)
			if delay := reservation.DelayFrom(now); delay > 0 {
				reservation.CancelAt(now)
				limited = true
				retryAfter = delay
			}
		}
		setRateLimitHeaders(rw.w.Header(), s.limiter, now, retryAfter)
	}
	if limited {
		s.stats.RateLimited++
	}
	s.mu.Unlock()

	if !limited {
		return false
	}
	seconds := max(1, int64(math.Ceil(retryAfter.Seconds())))
	if !faults.OmitRetryAfter {
		if faults.RetryAfterHTTPDate {
			// HTTP dates have whole seconds; one more second keeps the
			// date from falling before the true reset.
			date := now.Add(time.Duration(seconds+1) * time.Second).UTC().Format(http.TimeFormat)
			rw.w.Header().Set("Retry-After", date)
		} else {
			rw.w.Header().Set("Retry-After", strconv.FormatInt(seconds, 10))
		}
	}
	rw.send(http.StatusTooManyRequests, errorBody("rate limit exceeded, retry in "+strconv.FormatInt(seconds, 10)+"s"))
	return true
}

// setRateLimitHeaders sends RateLimit-Limit (requests per second),
// RateLimit-Remaining (whole tokens left) and RateLimit-Reset (seconds until
// the next token, or until retryAfter on a 429), after the IETF
// httpapi-ratelimit-headers draft.
func setRateLimitHeaders(h http.Header, limiter *rate.Limiter, now time.Time, retryAfter time.Duration) {
	tokens := limiter.TokensAt(now)
	reset := retryAfter
	if reset <= 0 && tokens < 1 {
		reset = time.Duration((1 - tokens) / float64(limiter.Limit()) * float64(time.Second))
	}
	h.Set("RateLimit-Limit", strconv.FormatInt(int64(math.Ceil(float64(limiter.Limit()))), 10))
	h.Set("RateLimit-Remaining", strconv.FormatInt(max(0, int64(math.Floor(tokens))), 10))
	h.Set("RateLimit-Reset", strconv.FormatInt(int64(math.Ceil(reset.Seconds())), 10))
}
