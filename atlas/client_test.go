package atlas_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/atlas/emulator"
)

const testToken = "s3cr3t-test-token-0123456789"

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newEmulator(t *testing.T, opts emulator.Options) (*emulator.Server, *httptest.Server) {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	emu := emulator.New(opts)
	server := httptest.NewServer(emu)
	t.Cleanup(func() {
		emu.Close()
		server.Close()
	})
	return emu, server
}

func newClient(t *testing.T, opts atlas.Options) *atlas.Client {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	client, err := atlas.NewClient(opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(client.CloseIdleConnections)
	return client
}

// assertNoToken fails when an error message would leak the token.
func assertNoToken(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), testToken) {
		t.Errorf("error message contains the token: %q", err)
	}
}

func apiError(t *testing.T, err error) *atlas.APIError {
	t.Helper()
	apiErr, ok := errors.AsType[*atlas.APIError](err)
	if !ok {
		t.Fatalf("error %v (%T) is not an *APIError", err, err)
	}
	return apiErr
}

func TestUpsertReturnsIDAndCreated(t *testing.T) {
	emu, server := newEmulator(t, emulator.Options{})
	client := newClient(t, atlas.Options{BaseURL: server.URL})
	ctx := context.Background()

	first, err := client.Upsert(ctx, []byte(`{"externalId":"acme","name":"Acme"}`))
	if err != nil {
		t.Fatalf("first upsert: %v", err)
	}
	account, _ := emu.Account("acme")
	if first.ID != account.ID || first.ID == "" {
		t.Errorf("ID = %q, want the emulator's id %q", first.ID, account.ID)
	}
	if first.Created == nil || !*first.Created {
		t.Errorf("Created = %v, want true", first.Created)
	}
	if first.Status != http.StatusOK {
		t.Errorf("Status = %d, want 200", first.Status)
	}

	second, err := client.Upsert(ctx, []byte(`{"externalId":"acme","name":"Acme Inc"}`))
	if err != nil {
		t.Fatalf("second upsert: %v", err)
	}
	if second.Created == nil || *second.Created {
		t.Errorf("Created = %v, want false", second.Created)
	}
	if second.ID != first.ID {
		t.Errorf("second ID = %q, want %q", second.ID, first.ID)
	}
}

func TestUpsertSendsHeadersAndBodyAsIs(t *testing.T) {
	var got *http.Request
	var gotBody []byte
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		gotBody, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"a-1"}`)
	}))
	defer server.Close()
	client := newClient(t, atlas.Options{BaseURL: server.URL + "/prefix/", UserAgent: "atlas-sync/1.2"})

	body := `{"customFields":{"b":1,"a":2},"externalId":"x"}`
	if _, err := client.Upsert(context.Background(), []byte(body)); err != nil {
		t.Fatalf("upsert: %v", err)
	}
	checks := map[string][2]string{
		"method":        {got.Method, http.MethodPost},
		"path":          {got.URL.Path, "/prefix/v1/accounts/upsert"},
		"authorization": {got.Header.Get("Authorization"), "Bearer " + testToken},
		"content type":  {got.Header.Get("Content-Type"), "application/json"},
		"user agent":    {got.Header.Get("User-Agent"), "atlas-sync/1.2"},
		"body":          {string(gotBody), body},
	}
	for name, pair := range checks {
		if pair[0] != pair[1] {
			t.Errorf("%s = %q, want %q", name, pair[0], pair[1])
		}
	}
}

func TestUpsertResponseShapes(t *testing.T) {
	cases := []struct {
		name        string
		status      int
		body        string
		wantID      string
		wantCreated string // "true", "false" or "nil"
	}{
		{"201 means created", http.StatusCreated, `{"id":"a-1"}`, "a-1", "true"},
		{"200 without flag is unknown", http.StatusOK, `{"id":"a-1"}`, "a-1", "nil"},
		{"flag wins over 201", http.StatusCreated, `{"id":"a-1","created":false}`, "a-1", "false"},
		{"numeric id", http.StatusOK, `{"id":42}`, "42", "nil"},
		{"data envelope", http.StatusOK, `{"data":{"id":"a-2","created":true}}`, "a-2", "true"},
		{"no content", http.StatusNoContent, ``, "", "nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer server.Close()
			client := newClient(t, atlas.Options{BaseURL: server.URL})

			result, err := client.Upsert(context.Background(), []byte(`{"externalId":"x"}`))
			if err != nil {
				t.Fatalf("upsert: %v", err)
			}
			if result.ID != tc.wantID {
				t.Errorf("ID = %q, want %q", result.ID, tc.wantID)
			}
			created := "nil"
			if result.Created != nil {
				created = map[bool]string{true: "true", false: "false"}[*result.Created]
			}
			if created != tc.wantCreated {
				t.Errorf("Created = %s, want %s", created, tc.wantCreated)
			}
		})
	}
}

func TestUpsertRejectedWithMessage(t *testing.T) {
	_, server := newEmulator(t, emulator.Options{CustomFields: map[string]emulator.FieldDef{"seats": {Type: "number"}}})
	client := newClient(t, atlas.Options{BaseURL: server.URL})

	_, err := client.Upsert(context.Background(), []byte(`{"externalId":"x","customFields":{"seats":"many"}}`))
	apiErr := apiError(t, err)
	if apiErr.Status != http.StatusUnprocessableEntity {
		t.Errorf("Status = %d, want 422", apiErr.Status)
	}
	if !strings.Contains(apiErr.Message, "customFields.seats") {
		t.Errorf("Message = %q, want it to name customFields.seats", apiErr.Message)
	}
	if apiErr.RequestID == "" {
		t.Error("RequestID is empty, want the emulator's X-Request-Id")
	}
	if got := atlas.Classify(err); got != atlas.ClassRejected {
		t.Errorf("Classify = %s, want rejected", got)
	}
	if !strings.Contains(err.Error(), "HTTP 422") || !strings.Contains(err.Error(), "customFields.seats") {
		t.Errorf("Error() = %q, want status and message", err)
	}
	assertNoToken(t, err)
}

func TestUnauthorizedAndForbidden(t *testing.T) {
	_, server := newEmulator(t, emulator.Options{ReadOnlyToken: "read-only-token"})
	body := []byte(`{"externalId":"x"}`)

	wrong := newClient(t, atlas.Options{BaseURL: server.URL, Token: "wrong-token"})
	_, err := wrong.Upsert(context.Background(), body)
	if status := apiError(t, err).Status; status != http.StatusUnauthorized {
		t.Errorf("wrong token: status = %d, want 401", status)
	}
	if got := atlas.Classify(err); got != atlas.ClassUnauthorized {
		t.Errorf("wrong token: Classify = %s, want unauthorized", got)
	}

	readOnly := newClient(t, atlas.Options{BaseURL: server.URL, Token: "read-only-token"})
	_, err = readOnly.Upsert(context.Background(), body)
	if status := apiError(t, err).Status; status != http.StatusForbidden {
		t.Errorf("read-only token: status = %d, want 403", status)
	}
	if got := atlas.Classify(err); got != atlas.ClassUnauthorized {
		t.Errorf("read-only token: Classify = %s, want unauthorized", got)
	}
}

func TestServerErrorIsTransient(t *testing.T) {
	emu, server := newEmulator(t, emulator.Options{})
	emu.SetFaults(emulator.Faults{Seed: 1, ErrorRate: 1})
	client := newClient(t, atlas.Options{BaseURL: server.URL})

	_, err := client.Upsert(context.Background(), []byte(`{"externalId":"x"}`))
	if status := apiError(t, err).Status; status < 500 {
		t.Errorf("status = %d, want 5xx", status)
	}
	if got := atlas.Classify(err); got != atlas.ClassTransient {
		t.Errorf("Classify = %s, want transient", got)
	}
}

func TestRateLimitedRetryAfter(t *testing.T) {
	t.Run("seconds", func(t *testing.T) {
		emu, server := newEmulator(t, emulator.Options{})
		emu.SetFaults(emulator.Faults{RateLimitBurst: 1, RateLimitRetryAfter: 3 * time.Second})
		client := newClient(t, atlas.Options{BaseURL: server.URL})

		_, err := client.Upsert(context.Background(), []byte(`{"externalId":"x"}`))
		apiErr := apiError(t, err)
		if atlas.Classify(err) != atlas.ClassRateLimited {
			t.Errorf("Classify = %s, want rate_limited", atlas.Classify(err))
		}
		if !apiErr.HasRetryAfter || apiErr.RetryAfter != 3*time.Second {
			t.Errorf("RetryAfter = %s (present %v), want 3s", apiErr.RetryAfter, apiErr.HasRetryAfter)
		}
	})

	t.Run("HTTP date", func(t *testing.T) {
		emu, server := newEmulator(t, emulator.Options{})
		emu.SetFaults(emulator.Faults{RateLimitBurst: 1, RetryAfterHTTPDate: true})
		client := newClient(t, atlas.Options{BaseURL: server.URL})

		_, err := client.Upsert(context.Background(), []byte(`{"externalId":"x"}`))
		apiErr := apiError(t, err)
		if atlas.Classify(err) != atlas.ClassRateLimited {
			t.Errorf("Classify = %s, want rate_limited", atlas.Classify(err))
		}
		// The emulator sends now+2s rounded down to whole seconds.
		if !apiErr.HasRetryAfter || apiErr.RetryAfter <= 0 || apiErr.RetryAfter > 2*time.Second {
			t.Errorf("RetryAfter = %s (present %v), want within (0, 2s]", apiErr.RetryAfter, apiErr.HasRetryAfter)
		}
	})

	t.Run("RateLimit-Reset without Retry-After", func(t *testing.T) {
		frozen := time.Now()
		emu, server := newEmulator(t, emulator.Options{RateLimit: 0.5, Burst: 1, Clock: func() time.Time { return frozen }})
		emu.SetFaults(emulator.Faults{OmitRetryAfter: true})
		client := newClient(t, atlas.Options{BaseURL: server.URL})

		if _, err := client.Upsert(context.Background(), []byte(`{"externalId":"x"}`)); err != nil {
			t.Fatalf("first upsert: %v", err)
		}
		_, err := client.Upsert(context.Background(), []byte(`{"externalId":"y"}`))
		apiErr := apiError(t, err)
		if !apiErr.HasRetryAfter || apiErr.RetryAfter != 2*time.Second {
			t.Errorf("RetryAfter = %s (present %v), want 2s from RateLimit-Reset", apiErr.RetryAfter, apiErr.HasRetryAfter)
		}
	})

	t.Run("no hint", func(t *testing.T) {
		emu, server := newEmulator(t, emulator.Options{})
		emu.SetFaults(emulator.Faults{RateLimitBurst: 1, OmitRetryAfter: true})
		client := newClient(t, atlas.Options{BaseURL: server.URL})

		_, err := client.Upsert(context.Background(), []byte(`{"externalId":"x"}`))
		if apiError(t, err).HasRetryAfter {
			t.Error("HasRetryAfter = true, want false without any header")
		}
	})
}

func TestRequestTimeoutIsTransient(t *testing.T) {
	emu, server := newEmulator(t, emulator.Options{})
	emu.SetFaults(emulator.Faults{Slow: time.Minute})
	client := newClient(t, atlas.Options{BaseURL: server.URL, Timeout: 100 * time.Millisecond})

	_, err := client.Upsert(context.Background(), []byte(`{"externalId":"x"}`))
	if !errors.Is(err, atlas.ErrTimeout) {
		t.Fatalf("error = %v, want ErrTimeout", err)
	}
	if got := atlas.Classify(err); got != atlas.ClassTransient {
		t.Errorf("Classify = %s, want transient (the caller's context is live)", got)
	}
}

func TestBrokenResponsesAreTransient(t *testing.T) {
	cases := []struct {
		name   string
		faults emulator.Faults
	}{
		{"connection reset", emulator.Faults{ResetRate: 1}},
		{"truncated body", emulator.Faults{TruncateRate: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu, server := newEmulator(t, emulator.Options{})
			emu.SetFaults(tc.faults)
			client := newClient(t, atlas.Options{BaseURL: server.URL})

			_, err := client.Upsert(context.Background(), []byte(`{"externalId":"x"}`))
			if err == nil {
				t.Fatal("upsert succeeded, want an error")
			}
			if got := atlas.Classify(err); got != atlas.ClassTransient {
				t.Errorf("Classify(%v) = %s, want transient", err, got)
			}
		})
	}
}

func TestNonJSONSuccessIsInvalidResponse(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>maintenance</html>")
	}))
	defer server.Close()
	client := newClient(t, atlas.Options{BaseURL: server.URL})

	_, err := client.Upsert(context.Background(), []byte(`{"externalId":"x"}`))
	if !errors.Is(err, atlas.ErrInvalidResponse) {
		t.Fatalf("error = %v, want ErrInvalidResponse", err)
	}
	if got := atlas.Classify(err); got != atlas.ClassTransient {
		t.Errorf("Classify = %s, want transient", got)
	}
}

func TestConnectionRefusedIsTransient(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := listener.Addr().String()
	listener.Close()
	client := newClient(t, atlas.Options{BaseURL: "http://" + addr})

	_, err = client.Upsert(context.Background(), []byte(`{"externalId":"x"}`))
	if err == nil {
		t.Fatal("upsert to a closed port succeeded")
	}
	if got := atlas.Classify(err); got != atlas.ClassTransient {
		t.Errorf("Classify(%v) = %s, want transient", err, got)
	}
}

// recordingServer records the requests it receives.
type recordingServer struct {
	*httptest.Server
	mu             sync.Mutex
	requests       int
	authorizations []string
}

func newRecordingServer(t *testing.T) *recordingServer {
	rec := &recordingServer{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.requests++
		rec.authorizations = append(rec.authorizations, r.Header.Get("Authorization"))
		rec.mu.Unlock()
		io.WriteString(w, `{"id":"stolen"}`)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func TestRedirectToOtherHostIsNotFollowed(t *testing.T) {
	other := newRecordingServer(t)
	emu, server := newEmulator(t, emulator.Options{})
	emu.SetFaults(emulator.Faults{RedirectTo: other.URL})
	client := newClient(t, atlas.Options{BaseURL: server.URL})

	_, err := client.Upsert(context.Background(), []byte(`{"externalId":"x"}`))
	if _, ok := errors.AsType[*atlas.RedirectError](err); !ok {
		t.Fatalf("error = %v, want a *RedirectError", err)
	}
	if got := atlas.Classify(err); got != atlas.ClassFatal {
		t.Errorf("Classify = %s, want fatal", got)
	}
	assertNoToken(t, err)

	other.mu.Lock()
	defer other.mu.Unlock()
	if other.requests != 0 {
		t.Errorf("other host received %d requests (Authorization %q), want 0", other.requests, other.authorizations)
	}
}

func TestRedirectWithinOriginIsFollowed(t *testing.T) {
	var mu sync.Mutex
	var finalAuth, finalBody string
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/accounts/upsert", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/v2/accounts/upsert", http.StatusPermanentRedirect)
	})
	mux.HandleFunc("/v2/accounts/upsert", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		finalAuth, finalBody = r.Header.Get("Authorization"), string(body)
		mu.Unlock()
		io.WriteString(w, `{"id":"moved"}`)
	})
	server := httptest.NewServer(mux)
	defer server.Close()
	client := newClient(t, atlas.Options{BaseURL: server.URL})

	result, err := client.Upsert(context.Background(), []byte(`{"externalId":"x"}`))
	if err != nil {
		t.Fatalf("upsert: %v", err)
	}
	if result.ID != "moved" {
		t.Errorf("ID = %q, want moved", result.ID)
	}
	mu.Lock()
	defer mu.Unlock()
	if finalAuth != "Bearer "+testToken || finalBody != `{"externalId":"x"}` {
		t.Errorf("redirected request: Authorization %q, body %q; want the token and the original body", finalAuth, finalBody)
	}
}

func TestCallerCancelIsCanceled(t *testing.T) {
	received := make(chan struct{})
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets net/http notice the client hanging up.
		_, _ = io.ReadAll(r.Body)
		close(received)
		<-r.Context().Done()
	}))
	defer server.Close()
	client := newClient(t, atlas.Options{BaseURL: server.URL})

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-received
		cancel()
	}()
	_, err := client.Upsert(ctx, []byte(`{"externalId":"x"}`))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if got := atlas.Classify(err); got != atlas.ClassCanceled {
		t.Errorf("Classify = %s, want canceled", got)
	}
}

func TestCallerDeadlineIsCanceled(t *testing.T) {
	emu, server := newEmulator(t, emulator.Options{})
	emu.SetFaults(emulator.Faults{Slow: time.Minute})
	client := newClient(t, atlas.Options{BaseURL: server.URL, Timeout: time.Minute})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := client.Upsert(ctx, []byte(`{"externalId":"x"}`))
	if errors.Is(err, atlas.ErrTimeout) {
		t.Errorf("error = %v, want the caller's deadline, not ErrTimeout", err)
	}
	if got := atlas.Classify(err); got != atlas.ClassCanceled {
		t.Errorf("Classify(%v) = %s, want canceled", err, got)
	}
}

func TestNewClientValidatesOptions(t *testing.T) {
	cases := []struct {
		name    string
		opts    atlas.Options
		wantErr string
	}{
		{"https", atlas.Options{BaseURL: "https://api.atlas.so"}, ""},
		{"http loopback IPv4", atlas.Options{BaseURL: "http://127.0.0.1:8089"}, ""},
		{"http loopback range", atlas.Options{BaseURL: "http://127.1.2.3"}, ""},
		{"http loopback IPv6", atlas.Options{BaseURL: "http://[::1]:8089"}, ""},
		{"http localhost", atlas.Options{BaseURL: "http://localhost:8089"}, ""},
		{"http remote", atlas.Options{BaseURL: "http://api.atlas.so"}, "use https"},
		{"http remote allowed", atlas.Options{BaseURL: "http://api.atlas.so", AllowInsecureHTTP: true}, ""},
		{"http localhost lookalike", atlas.Options{BaseURL: "http://localhost.evil.test"}, "use https"},
		{"missing", atlas.Options{}, "missing base URL"},
		{"ftp", atlas.Options{BaseURL: "ftp://api.atlas.so"}, "scheme"},
		{"no host", atlas.Options{BaseURL: "https:///v1"}, "missing host"},
		{"user info", atlas.Options{BaseURL: "https://user:pw@api.atlas.so"}, "user info"},
		{"query", atlas.Options{BaseURL: "https://api.atlas.so/?x=1"}, "query"},
		{"negative timeout", atlas.Options{BaseURL: "https://api.atlas.so", Timeout: -time.Second}, "timeout"},
		{"missing token", atlas.Options{BaseURL: "https://api.atlas.so", Token: "-"}, "missing Atlas API token"},
		{"token with newline", atlas.Options{BaseURL: "https://api.atlas.so", Token: testToken + "\n"}, "whitespace"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			switch opts.Token {
			case "":
				opts.Token = testToken
			case "-":
				opts.Token = ""
			}
			client, err := atlas.NewClient(opts)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewClient: %v", err)
				}
				client.CloseIdleConnections()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tc.wantErr)
			}
			assertNoToken(t, err)
			if err != nil && strings.Contains(err.Error(), "pw@") {
				t.Errorf("error %q repeats the URL's password", err)
			}
		})
	}
}

func TestTLSVerification(t *testing.T) {
	emu := emulator.New(emulator.Options{Token: testToken})
	server := httptest.NewUnstartedServer(emu)
	// The rejected handshake is the point of the test; keep it out of the log.
	server.Config.ErrorLog = log.New(io.Discard, "", 0)
	server.StartTLS()
	defer server.Close()
	defer emu.Close()

	untrusting := newClient(t, atlas.Options{BaseURL: server.URL})
	_, err := untrusting.Upsert(context.Background(), []byte(`{"externalId":"x"}`))
	if err == nil {
		t.Fatal("upsert to a self-signed server succeeded without trusting its CA")
	}
	if got := atlas.Classify(err); got != atlas.ClassFatal {
		t.Errorf("Classify(%v) = %s, want fatal", err, got)
	}

	roots := x509.NewCertPool()
	roots.AddCert(server.Certificate())
	trusting := newClient(t, atlas.Options{BaseURL: server.URL, RootCAs: roots})
	if _, err := trusting.Upsert(context.Background(), []byte(`{"externalId":"x"}`)); err != nil {
		t.Errorf("upsert with the CA trusted: %v", err)
	}
}

func TestTokenEchoIsRedacted(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"message":"token `+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+` is revoked"}`)
	}))
	defer server.Close()
	client := newClient(t, atlas.Options{BaseURL: server.URL})

	_, err := client.Upsert(context.Background(), []byte(`{"externalId":"x"}`))
	if err == nil {
		t.Fatal("upsert succeeded, want 401")
	}
	assertNoToken(t, err)
	if !strings.Contains(err.Error(), "[REDACTED]") {
		t.Errorf("Error() = %q, want the echoed token masked", err)
	}
}

func TestListAccountsPages(t *testing.T) {
	emu, server := newEmulator(t, emulator.Options{})
	client := newClient(t, atlas.Options{BaseURL: server.URL})
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		if _, err := client.Upsert(ctx, []byte(`{"externalId":"`+id+`"}`)); err != nil {
			t.Fatalf("upsert %s: %v", id, err)
		}
	}

	var externalIDs []string
	cursor, pages := "", 0
	for {
		page, err := client.ListAccounts(ctx, cursor, 2)
		if err != nil {
			t.Fatalf("list page %d: %v", pages, err)
		}
		pages++
		for _, account := range page.Accounts {
			externalIDs = append(externalIDs, account["externalId"].(string))
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if got := strings.Join(externalIDs, ","); got != "a,b,c,d,e" {
		t.Errorf("listed %s, want a,b,c,d,e", got)
	}
	if pages != 3 {
		t.Errorf("pages = %d, want 3", pages)
	}
	if got := emu.Stats().ByStatus[http.StatusOK]; got != 8 {
		t.Errorf("emulator answered %d requests with 200, want 8", got)
	}
}

func TestListAccountsCursorShapes(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"nextCursor", `{"data":[],"nextCursor":"n1"}`, "n1"},
		{"snake case in meta", `{"data":[],"meta":{"next_cursor":"n2"}}`, "n2"},
		{"pagination", `{"data":[],"pagination":{"nextCursor":"n3"}}`, "n3"},
		{"hasMore false", `{"data":[],"nextCursor":"n4","hasMore":false}`, ""},
		{"null cursor", `{"data":[],"nextCursor":null}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tc.body)
			}))
			defer server.Close()
			client := newClient(t, atlas.Options{BaseURL: server.URL})
			page, err := client.ListAccounts(context.Background(), "", 0)
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if page.NextCursor != tc.want {
				t.Errorf("NextCursor = %q, want %q", page.NextCursor, tc.want)
			}
		})
	}
}

func TestListAccountsRejectsBadShapes(t *testing.T) {
	cases := []struct{ name, body string }{
		{"no data", `{"items":[]}`},
		{"item not an object", `{"data":[1]}`},
		{"repeated cursor", `{"data":[],"nextCursor":"same"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tc.body)
			}))
			defer server.Close()
			client := newClient(t, atlas.Options{BaseURL: server.URL})
			_, err := client.ListAccounts(context.Background(), "same", 10)
			if !errors.Is(err, atlas.ErrInvalidResponse) {
				t.Errorf("error = %v, want ErrInvalidResponse", err)
			}
		})
	}
}

func TestGetAccount(t *testing.T) {
	_, server := newEmulator(t, emulator.Options{})
	client := newClient(t, atlas.Options{BaseURL: server.URL})
	ctx := context.Background()

	result, err := client.Upsert(ctx, []byte(`{"externalId":"g","name":"Gee","customFields":{"tier":"gold"}}`))
	if err != nil {
		t.Fatalf("upsert: %v", err)
	}
	account, err := client.GetAccount(ctx, result.ID)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if account["externalId"] != "g" || account["name"] != "Gee" {
		t.Errorf("account = %v, want externalId g and name Gee", account)
	}
	if fields, _ := account["customFields"].(map[string]any); fields["tier"] != "gold" {
		t.Errorf("customFields = %v, want tier gold", account["customFields"])
	}

	_, err = client.GetAccount(ctx, "no/such id")
	if !atlas.IsNotFound(err) {
		t.Errorf("missing account: error = %v, want 404", err)
	}
	if _, err := client.GetAccount(ctx, ".."); err == nil {
		t.Error("GetAccount(\"..\") succeeded, want an invalid id error")
	}
}
