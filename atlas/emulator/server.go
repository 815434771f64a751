// Package emulator is a development and test tool: an in-memory HTTP server
// that imitates the account endpoints of the Atlas API (upsert, list,
// retrieve) with bearer authentication, a server-side rate limit and
// injectable faults. It is not Atlas and keeps nothing on disk; where Atlas'
// behaviour is undocumented, the assumption is stated on the handler.
package emulator

import (
	"crypto/subtle"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// maxBodyBytes is the largest request body accepted; larger ones get 413.
const maxBodyBytes = 1 << 20

// Options configures a Server.
type Options struct {
	// Token is the bearer token that may read and write. Requests without
	// it get 401; an empty Token therefore rejects every request.
	Token string
	// ReadOnlyToken, when set, may read but gets 403 on upserts, like an
	// under-privileged Atlas token.
	ReadOnlyToken string
	// RateLimit is the server-side limit in requests per second for all
	// tokens together; 0 means none. Requests over it get 429 with
	// Retry-After and RateLimit-* headers.
	RateLimit float64
	// Burst is the token-bucket size of RateLimit. 0 means ceil(RateLimit).
	Burst int
	// Latency is added to every response.
	Latency time.Duration
	// CustomFields, when non-nil, defines the custom fields that upserts
	// may set: other keys and values of the wrong shape get 422 naming the
	// key. When nil, only the generic JSON shape is checked.
	CustomFields map[string]FieldDef
	// Clock returns the current time; nil means time.Now. It drives
	// createdAt, updatedAt, the rate limit and Retry-After dates. Delays
	// (Latency, Faults.Slow) always use real time.
	Clock func() time.Time
	// Logger receives one debug line per request; nil means no logging.
	Logger *zap.Logger
}

// Server is the emulator. It implements http.Handler and is safe for
// concurrent use.
type Server struct {
	opts   Options
	now    func() time.Time
	log    *zap.Logger
	closed chan struct{}
	once   sync.Once

	mu         sync.Mutex
	faults     Faults
	rng        *rand.Rand
	burstLeft  int
	limiter    *rate.Limiter
	accounts   map[string]*record // by externalId
	byID       map[string]*record
	lastSeq    int64
	requestSeq int64
	stats      Stats
}

// New returns an empty Server.
func New(opts Options) *Server {
	s := &Server{
		opts:   opts,
		now:    opts.Clock,
		log:    opts.Logger,
		closed: make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.resetLocked()
	return s
}

// Close releases requests held by Faults.TimeoutRate and ends pending
// delays, aborting their connections, so that an http.Server or
// httptest.Server can shut down. Later requests that would be held or
// delayed are aborted at once. Close is safe to call more than once.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
}

// Reset deletes every account, zeroes the statistics, clears the faults and
// refills the rate limit.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *Server) resetLocked() {
	s.faults = Faults{}
	s.rng = rand.New(rand.NewPCG(0, 0))
	s.burstLeft = 0
	s.accounts = map[string]*record{}
	s.byID = map[string]*record{}
	s.lastSeq = 0
	s.stats = Stats{ByStatus: map[int]int{}, Upserts: map[string]int{}}
	s.limiter = nil
	if s.opts.RateLimit > 0 {
		burst := s.opts.Burst
		if burst <= 0 {
			burst = max(1, int(math.Ceil(s.opts.RateLimit)))
		}
		s.limiter = rate.NewLimiter(rate.Limit(s.opts.RateLimit), burst)
	}
}

// ServeHTTP handles one request. The steps run in this order: delay,
// redirect fault, authentication, rate limit, random faults, routing. So a
// rate-limited or faulted request never changes an account, except under
// ResetRate and TruncateRate (see Faults).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
		return
	}

	plan := s.begin()
	w.Header().Set("X-Request-Id", plan.requestID)
	rw := &responder{server: s, w: w, r: r, requestID: plan.requestID}
	// net/http notices a client hanging up (and cancels r.Context()) only
	// after the body has been read, so read it before any delay or hold.
	rw.body, rw.bodyErr = io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))

	if !s.delay(r, s.opts.Latency+plan.faults.Slow) {
		s.abort(rw, "client gone during delay")
		return
	}
	if plan.faults.RedirectTo != "" {
		location := strings.TrimRight(plan.faults.RedirectTo, "/") + r.URL.RequestURI()
		w.Header().Set("Location", location)
		rw.send(http.StatusTemporaryRedirect, errorBody("moved to "+location))
		return
	}
	if plan.faults.Unauthorized {
		rw.send(http.StatusUnauthorized, errorBody("invalid or expired API token"))
		return
	}
	readOnly, ok := s.authenticate(rw)
	if !ok {
		return
	}
	if s.rateLimited(rw) {
		return
	}

	switch plan.fault {
	case faultError:
		rw.send(plan.errorStatus, errorBody("internal error (injected fault)"))
		return
	case faultTimeout:
		s.hold(rw)
		return
	case faultReset:
		rw.delivery = deliverReset
	case faultTruncate:
		rw.delivery = deliverTruncate
	}
	s.route(rw, readOnly)
}

// requestPlan is the request id, fault settings and drawn fault of one
// request, fixed by begin under the lock.
type requestPlan struct {
	requestID   string
	faults      Faults
	fault       faultKind
	errorStatus int
}

func (s *Server) begin() requestPlan {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests++
	s.requestSeq++
	plan := requestPlan{
		requestID: fmt.Sprintf("req-%06d", s.requestSeq),
		faults:    s.faults,
	}
	plan.fault, plan.errorStatus = s.drawFaultLocked()
	return plan
}

// authenticate checks the bearer token and returns whether it is the
// read-only one. On failure it has already sent 401.
func (s *Server) authenticate(rw *responder) (readOnly, ok bool) {
	scheme, token, found := strings.Cut(rw.r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		rw.w.Header().Set("WWW-Authenticate", `Bearer realm="atlas"`)
		rw.send(http.StatusUnauthorized, errorBody("missing bearer token"))
		return false, false
	}
	if s.opts.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.opts.Token)) == 1 {
		return false, true
	}
	if s.opts.ReadOnlyToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.opts.ReadOnlyToken)) == 1 {
		return true, true
	}
	rw.w.Header().Set("WWW-Authenticate", `Bearer realm="atlas", error="invalid_token"`)
	rw.send(http.StatusUnauthorized, errorBody("invalid API token"))
	return false, false
}

// route dispatches by path; wrong methods get 405 and unknown paths 404,
// both with a JSON message.
func (s *Server) route(rw *responder, readOnly bool) {
	path := rw.r.URL.Path
	switch {
	case path == "/v1/accounts/upsert":
		if !allowMethod(rw, http.MethodPost) {
			return
		}
		if readOnly {
			rw.send(http.StatusForbidden, errorBody("this token may not write accounts"))
			return
		}
		s.handleUpsert(rw)
	case path == "/v1/accounts":
		if allowMethod(rw, http.MethodGet) {
			s.handleList(rw)
		}
	case strings.HasPrefix(path, "/v1/accounts/") && !strings.Contains(strings.TrimPrefix(path, "/v1/accounts/"), "/"):
		if allowMethod(rw, http.MethodGet) {
			s.handleGet(rw, strings.TrimPrefix(path, "/v1/accounts/"))
		}
	default:
		rw.send(http.StatusNotFound, errorBody("no route for "+rw.r.Method+" "+path))
	}
}

func allowMethod(rw *responder, method string) bool {
	if rw.r.Method == method {
		return true
	}
	rw.w.Header().Set("Allow", method)
	rw.send(http.StatusMethodNotAllowed, errorBody("method "+rw.r.Method+" not allowed, use "+method))
	return false
}

// delay sleeps for d and reports false when the client went away or the
// Server was closed first.
func (s *Server) delay(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closed:
		return false
	}
}

// hold never responds: it waits until the client gives up or the Server is
// closed, then aborts the connection.
func (s *Server) hold(rw *responder) {
	s.mu.Lock()
	s.stats.Unanswered++
	s.mu.Unlock()
	select {
	case <-rw.r.Context().Done():
	case <-s.closed:
	}
	s.abort(rw, "held request released")
}

// abort ends the request without a response. Returning from a handler
// without writing would send an empty 200, so the connection is aborted with
// http.ErrAbortHandler, the net/http way to do that.
func (s *Server) abort(rw *responder, reason string) {
	s.log.Debug("request aborted",
		zap.String("request_id", rw.requestID),
		zap.String("method", rw.r.Method),
		zap.String("path", rw.r.URL.Path),
		zap.String("reason", reason))
	panic(http.ErrAbortHandler)
}

func errorBody(message string) map[string]any {
	return map[string]any{"message": message}
}
