package atlas

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter clamps parsed delays so that absurd header values cannot
// overflow time.Duration. Callers should apply their own, smaller cap.
const maxRetryAfter = 365 * 24 * time.Hour

// epochThreshold separates delta seconds from Unix timestamps in reset
// headers: a value above it (2001-09-09 as a timestamp, 31 years as a delta)
// can only be a timestamp.
const epochThreshold = 1_000_000_000

// ParseRetryAfter parses a Retry-After header value: delay-seconds or an
// HTTP-date (RFC 9110, section 10.2.3). A fractional number of seconds is
// accepted although the RFC allows only integers. A date in the past yields
// 0. It returns false for an empty or unparsable value.
func ParseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if seconds, err := strconv.ParseFloat(h, 64); err == nil {
		return secondsToDuration(seconds)
	}
	date, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	return clampDelay(date.Sub(now)), true
}

// RetryAfterFromHeader returns the delay a response asks for. Retry-After
// comes first. When it is absent or invalid, RateLimit-Reset (IETF
// httpapi-ratelimit-headers draft) and then X-RateLimit-Reset are read.
//
// NOTE: Atlas publishes no rate-limit headers, so the reset headers are an
// assumption. Both are read as delta seconds, except that a value above
// 1,000,000,000 is taken as a Unix timestamp, because some APIs (GitHub's,
// for one) send X-RateLimit-Reset that way.
func RetryAfterFromHeader(h http.Header, now time.Time) (time.Duration, bool) {
	if d, ok := ParseRetryAfter(h.Get("Retry-After"), now); ok {
		return d, true
	}
	for _, name := range []string{"RateLimit-Reset", "X-RateLimit-Reset"} {
		if d, ok := parseResetHeader(h.Get(name), now); ok {
			return d, true
		}
	}
	return 0, false
}

func parseResetHeader(v string, now time.Time) (time.Duration, bool) {
	seconds, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, false
	}
	if seconds > epochThreshold {
		whole, frac := math.Modf(seconds)
		reset := time.Unix(int64(whole), int64(frac*1e9))
		return clampDelay(reset.Sub(now)), true
	}
	return secondsToDuration(seconds)
}

func secondsToDuration(seconds float64) (time.Duration, bool) {
	if math.IsNaN(seconds) || seconds < 0 {
		return 0, false
	}
	if seconds >= maxRetryAfter.Seconds() {
		return maxRetryAfter, true
	}
	return time.Duration(seconds * float64(time.Second)), true
}

func clampDelay(d time.Duration) time.Duration {
	return min(max(d, 0), maxRetryAfter)
}
