package atlas

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 3 ", 3 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"Sat, 01 Mar 2025 12:00:30 GMT", 30 * time.Second, true},
		{"Saturday, 01-Mar-25 12:00:10 GMT", 10 * time.Second, true},
		{"Sat Mar  1 12:00:05 2025", 5 * time.Second, true},
		{"Sat, 01 Mar 2025 11:59:00 GMT", 0, true},
		{"99999999999999", maxRetryAfter, true},
		{"", 0, false},
		{"-5", 0, false},
		{"soon", 0, false},
		{"NaN", 0, false},
	}
	for _, tc := range cases {
		got, ok := ParseRetryAfter(tc.value, now)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s, %v", tc.value, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestRetryAfterFromHeader(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		header http.Header
		want   time.Duration
		wantOK bool
	}{
		{"Retry-After first", http.Header{"Retry-After": {"4"}, "Ratelimit-Reset": {"9"}}, 4 * time.Second, true},
		{"RateLimit-Reset", http.Header{"Ratelimit-Reset": {"9"}}, 9 * time.Second, true},
		{"invalid Retry-After falls back", http.Header{"Retry-After": {"later"}, "Ratelimit-Reset": {"9"}}, 9 * time.Second, true},
		{"X-RateLimit-Reset delta", http.Header{"X-Ratelimit-Reset": {"6"}}, 6 * time.Second, true},
		{"X-RateLimit-Reset epoch", http.Header{"X-Ratelimit-Reset": {"1740830420"}}, 20 * time.Second, true},
		{"nothing", http.Header{}, 0, false},
	}
	for _, tc := range cases {
		got, ok := RetryAfterFromHeader(tc.header, now)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: got %s, %v; want %s, %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}
