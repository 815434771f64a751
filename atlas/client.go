package atlas

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	defaultTimeout   = 30 * time.Second
	defaultUserAgent = "atlas-sync"

	// maxErrorBody is how much of a non-2xx body is read for the message.
	maxErrorBody = 64 << 10
	// maxSuccessBody bounds a 2xx body. A list page of 100 accounts with
	// many custom fields stays well below it.
	maxSuccessBody = 8 << 20

	maxRedirects = 5
)

// Options configures a Client.
type Options struct {
	// BaseURL is the API root, for example https://api.atlas.so. It must use
	// https unless the host is a loopback address (127.0.0.0/8, ::1,
	// localhost) or AllowInsecureHTTP is set. A path prefix is kept:
	// https://proxy.example/atlas sends upserts to
	// https://proxy.example/atlas/v1/accounts/upsert.
	BaseURL string
	// Token is the API token, sent only as "Authorization: Bearer <Token>"
	// and only to BaseURL's origin. Required.
	Token string
	// Timeout bounds one request, from sending it to reading the last byte
	// of the response body. 0 means 30s.
	Timeout time.Duration
	// UserAgent is the User-Agent header. "" means "atlas-sync".
	UserAgent string
	// AllowInsecureHTTP permits an http:// BaseURL on a host that is not
	// loopback, which sends the token in clear text.
	AllowInsecureHTTP bool
	// RootCAs are the certificate authorities trusted for TLS. nil means the
	// system roots, which on Linux honor SSL_CERT_FILE and SSL_CERT_DIR.
	RootCAs *x509.CertPool
}

// Client calls the Atlas API. It is safe for concurrent use; create one per
// token and share it between workers so that they share connections.
type Client struct {
	base      *url.URL
	origin    string
	token     string
	userAgent string
	timeout   time.Duration
	http      *http.Client
}

// NewClient validates opts and returns a Client. Errors name the offending
// option and never contain the token.
func NewClient(opts Options) (*Client, error) {
	base, err := parseBaseURL(opts.BaseURL, opts.AllowInsecureHTTP)
	if err != nil {
		return nil, err
	}
	if err := validateToken(opts.Token); err != nil {
		return nil, err
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("invalid timeout %s: must be positive, or 0 for the default of %s", opts.Timeout, defaultTimeout)
	}

	c := &Client{
		base:      base,
		origin:    originOf(base),
		token:     opts.Token,
		userAgent: opts.UserAgent,
		timeout:   opts.Timeout,
	}
	if c.userAgent == "" {
		c.userAgent = defaultUserAgent
	}
	if c.timeout == 0 {
		c.timeout = defaultTimeout
	}
	c.http = &http.Client{
		Transport:     newTransport(opts.RootCAs),
		CheckRedirect: c.checkRedirect,
	}
	return c, nil
}

// BaseURL returns the validated base URL, for logs. It contains no secret:
// NewClient rejects user info in the URL.
func (c *Client) BaseURL() string {
	return c.base.String()
}

// CloseIdleConnections closes kept-alive connections, for example when a
// daemon goes idle or a test ends.
func (c *Client) CloseIdleConnections() {
	c.http.CloseIdleConnections()
}

func parseBaseURL(raw string, allowInsecure bool) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("missing base URL: set it to the Atlas API root, for example https://api.atlas.so")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid base URL %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("invalid base URL %q: scheme must be https (or http on loopback)", raw)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("invalid base URL %q: missing host", raw)
	case u.User != nil:
		// The string is not echoed, because user info may hold a password.
		return nil, errors.New("invalid base URL: it must not contain user info; put the token in the token setting")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("invalid base URL %q: it must not have a query or fragment", raw)
	}
	if u.Scheme == "http" && !allowInsecure && !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("insecure base URL %q: use https, because http sends the token in clear text (allowed without opt-in only on loopback)", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func validateToken(token string) error {
	if token == "" {
		return errors.New("missing Atlas API token")
	}
	for _, r := range token {
		if r <= ' ' || r == 0x7f {
			return errors.New("invalid Atlas API token: it contains whitespace or control characters (check for a trailing newline)")
		}
	}
	return nil
}

// isLoopbackHost reports whether host is localhost or a loopback IP literal.
// Names other than "localhost" are not resolved, because DNS answers can
// change between the check and the connection.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// originOf returns scheme://host:port in lower case with the default port
// filled in, so that https://API.atlas.so and https://api.atlas.so:443 match.
func originOf(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// checkRedirect follows redirects only within the base URL's origin, so the
// Authorization header never reaches another host.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if originOf(req.URL) != c.origin {
		target := url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host, Path: req.URL.Path}
		return &RedirectError{Location: target.String()}
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects: %w", maxRedirects, ErrTooManyRedirects)
	}
	return nil
}

// newTransport clones the default transport (proxy from environment, HTTP/2)
// and sets timeouts for each phase. The whole-request bound is the context
// deadline set in do.
func newTransport(rootCAs *x509.CertPool) *http.Transport {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = (&net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
	}).DialContext
	transport.TLSHandshakeTimeout = 10 * time.Second
	transport.ExpectContinueTimeout = time.Second
	transport.IdleConnTimeout = 90 * time.Second
	// The default of 2 idle connections per host would make a pool of
	// workers open and close connections constantly.
	transport.MaxIdleConnsPerHost = 64
	transport.TLSClientConfig = &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    rootCAs,
	}
	return transport
}

// response is a fully read 2xx response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request and reads the whole response within c.timeout.
// escapedPath is appended to the base URL as is, so callers escape path
// segments themselves.
func (c *Client) do(ctx context.Context, method, escapedPath string, query url.Values, body []byte) (*response, error) {
	target := *c.base
	target.RawPath = c.base.EscapedPath() + escapedPath
	unescaped, err := url.PathUnescape(target.RawPath)
	if err != nil {
		return nil, fmt.Errorf("build request URL for %s: %w", escapedPath, err)
	}
	target.Path = unescaped
	target.RawQuery = query.Encode()
	op := method + " " + redactURL(&target)

	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	var bodyReader io.Reader
	if body != nil {
		bodyReader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(reqCtx, method, target.String(), bodyReader)
	if err != nil {
		return nil, fmt.Errorf("%s: build request: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.requestError(ctx, reqCtx, op, err)
	}
	defer resp.Body.Close()

	success := resp.StatusCode >= 200 && resp.StatusCode < 300
	limit := int64(maxErrorBody)
	if success {
		limit = maxSuccessBody
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, c.requestError(ctx, reqCtx, op, fmt.Errorf("read HTTP %d response body: %w", resp.StatusCode, err))
	}
	if !success {
		if len(data) > maxErrorBody {
			data = data[:maxErrorBody]
		}
		return nil, fmt.Errorf("%s: %w", op, newAPIError(resp.StatusCode, resp.Header, data, c.token, time.Now()))
	}
	if len(data) > maxSuccessBody {
		return nil, fmt.Errorf("%s: %w: body exceeds %d bytes", op, ErrInvalidResponse, maxSuccessBody)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// requestError tells the caller's cancellation apart from the per-request
// timeout: both surface as a context error from net/http, but only the
// first means "stop", while the second is a transient failure.
func (c *Client) requestError(ctx, reqCtx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", op, ctx.Err())
	}
	if reqCtx.Err() != nil {
		return fmt.Errorf("%s: %w after %s", op, ErrTimeout, c.timeout)
	}
	// url.Error repeats method and URL, which op already states.
	if urlErr, ok := errors.AsType[*url.Error](err); ok {
		err = urlErr.Err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// redactURL drops user info (NewClient rejects it anyway) and keeps the
// rest, which contains no secret.
func redactURL(u *url.URL) string {
	copied := *u
	copied.User = nil
	return copied.String()
}
