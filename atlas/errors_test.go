package atlas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestClassifyStatus(t *testing.T) {
	cases := map[int]Class{
		400: ClassRejected,
		401: ClassUnauthorized,
		403: ClassUnauthorized,
		404: ClassRejected,
		408: ClassTransient,
		413: ClassRejected,
		422: ClassRejected,
		425: ClassTransient,
		429: ClassRateLimited,
		500: ClassTransient,
		502: ClassTransient,
		503: ClassTransient,
		504: ClassTransient,
		307: ClassFatal,
	}
	for status, want := range cases {
		if got := ClassifyStatus(status); got != want {
			t.Errorf("ClassifyStatus(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestClassifyErrors(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, 0},
		{"wrapped API error", fmt.Errorf("upsert: %w", &APIError{Status: 429}), ClassRateLimited},
		{"request timeout", fmt.Errorf("POST x: %w after 30s", ErrTimeout), ClassTransient},
		{"timeout wrapping deadline", fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded), ClassTransient},
		{"caller canceled", fmt.Errorf("POST x: %w", context.Canceled), ClassCanceled},
		{"caller deadline", fmt.Errorf("POST x: %w", context.DeadlineExceeded), ClassCanceled},
		{"redirect", fmt.Errorf("POST x: %w", &RedirectError{Location: "https://evil.test/"}), ClassFatal},
		{"redirect loop", fmt.Errorf("POST x: %w", ErrTooManyRedirects), ClassFatal},
		{"invalid response", fmt.Errorf("%w: unexpected end of JSON input", ErrInvalidResponse), ClassTransient},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), ClassTransient},
		{"connection refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), ClassTransient},
		{"unexpected EOF", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), ClassTransient},
		{"EOF", io.EOF, ClassTransient},
	}
	for _, tc := range cases {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestClassString(t *testing.T) {
	want := map[Class]string{
		ClassTransient:    "transient",
		ClassRateLimited:  "rate_limited",
		ClassRejected:     "rejected",
		ClassUnauthorized: "unauthorized",
		ClassCanceled:     "canceled",
		ClassFatal:        "fatal",
		0:                 "none",
		42:                "Class(42)",
	}
	for class, name := range want {
		if got := class.String(); got != name {
			t.Errorf("Class(%d).String() = %q, want %q", int(class), got, name)
		}
	}
}

func TestAPIErrorMessageExtraction(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"message", `{"message":"name is too long"}`, "name is too long"},
		{"error string", `{"error":"invalid_token"}`, "invalid_token"},
		{"error object", `{"error":{"code":"E1","message":"bad field"}}`, "bad field"},
		{"errors strings", `{"errors":["a","b"]}`, "a; b"},
		{"errors objects", `{"message":"Validation failed","errors":[{"field":"customFields.seats","message":"must be an integer"}]}`,
			"Validation failed; customFields.seats: must be an integer"},
		{"errors map", `{"errors":{"name":["is required"],"externalId":"too long"}}`, "externalId: too long; name: is required"},
		{"problem details", `{"title":"Unprocessable","detail":"seats must be an integer"}`, "seats must be an integer"},
		{"problem title only", `{"title":"Unprocessable"}`, "Unprocessable"},
		{"plain text", "upstream connect error\nmore", "upstream connect error"},
		{"html", "<html><body>502</body></html>", ""},
		{"control characters", `{"message":"line1\nline2\u0000"}`, "line1 line2"},
	}
	for _, tc := range cases {
		apiErr := newAPIError(422, http.Header{}, []byte(tc.body), "secret-token-xyz", time.Now())
		if apiErr.Message != tc.want {
			t.Errorf("%s: Message = %q, want %q", tc.name, apiErr.Message, tc.want)
		}
	}
}

func TestAPIErrorCapsMessage(t *testing.T) {
	long := `{"message":"` + strings.Repeat("x", 2000) + `"}`
	apiErr := newAPIError(400, http.Header{}, []byte(long), "secret-token-xyz", time.Now())
	if n := len([]rune(apiErr.Message)); n != maxMessageRunes+1 {
		t.Errorf("message has %d runes, want %d (cap plus ellipsis)", n, maxMessageRunes+1)
	}
}

func TestAPIErrorRetryAfterHeaders(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	header := http.Header{"Ratelimit-Reset": {"7"}}

	limited := newAPIError(429, header, nil, "", now)
	if !limited.HasRetryAfter || limited.RetryAfter != 7*time.Second {
		t.Errorf("429 with RateLimit-Reset: RetryAfter = %s (%v), want 7s", limited.RetryAfter, limited.HasRetryAfter)
	}
	failed := newAPIError(500, header, nil, "", now)
	if failed.HasRetryAfter {
		t.Error("500 with only RateLimit-Reset has a RetryAfter, want none")
	}
	unavailable := newAPIError(503, http.Header{"Retry-After": {"5"}}, nil, "", now)
	if !unavailable.HasRetryAfter || unavailable.RetryAfter != 5*time.Second {
		t.Errorf("503 with Retry-After: RetryAfter = %s (%v), want 5s", unavailable.RetryAfter, unavailable.HasRetryAfter)
	}
}

func TestAPIErrorString(t *testing.T) {
	err := &APIError{Status: 429, Message: "slow down", RetryAfter: 2 * time.Second, HasRetryAfter: true, RequestID: "req-1"}
	want := "HTTP 429 Too Many Requests: slow down (retry after 2s) (request id req-1)"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(fmt.Errorf("wrap: %w", err), err) {
		t.Error("wrapped APIError does not match itself")
	}
}
