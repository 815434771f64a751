package reliability

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atlas-sync/atlas-sync/atlas/emulator"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// faultProxy sits in front of the emulator and adds the faults the
// emulator has no switch for: an upsert that Atlas applies but answers
// only after the client's timeout, and a 200 whose body is HTML instead of
// JSON (a proxy's page). It can also turn the token invalid after a number
// of requests.
type faultProxy struct {
	emu       *emulator.Server
	slowRate  float64
	slowDelay time.Duration
	htmlRate  float64
	closed    chan struct{}

	// unauthorizedAfter, when positive, switches the emulator to respond with
	// 401 to every request after that many.
	unauthorizedAfter int64
	requests          atomic.Int64

	mu  stdsync.Mutex
	rng *rand.Rand

	slowApplied atomic.Int64 // upserts applied after the client gave up
	htmlApplied atomic.Int64 // upserts applied and then given an HTML response

	// slowPending counts slow requests not yet applied. A run ends before
	// they land, so a test waits for them (waitSlow) before it compares
	// the emulator's counts with the next run's.
	slowPending atomic.Int64
}

// waitSlow waits until every slow request has been applied or dropped. A
// handler may still be starting when the wait begins, so it polls instead
// of using a WaitGroup, whose Add must not race with Wait.
func (p *faultProxy) waitSlow(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.slowPending.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d slow requests still pending after 10s", p.slowPending.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newFaultProxy(emu *emulator.Server, seed uint64) *faultProxy {
	return &faultProxy{emu: emu, closed: make(chan struct{}), rng: rand.New(rand.NewPCG(seed, seed+1))}
}

func (p *faultProxy) draw() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64()
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := p.requests.Add(1)
	if p.unauthorizedAfter > 0 && n == p.unauthorizedAfter+1 {
		p.emu.SetFaults(emulator.Faults{Unauthorized: true})
	}
	x := p.draw()
	switch {
	case x < p.slowRate:
		p.serveSlow(w, r)
	case x < p.slowRate+p.htmlRate:
		p.serveHTML(w, r)
	default:
		p.emu.ServeHTTP(w, r)
	}
}

// serveSlow reads the request, waits past the client's timeout, then lets
// the emulator apply it, like a server that finishes work after the client stopped waiting.
func (p *faultProxy) serveSlow(w http.ResponseWriter, r *http.Request) {
	p.slowPending.Add(1)
	defer p.slowPending.Add(-1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	timer := time.NewTimer(p.slowDelay)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-p.closed:
		panic(http.ErrAbortHandler)
	}
	clientGone := r.Context().Err() != nil

	// The emulator holds a request hit by its own timeout fault until the
	// request's context ends, so the detached context gets a deadline.
	detachedCtx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Second)
	defer cancel()
	detached := r.Clone(detachedCtx)
	detached.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	p.emu.ServeHTTP(rec, detached)
	if clientGone {
		if rec.Code == http.StatusOK && r.URL.Path == "/v1/accounts/upsert" {
			p.slowApplied.Add(1)
		}
		panic(http.ErrAbortHandler)
	}
	copyRecorded(w, rec)
}

// serveHTML lets the emulator apply the request and replaces a 200's JSON
// body with an HTML page.
func (p *faultProxy) serveHTML(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	p.emu.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		copyRecorded(w, rec)
		return
	}
	if r.URL.Path == "/v1/accounts/upsert" {
		p.htmlApplied.Add(1)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "<html><body>Service OK</body></html>\n")
}

func copyRecorded(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for key, values := range rec.Header() {
		w.Header()[key] = values
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (p *faultProxy) Close() {
	close(p.closed)
}

// faultCase is one line of the fault table.
type faultCase struct {
	name          string
	faults        emulator.Faults
	slowRate      float64
	htmlRate      float64
	clientTimeout time.Duration
}

func faultCases() []faultCase {
	return []faultCase{
		{name: "5xx on 10%", faults: emulator.Faults{ErrorRate: 0.10}},
		{name: "timeouts on 5% (never answered)", faults: emulator.Faults{TimeoutRate: 0.05}, clientTimeout: 200 * time.Millisecond},
		{name: "connection reset mid-response on 5%", faults: emulator.Faults{ResetRate: 0.05}},
		{name: "200 with truncated JSON on 5%", faults: emulator.Faults{TruncateRate: 0.05}},
		{name: "200 with an HTML body on 5%", htmlRate: 0.05},
		{name: "slower than the client timeout on 5%", slowRate: 0.05, clientTimeout: 200 * time.Millisecond},
		{name: "429 burst, Retry-After in seconds", faults: emulator.Faults{RateLimitBurst: 4, RateLimitRetryAfter: time.Second}},
		{name: "429 burst, Retry-After as HTTP date", faults: emulator.Faults{RateLimitBurst: 4, RetryAfterHTTPDate: true}},
		{name: "429 burst without Retry-After", faults: emulator.Faults{RateLimitBurst: 4, OmitRetryAfter: true}},
		{
			name: "mixed: all of the above",
			faults: emulator.Faults{
				ErrorRate: 0.10, TimeoutRate: 0.05, ResetRate: 0.05, TruncateRate: 0.05,
				RateLimitBurst: 6, RetryAfterHTTPDate: true,
			},
			slowRate: 0.03, htmlRate: 0.03, clientTimeout: 200 * time.Millisecond,
		},
	}
}

// TestFaultsDeliverEveryRow runs two generations of accounts (all new,
// then every tenth changed) under each fault, then a run without faults.
// Every account must end in the emulator with its latest data, the rerun
// must send nothing, and every repeated upsert must be explained by a
// response the client never saw although Atlas applied the request.
func TestFaultsDeliverEveryRow(t *testing.T) {
	rows := 400
	if soak() {
		rows = 5000
	}
	t.Logf("| fault | requests | retries | rows delivered | rows lost | repeated upserts | applied but unacknowledged | repeats beyond those |")
	t.Logf("|---|---|---|---|---|---|---|---|")
	for i, tc := range faultCases() {
		t.Run(tc.name, func(t *testing.T) {
			runFaultCase(t, tc, rows, uint64(i+1))
		})
	}
}

func runFaultCase(t *testing.T, tc faultCase, rows int, seed uint64) {
	emu := emulator.New(emulator.Options{Token: token})
	proxy := newFaultProxy(emu, seed)
	proxy.slowRate, proxy.htmlRate = tc.slowRate, tc.htmlRate
	proxy.slowDelay = 2 * tc.clientTimeout
	server := httptest.NewServer(proxy)
	defer server.Close()
	defer emu.Close()
	defer proxy.Close()

	e := newEngineEnv(t, emu, server)
	if tc.clientTimeout > 0 {
		e.timeout = tc.clientTimeout
	}

	first := generation(rows, 0, 0)
	second := generation(rows, 1, 10)
	expected := map[string]int{}
	for i := range first {
		expected[first[i].id] = 1
		if first[i] != second[i] {
			expected[first[i].id] = 2
		}
	}

	var retries int64
	for phase, accounts := range [][]account{first, second} {
		faults := tc.faults
		faults.Seed = int64(seed*10) + int64(phase)
		emu.SetFaults(faults)
		writeCSV(t, e.csvPath, accounts)
		res := e.run(context.Background())
		// The proxy's slow requests outlive the run that sent them.
		proxy.waitSlow(t)
		if res.Outcome != atlassync.OutcomeOK {
			t.Fatalf("phase %d: outcome %s (%v), want ok", phase+1, res.Outcome, res.Err)
		}
		retries += res.Counts.Retries + res.Counts.RateLimited
	}

	emu.SetFaults(emulator.Faults{})
	stats := emu.Stats()
	lost := missingOrStale(emu, second)
	repeated := repeatedUpserts(stats, expected)
	unacknowledged := stats.Resets + stats.Truncated + int(proxy.slowApplied.Load()+proxy.htmlApplied.Load())
	beyond := max(0, repeated-unacknowledged)

	t.Logf("| %s | %d | %d | %d | %d | %d | %d | %d |", tc.name, stats.Requests, retries, rows-len(lost), len(lost), repeated, unacknowledged, beyond)
	if len(lost) > 0 {
		t.Errorf("%d accounts missing or stale in the emulator, first %s", len(lost), lost[0])
	}
	if beyond > 0 {
		t.Errorf("%d repeated upserts, only %d explained by applied but unacknowledged requests", repeated, unacknowledged)
	}

	res := e.run(context.Background())
	if res.Outcome != atlassync.OutcomeOK || res.Counts.Unchanged != int64(rows) {
		t.Errorf("rerun %s unchanged %d, want ok and %d", res.Outcome, res.Counts.Unchanged, rows)
	}
	if got := emu.Stats().Requests - stats.Requests; got != 0 {
		t.Errorf("rerun sent %d requests, want 0: the checkpoint must match what Atlas acknowledged", got)
	}
	if got := e.checkpointLen(); got != rows {
		t.Errorf("checkpoint holds %d rows, want %d", got, rows)
	}
}

// TestRedirectToOtherHostKeepsToken responds to every request with a 307 to a
// second server. The client must not follow it, so the second server receives
// no request and no token, and the run stops with an error naming the
// redirect.
func TestRedirectToOtherHostKeepsToken(t *testing.T) {
	var otherRequests, tokensSeen atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherRequests.Add(1)
		if r.Header.Get("Authorization") != "" {
			tokensSeen.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer other.Close()

	emu := emulator.New(emulator.Options{Token: token})
	server := httptest.NewServer(emu)
	defer server.Close()
	defer emu.Close()
	e := newEngineEnv(t, emu, server)
	accounts := generation(50, 0, 0)
	writeCSV(t, e.csvPath, accounts)

	emu.SetFaults(emulator.Faults{RedirectTo: other.URL})
	res := e.run(context.Background())
	if res.Outcome != atlassync.OutcomeFailed {
		t.Fatalf("outcome %s, want failed", res.Outcome)
	}
	if res.Err == nil || !strings.Contains(res.Err.Error(), "redirected to another host") {
		t.Errorf("error %v does not name the redirect", res.Err)
	}
	if got := otherRequests.Load(); got != 0 {
		t.Errorf("the other host received %d requests, want 0", got)
	}
	if got := tokensSeen.Load(); got != 0 {
		t.Errorf("the other host received the token %d times, want 0", got)
	}
	if got := e.checkpointLen(); got != 0 {
		t.Errorf("checkpoint holds %d rows after a run that delivered nothing, want 0", got)
	}
	redirected := emu.Stats().Requests
	t.Logf("| redirect to another host | %d | 0 | 0 (run stopped) | 0 | 0 | 0 | 0 |", redirected)

	emu.SetFaults(emulator.Faults{})
	if res := e.run(context.Background()); res.Outcome != atlassync.OutcomeOK {
		t.Fatalf("run after the redirect ended: %s (%v)", res.Outcome, res.Err)
	}
	if lost := missingOrStale(emu, accounts); len(lost) > 0 {
		t.Errorf("%d accounts missing after the redirect ended", len(lost))
	}
}

// TestUnauthorizedMidRunStopsAndKeepsAcks turns the token invalid after
// 100 requests. The run must stop at once (at most one request per worker
// after the first 401), keep every acknowledged row in the checkpoint,
// and the next run with a valid token must send exactly the rest.
func TestUnauthorizedMidRunStopsAndKeepsAcks(t *testing.T) {
	const rows, switchAfter = 400, 100
	emu := emulator.New(emulator.Options{Token: token})
	proxy := newFaultProxy(emu, 99)
	proxy.unauthorizedAfter = switchAfter
	server := httptest.NewServer(proxy)
	defer server.Close()
	defer emu.Close()
	defer proxy.Close()

	e := newEngineEnv(t, emu, server)
	accounts := generation(rows, 0, 0)
	writeCSV(t, e.csvPath, accounts)

	res := e.run(context.Background())
	if res.Outcome != atlassync.OutcomeFailed || !errors.Is(res.Err, atlassync.ErrUnauthorized) {
		t.Fatalf("outcome %s err %v, want failed with ErrUnauthorized", res.Outcome, res.Err)
	}
	stats := emu.Stats()
	after := stats.Requests - switchAfter
	if after < 1 || after > e.settings.Workers {
		t.Errorf("%d requests after the token turned invalid, want 1 to %d (one per worker)", after, e.settings.Workers)
	}
	acknowledged := len(emu.Accounts())
	if acknowledged != switchAfter {
		t.Errorf("emulator holds %d accounts, want the %d sent before the 401", acknowledged, switchAfter)
	}
	if got := e.checkpointLen(); got != acknowledged {
		t.Errorf("checkpoint holds %d rows, Atlas acknowledged %d", got, acknowledged)
	}

	emu.SetFaults(emulator.Faults{})
	before := stats.Requests
	res = e.run(context.Background())
	if res.Outcome != atlassync.OutcomeOK {
		t.Fatalf("run with the token valid again: %s (%v)", res.Outcome, res.Err)
	}
	final := emu.Stats()
	if got := final.Requests - before; got != rows-acknowledged {
		t.Errorf("second run sent %d requests, want %d", got, rows-acknowledged)
	}
	lost := missingOrStale(emu, accounts)
	once := make(map[string]int, rows)
	for _, a := range accounts {
		once[a.id] = 1
	}
	repeated := repeatedUpserts(final, once)
	t.Logf("| 401 after %d requests | %d | 0 | %d | %d | %d | 0 | %d |", switchAfter, final.Requests, rows-len(lost), len(lost), repeated, repeated)
	if len(lost) > 0 || repeated != 0 {
		t.Errorf("%d accounts lost, %d repeated upserts; want 0 and 0", len(lost), repeated)
	}
}
