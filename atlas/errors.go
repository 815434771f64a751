package atlas

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors returned (wrapped) by Client methods. Match them with
// errors.Is; Classify already maps each one to its Class.
var (
	// ErrTimeout means the request did not finish within Options.Timeout
	// while the caller's context was still live. Retrying is safe because
	// upserts are idempotent by externalId.
	ErrTimeout = errors.New("request timed out")

	// ErrInvalidResponse means Atlas responded 2xx with a body that is not
	// the expected JSON (truncated, not JSON, too large, wrong shape). The
	// request may have been applied; resending an upsert is safe.
	ErrInvalidResponse = errors.New("invalid response from Atlas")

	// ErrTooManyRedirects means the server kept redirecting within its own
	// origin; the base URL is probably wrong.
	ErrTooManyRedirects = errors.New("too many redirects")
)

// RedirectError reports a redirect to another origin (scheme, host or port).
// The client never follows it, so that the token is sent only to the
// configured base URL.
type RedirectError struct {
	// Location is the redirect target without query, fragment or user info.
	Location string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("redirected to another host (%s); not followed so the token is not sent there; check the base URL", e.Location)
}

// APIError is a non-2xx response from Atlas.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Message is the error text Atlas sent, taken from the JSON keys
	// "message", "error", "errors", "detail" or "title", or from a short
	// plain-text body. The token is masked if the server echoed it.
	Message string
	// RetryAfter is how long Atlas asked the client to wait; valid only when
	// HasRetryAfter is set. See RetryAfterFromHeader for the headers read.
	RetryAfter    time.Duration
	HasRetryAfter bool
	// RequestID is the server's id for the request (X-Request-Id,
	// Request-Id or X-Correlation-Id header, or "requestId" in the body),
	// for support tickets.
	RequestID string
}

// Error formats the status, Atlas' message, the Retry-After delay and the
// request id. It never contains the token because Message and RequestID are
// masked when the error is built.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if text := http.StatusText(e.Status); text != "" {
		b.WriteString(" " + text)
	}
	if e.Message != "" && e.Message != http.StatusText(e.Status) {
		b.WriteString(": " + e.Message)
	}
	if e.HasRetryAfter {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request id %s)", e.RequestID)
	}
	return b.String()
}

// IsNotFound reports whether err is an APIError with status 404.
func IsNotFound(err error) bool {
	apiErr, ok := errors.AsType[*APIError](err)
	return ok && apiErr.Status == http.StatusNotFound
}

// Class tells a caller how to react to an error.
type Class int

const (
	// ClassTransient: retry with backoff (5xx, timeouts, broken connections,
	// unreadable 2xx bodies).
	ClassTransient Class = iota + 1
	// ClassRateLimited: 429. Pause every worker sharing the token for the
	// APIError's RetryAfter (or a backoff when absent), then retry.
	ClassRateLimited
	// ClassRejected: Atlas rejected this payload (4xx other than 401, 403,
	// 408, 425, 429). Retrying the same payload will fail again.
	ClassRejected
	// ClassUnauthorized: 401 or 403. The token is wrong or lacks rights;
	// every further request with it fails too.
	ClassUnauthorized
	// ClassCanceled: the caller's context was canceled or its deadline
	// passed. Not an Atlas failure.
	ClassCanceled
	// ClassFatal: stop the run, the configuration is wrong (redirect to
	// another host, redirect loop, TLS certificate not trusted, unexpected
	// 3xx).
	ClassFatal
)

// String returns a lower-case name for logs and metrics labels.
func (c Class) String() string {
	switch c {
	case 0:
		return "none"
	case ClassTransient:
		return "transient"
	case ClassRateLimited:
		return "rate_limited"
	case ClassRejected:
		return "rejected"
	case ClassUnauthorized:
		return "unauthorized"
	case ClassCanceled:
		return "canceled"
	case ClassFatal:
		return "fatal"
	default:
		return fmt.Sprintf("Class(%d)", int(c))
	}
}

// Classify maps an error returned by a Client method to a Class. It returns 0
// for a nil error. Errors it does not recognize count as transient, because
// everything a Client returns besides the cases above comes from the network
// or from Atlas' response, and a caller's retry budget bounds them.
//
// A per-request timeout (ErrTimeout) is transient; the caller's own context
// being done is ClassCanceled. Client keeps the two apart when it builds the
// error, so Classify can rely on ErrTimeout being checked first.
func Classify(err error) Class {
	if err == nil {
		return 0
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return ClassifyStatus(apiErr.Status)
	}
	if _, ok := errors.AsType[*RedirectError](err); ok {
		return ClassFatal
	}
	if errors.Is(err, ErrTooManyRedirects) {
		return ClassFatal
	}
	if errors.Is(err, ErrTimeout) {
		return ClassTransient
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ClassCanceled
	}
	if isTLSConfigError(err) {
		return ClassFatal
	}
	return ClassTransient
}

// ClassifyStatus maps an HTTP status of a non-2xx response to a Class.
// 408 Request Timeout and 425 Too Early are transient even though they are
// 4xx, because the same request can succeed when sent again. A 3xx that
// reaches the caller was not followed (see RedirectError) and is fatal.
func ClassifyStatus(status int) Class {
	switch {
	case status == http.StatusTooManyRequests:
		return ClassRateLimited
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return ClassUnauthorized
	case status == http.StatusRequestTimeout || status == http.StatusTooEarly:
		return ClassTransient
	case status >= 400 && status < 500:
		return ClassRejected
	case status >= 300 && status < 400:
		return ClassFatal
	default:
		return ClassTransient
	}
}

// isTLSConfigError reports certificate and protocol mismatches, which no
// retry fixes: an untrusted or expired certificate, a wrong host name, or an
// https base URL pointing at a plain-HTTP port.
func isTLSConfigError(err error) bool {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return true
	}
	return false
}
