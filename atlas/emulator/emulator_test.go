package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/atlas-sync/atlas-sync/atlas/emulator"
)

const testToken = "emulator-test-token"

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type testEnv struct {
	emu    *emulator.Server
	server *httptest.Server
	client *http.Client
}

func newEnv(t *testing.T, opts emulator.Options) *testEnv {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	emu := emulator.New(opts)
	server := httptest.NewServer(emu)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		emu.Close()
		client.CloseIdleConnections()
		server.Close()
	})
	return &testEnv{emu: emu, server: server, client: client}
}

type reply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (e *testEnv) request(t *testing.T, method, path, token, body string) reply {
	t.Helper()
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.server.URL+path, reader)
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body of %s %s: %v", method, path, err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (e *testEnv) upsert(t *testing.T, body string) reply {
	t.Helper()
	return e.request(t, http.MethodPost, "/v1/accounts/upsert", testToken, body)
}

func message(r reply) string {
	s, _ := r.body["message"].(string)
	return s
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestUpsertCreatesThenUpdates(t *testing.T) {
	env := newEnv(t, emulator.Options{})

	first := env.upsert(t, `{"externalId":"acme","name":"Acme","domain":"acme.test","customFields":{"tier":"gold"}}`)
	if first.status != http.StatusOK {
		t.Fatalf("create status = %d, body %s", first.status, first.raw)
	}
	if first.body["created"] != true {
		t.Errorf("create: created = %v, want true", first.body["created"])
	}
	id, _ := first.body["id"].(string)
	if !uuidV4.MatchString(id) {
		t.Errorf("id = %q, want a UUID v4", id)
	}
	if first.body["domain"] != "acme.test" {
		t.Errorf("domain = %v, want acme.test", first.body["domain"])
	}

	second := env.upsert(t, `{"externalId":"acme","name":"Acme Inc"}`)
	if second.status != http.StatusOK {
		t.Fatalf("update status = %d, body %s", second.status, second.raw)
	}
	if second.body["created"] != false {
		t.Errorf("update: created = %v, want false", second.body["created"])
	}
	if second.body["id"] != id {
		t.Errorf("update id = %v, want %s", second.body["id"], id)
	}

	account, ok := env.emu.Account("acme")
	if !ok {
		t.Fatal("account acme not stored")
	}
	if account.Name != "Acme Inc" {
		t.Errorf("Name = %q, want Acme Inc", account.Name)
	}
	if account.Version != 2 {
		t.Errorf("Version = %d, want 2", account.Version)
	}
	if account.CustomFields["tier"] != "gold" {
		t.Errorf("tier = %v, want gold (kept when customFields is absent)", account.CustomFields["tier"])
	}
	if account.Fields["domain"] != "acme.test" {
		t.Errorf("Fields[domain] = %v, want acme.test", account.Fields["domain"])
	}
}

func TestUpsertNullKeepsEmptyStringClears(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	env.upsert(t, `{"externalId":"a1","name":"Alpha","website":"https://a.test","customFields":{"tier":"gold","region":"eu","seats":12}}`)

	r := env.upsert(t, `{"externalId":"a1","name":null,"website":"","customFields":{"tier":null,"region":"","seats":null}}`)
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, body %s", r.status, r.raw)
	}

	account, _ := env.emu.Account("a1")
	if account.Name != "Alpha" {
		t.Errorf("Name = %q, want Alpha (null keeps)", account.Name)
	}
	if account.CustomFields["tier"] != "gold" {
		t.Errorf("tier = %v, want gold (null keeps)", account.CustomFields["tier"])
	}
	if account.CustomFields["seats"] != float64(12) {
		t.Errorf("seats = %v (%T), want 12 (null keeps)", account.CustomFields["seats"], account.CustomFields["seats"])
	}
	if account.CustomFields["region"] != "" {
		t.Errorf("region = %v, want \"\" (empty string clears)", account.CustomFields["region"])
	}
	if account.Fields["website"] != "" {
		t.Errorf("website = %v, want \"\" (empty string clears)", account.Fields["website"])
	}
}

func TestUpsertUnchangedKeepsVersion(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	body := `{"externalId":"same","name":"Same","customFields":{"tier":"gold"}}`
	env.upsert(t, body)
	env.upsert(t, body)

	account, _ := env.emu.Account("same")
	if account.Version != 1 {
		t.Errorf("Version = %d, want 1 after an identical resend", account.Version)
	}
	if got := env.emu.Stats().Upserts["same"]; got != 2 {
		t.Errorf("Stats.Upserts[same] = %d, want 2", got)
	}
}

func TestUpsertRejectsInvalidBody(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	cases := []struct {
		name, body string
		status     int
		contains   string
	}{
		{"not json", `{"externalId":`, http.StatusBadRequest, "invalid JSON"},
		{"array", `[1,2]`, http.StatusBadRequest, "JSON object"},
		{"trailing data", `{"externalId":"x"} {}`, http.StatusBadRequest, "after the top-level value"},
		{"missing externalId", `{"name":"x"}`, http.StatusUnprocessableEntity, "externalId"},
		{"empty externalId", `{"externalId":""}`, http.StatusUnprocessableEntity, "externalId"},
		{"numeric externalId", `{"externalId":12}`, http.StatusUnprocessableEntity, "externalId"},
		{"numeric name", `{"externalId":"x","name":5}`, http.StatusUnprocessableEntity, "name"},
		{"customFields array", `{"externalId":"x","customFields":[]}`, http.StatusUnprocessableEntity, "customFields"},
		{"nested array", `{"externalId":"x","customFields":{"tags":[1]}}`, http.StatusUnprocessableEntity, "customFields.tags[0]"},
		{"read-only id", `{"externalId":"x","id":"abc"}`, http.StatusUnprocessableEntity, "id is read-only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := env.upsert(t, tc.body)
			if r.status != tc.status {
				t.Fatalf("status = %d, want %d (body %s)", r.status, tc.status, r.raw)
			}
			if !strings.Contains(message(r), tc.contains) {
				t.Errorf("message = %q, want it to contain %q", message(r), tc.contains)
			}
		})
	}
	if n := len(env.emu.Accounts()); n != 0 {
		t.Errorf("stored %d accounts from invalid bodies, want 0", n)
	}
}

func TestUpsertValidatesCustomFieldTypes(t *testing.T) {
	defs := map[string]emulator.FieldDef{
		"note":    {Type: "text"},
		"seats":   {Type: "number"},
		"revenue": {Type: "decimal"},
		"renewal": {Type: "date"},
		"tier":    {Type: "list", Options: []string{"gold", "silver"}},
		"tags":    {Type: "multi", Options: []string{"a", "b"}},
		"site":    {Type: "url"},
		"hq":      {Type: "address"},
		"owner":   {Type: "agent"},
	}
	env := newEnv(t, emulator.Options{CustomFields: defs})

	valid := `{"externalId":"ok","customFields":{"note":"hi","seats":12,"revenue":12.5,"renewal":"2025-02-28",` +
		`"tier":"gold","tags":["a","b"],"site":{"url":"https://a.test","title":"A"},` +
		`"hq":{"street1":"1 Main St","city":"Berlin","zipCode":"10115","country":"DE"},` +
		`"owner":"3f2504e0-4f89-41d3-9a0c-0305e82c3301"}}`
	if r := env.upsert(t, valid); r.status != http.StatusOK {
		t.Fatalf("valid body: status = %d, body %s", r.status, r.raw)
	}
	if r := env.upsert(t, `{"externalId":"ok","customFields":{"seats":"","tier":null}}`); r.status != http.StatusOK {
		t.Fatalf("clearing with \"\" and keeping with null: status = %d, body %s", r.status, r.raw)
	}

	invalid := []struct{ name, fields, key string }{
		{"unknown key", `{"color":"red"}`, "customFields.color"},
		{"decimal in number", `{"seats":12.5}`, "customFields.seats"},
		{"string in number", `{"seats":"12"}`, "customFields.seats"},
		{"string in decimal", `{"revenue":"1.5"}`, "customFields.revenue"},
		{"bad date", `{"renewal":"2025-02-30"}`, "customFields.renewal"},
		{"date with time", `{"renewal":"2025-02-03T10:00:00Z"}`, "customFields.renewal"},
		{"list not an option", `{"tier":"bronze"}`, "customFields.tier"},
		{"multi not an array", `{"tags":"a"}`, "customFields.tags"},
		{"multi not an option", `{"tags":["a","z"]}`, "customFields.tags[1]"},
		{"url without url", `{"site":{"title":"A"}}`, "customFields.site.url"},
		{"url as string", `{"site":"https://a.test"}`, "customFields.site"},
		{"address unknown key", `{"hq":{"zip":"10115"}}`, "customFields.hq"},
		{"agent not a uuid", `{"owner":"bob"}`, "customFields.owner"},
		{"text as number", `{"note":5}`, "customFields.note"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			r := env.upsert(t, `{"externalId":"bad","customFields":`+tc.fields+`}`)
			if r.status != http.StatusUnprocessableEntity {
				t.Fatalf("status = %d, want 422 (body %s)", r.status, r.raw)
			}
			if !strings.Contains(message(r), tc.key) {
				t.Errorf("message = %q, want it to name %q", message(r), tc.key)
			}
		})
	}
	if _, ok := env.emu.Account("bad"); ok {
		t.Error("account bad stored despite 422")
	}
}

func TestValidateFieldDefs(t *testing.T) {
	if err := emulator.ValidateFieldDefs(map[string]emulator.FieldDef{"a": {Type: "text"}, "b": {Type: "list", Options: []string{"x"}}}); err != nil {
		t.Errorf("valid definitions: %v", err)
	}
	err := emulator.ValidateFieldDefs(map[string]emulator.FieldDef{"a": {Type: "colour"}, "b": {Type: "multi"}})
	if err == nil {
		t.Fatal("invalid definitions accepted")
	}
	for _, want := range []string{`"a": unknown type "colour"`, `"b": type multi needs options`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestAuthentication(t *testing.T) {
	env := newEnv(t, emulator.Options{ReadOnlyToken: "reader"})
	body := `{"externalId":"x"}`

	if r := env.request(t, http.MethodPost, "/v1/accounts/upsert", "", body); r.status != http.StatusUnauthorized {
		t.Errorf("no token: status = %d, want 401", r.status)
	}
	if r := env.request(t, http.MethodPost, "/v1/accounts/upsert", "wrong", body); r.status != http.StatusUnauthorized {
		t.Errorf("wrong token: status = %d, want 401", r.status)
	}
	if r := env.request(t, http.MethodPost, "/v1/accounts/upsert", "reader", body); r.status != http.StatusForbidden {
		t.Errorf("read-only token upsert: status = %d, want 403", r.status)
	}
	if r := env.request(t, http.MethodGet, "/v1/accounts", "reader", ""); r.status != http.StatusOK {
		t.Errorf("read-only token list: status = %d, want 200", r.status)
	}
	if n := len(env.emu.Accounts()); n != 0 {
		t.Errorf("stored %d accounts, want 0", n)
	}

	env.emu.SetFaults(emulator.Faults{Unauthorized: true})
	if r := env.request(t, http.MethodGet, "/v1/accounts", testToken, ""); r.status != http.StatusUnauthorized {
		t.Errorf("Unauthorized fault: status = %d, want 401", r.status)
	}
}

func TestRateLimitAnswers429(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	env := newEnv(t, emulator.Options{RateLimit: 0.5, Burst: 1, Clock: func() time.Time { return now }})

	first := env.upsert(t, `{"externalId":"r1"}`)
	if first.status != http.StatusOK {
		t.Fatalf("first request: status = %d, want 200", first.status)
	}
	if got := first.header.Get("RateLimit-Remaining"); got != "0" {
		t.Errorf("RateLimit-Remaining = %q, want 0", got)
	}

	second := env.upsert(t, `{"externalId":"r2"}`)
	if second.status != http.StatusTooManyRequests {
		t.Fatalf("second request: status = %d, want 429", second.status)
	}
	// One token per 2s at a frozen clock: the next token is 2s away.
	if got := second.header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2", got)
	}
	if got := second.header.Get("RateLimit-Reset"); got != "2" {
		t.Errorf("RateLimit-Reset = %q, want 2", got)
	}
	if got := second.header.Get("RateLimit-Limit"); got != "1" {
		t.Errorf("RateLimit-Limit = %q, want 1", got)
	}
	if _, ok := env.emu.Account("r2"); ok {
		t.Error("rate-limited upsert was applied")
	}

	now = now.Add(2 * time.Second)
	if r := env.upsert(t, `{"externalId":"r2"}`); r.status != http.StatusOK {
		t.Errorf("after the reset: status = %d, want 200", r.status)
	}
	if got := env.emu.Stats().RateLimited; got != 1 {
		t.Errorf("Stats.RateLimited = %d, want 1", got)
	}
}

func TestRateLimitBurstFault(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	env := newEnv(t, emulator.Options{Clock: func() time.Time { return now }})

	env.emu.SetFaults(emulator.Faults{RateLimitBurst: 1, RateLimitRetryAfter: 3 * time.Second})
	r := env.upsert(t, `{"externalId":"b"}`)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "3" {
		t.Errorf("seconds form: status %d, Retry-After %q; want 429 and 3", r.status, r.header.Get("Retry-After"))
	}
	if r := env.upsert(t, `{"externalId":"b"}`); r.status != http.StatusOK {
		t.Errorf("after the burst: status = %d, want 200", r.status)
	}

	env.emu.SetFaults(emulator.Faults{RateLimitBurst: 1, RetryAfterHTTPDate: true})
	r = env.upsert(t, `{"externalId":"b"}`)
	date, err := http.ParseTime(r.header.Get("Retry-After"))
	if err != nil {
		t.Fatalf("Retry-After %q is not an HTTP date: %v", r.header.Get("Retry-After"), err)
	}
	if date.Before(now.Add(time.Second)) {
		t.Errorf("Retry-After date %s is less than 1s after %s", date, now)
	}

	env.emu.SetFaults(emulator.Faults{RateLimitBurst: 1, OmitRetryAfter: true})
	r = env.upsert(t, `{"externalId":"b"}`)
	if r.status != http.StatusTooManyRequests {
		t.Errorf("OmitRetryAfter: status = %d, want 429", r.status)
	}
	if got, ok := r.header["Retry-After"]; ok {
		t.Errorf("OmitRetryAfter: Retry-After = %q, want none", got)
	}
	if got := env.emu.Stats().RateLimited; got != 3 {
		t.Errorf("Stats.RateLimited = %d, want 3", got)
	}
}

func TestStatsCountRequests(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	env.upsert(t, `{"externalId":"s1"}`)
	env.upsert(t, `{"externalId":"s1","name":"One"}`)
	env.upsert(t, `{"externalId":"s2"}`)
	env.upsert(t, `{"name":"no id"}`)
	env.request(t, http.MethodGet, "/v1/accounts", "", "")
	env.request(t, http.MethodGet, "/healthz", "", "")

	stats := env.emu.Stats()
	if stats.Requests != 5 {
		t.Errorf("Requests = %d, want 5 (healthz not counted)", stats.Requests)
	}
	if stats.ByStatus[200] != 3 || stats.ByStatus[422] != 1 || stats.ByStatus[401] != 1 {
		t.Errorf("ByStatus = %v, want 200:3 422:1 401:1", stats.ByStatus)
	}
	if stats.Upserts["s1"] != 2 || stats.Upserts["s2"] != 1 || len(stats.Upserts) != 2 {
		t.Errorf("Upserts = %v, want s1:2 s2:1", stats.Upserts)
	}

	env.emu.Reset()
	if stats := env.emu.Stats(); stats.Requests != 0 || len(stats.Upserts) != 0 {
		t.Errorf("after Reset: %+v, want zero", stats)
	}
	if n := len(env.emu.Accounts()); n != 0 {
		t.Errorf("after Reset: %d accounts, want 0", n)
	}
}

func TestListPaging(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	for i := range 5 {
		env.upsert(t, `{"externalId":"p`+strconv.Itoa(i)+`"}`)
	}

	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("paging did not end")
		}
		path := "/v1/accounts?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := env.request(t, http.MethodGet, path, testToken, "")
		if r.status != http.StatusOK {
			t.Fatalf("page %d: status = %d, body %s", page, r.status, r.raw)
		}
		data, _ := r.body["data"].([]any)
		for _, item := range data {
			seen = append(seen, item.(map[string]any)["externalId"].(string))
		}
		next, isString := r.body["nextCursor"].(string)
		if !isString {
			if r.body["hasMore"] != false {
				t.Errorf("last page: hasMore = %v, want false", r.body["hasMore"])
			}
			break
		}
		cursor = next
	}
	if got := strings.Join(seen, ","); got != "p0,p1,p2,p3,p4" {
		t.Errorf("listed %s, want p0,p1,p2,p3,p4 in creation order", got)
	}

	if r := env.request(t, http.MethodGet, "/v1/accounts?limit=0", testToken, ""); r.status != http.StatusBadRequest {
		t.Errorf("limit=0: status = %d, want 400", r.status)
	}
	if r := env.request(t, http.MethodGet, "/v1/accounts?cursor=nonsense", testToken, ""); r.status != http.StatusBadRequest {
		t.Errorf("bad cursor: status = %d, want 400", r.status)
	}
}

func TestGetAccountByID(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	created := env.upsert(t, `{"externalId":"g1","name":"Gamma"}`)
	id := created.body["id"].(string)

	r := env.request(t, http.MethodGet, "/v1/accounts/"+id, testToken, "")
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, body %s", r.status, r.raw)
	}
	if r.body["externalId"] != "g1" || r.body["name"] != "Gamma" {
		t.Errorf("body = %s, want externalId g1 and name Gamma", r.raw)
	}

	missing := env.request(t, http.MethodGet, "/v1/accounts/00000000-0000-4000-8000-000000000000", testToken, "")
	if missing.status != http.StatusNotFound || !strings.Contains(message(missing), "not found") {
		t.Errorf("missing account: status %d, message %q; want 404 with a not found message", missing.status, message(missing))
	}
}

func TestRoutingErrorsAreJSON(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	cases := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/v2/nothing", http.StatusNotFound},
		{http.MethodGet, "/v1/accounts/upsert/extra", http.StatusNotFound},
		{http.MethodPut, "/v1/accounts/upsert", http.StatusMethodNotAllowed},
		{http.MethodPost, "/v1/accounts", http.StatusMethodNotAllowed},
	}
	for _, tc := range cases {
		r := env.request(t, tc.method, tc.path, testToken, "")
		if r.status != tc.status {
			t.Errorf("%s %s: status = %d, want %d", tc.method, tc.path, r.status, tc.status)
		}
		if message(r) == "" {
			t.Errorf("%s %s: body %q has no JSON message", tc.method, tc.path, r.raw)
		}
	}
}

func TestUpsertRejectsLargeBodyAndWrongContentType(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	large := `{"externalId":"big","name":"` + strings.Repeat("x", 1<<20) + `"}`
	if r := env.upsert(t, large); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MiB name: status = %d, want 413", r.status)
	}

	req, _ := http.NewRequest(http.MethodPost, env.server.URL+"/v1/accounts/upsert", strings.NewReader(`{"externalId":"x"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := env.client.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: status = %d, want 415", resp.StatusCode)
	}
}

func TestFailExternalIDsFault(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	env.emu.SetFaults(emulator.Faults{FailExternalIDs: map[string]int{"doomed": http.StatusUnprocessableEntity}})

	if r := env.upsert(t, `{"externalId":"doomed"}`); r.status != http.StatusUnprocessableEntity || !strings.Contains(message(r), "doomed") {
		t.Errorf("doomed: status %d, message %q; want 422 naming the externalId", r.status, message(r))
	}
	if r := env.upsert(t, `{"externalId":"fine"}`); r.status != http.StatusOK {
		t.Errorf("fine: status = %d, want 200", r.status)
	}
	if _, ok := env.emu.Account("doomed"); ok {
		t.Error("failed externalId was stored")
	}
}

func TestErrorRateFault(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	env.emu.SetFaults(emulator.Faults{Seed: 7, ErrorRate: 1})
	r := env.upsert(t, `{"externalId":"e"}`)
	if r.status != 500 && r.status != 502 && r.status != 503 {
		t.Errorf("status = %d, want 500, 502 or 503", r.status)
	}
	if _, ok := env.emu.Account("e"); ok {
		t.Error("upsert answered 5xx was applied")
	}
}

func TestTruncateFaultAppliesUpsert(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	env.emu.SetFaults(emulator.Faults{TruncateRate: 1})
	r := env.upsert(t, `{"externalId":"t","name":"Truncated"}`)
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200", r.status)
	}
	if json.Valid(r.raw) {
		t.Errorf("body %q is valid JSON, want truncated", r.raw)
	}
	if _, ok := env.emu.Account("t"); !ok {
		t.Error("upsert with truncated response was not applied")
	}
	if got := env.emu.Stats().Truncated; got != 1 {
		t.Errorf("Stats.Truncated = %d, want 1", got)
	}
}

func TestResetFaultBreaksConnection(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	env.emu.SetFaults(emulator.Faults{ResetRate: 1})

	req, _ := http.NewRequest(http.MethodPost, env.server.URL+"/v1/accounts/upsert", strings.NewReader(`{"externalId":"rst"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := env.client.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("request succeeded, want a broken connection")
	}
	if _, ok := env.emu.Account("rst"); !ok {
		t.Error("upsert with reset response was not applied")
	}
	if got := env.emu.Stats().Resets; got != 1 {
		t.Errorf("Stats.Resets = %d, want 1", got)
	}
}

func TestTimeoutFaultHoldsUntilClientGivesUp(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	env.emu.SetFaults(emulator.Faults{TimeoutRate: 1})

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, env.server.URL+"/v1/accounts/upsert", strings.NewReader(`{"externalId":"slow"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := env.client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got status %d, want no answer", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want the client's deadline", err)
	}
	if got := env.emu.Stats().Unanswered; got != 1 {
		t.Errorf("Stats.Unanswered = %d, want 1", got)
	}
	if _, ok := env.emu.Account("slow"); ok {
		t.Error("held upsert was applied")
	}
}

func TestCloseReleasesHeldRequests(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	env.emu.SetFaults(emulator.Faults{TimeoutRate: 1})

	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, env.server.URL+"/v1/accounts", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := env.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for env.emu.Stats().Unanswered == 0 {
		time.Sleep(time.Millisecond) // Stats offers no signal for "now held".
	}
	env.emu.Close()
	if err := <-done; err == nil {
		t.Error("held request got a response, want an aborted connection")
	}
}

func TestRedirectFault(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	env.emu.SetFaults(emulator.Faults{RedirectTo: "http://127.0.0.1:1/"})
	client := &http.Client{
		Transport:     env.client.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, _ := http.NewRequest(http.MethodGet, env.server.URL+"/v1/accounts?limit=3", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("status = %d, want 307", resp.StatusCode)
	}
	if got := resp.Header.Get("Location"); got != "http://127.0.0.1:1/v1/accounts?limit=3" {
		t.Errorf("Location = %q, want the target plus the request URI", got)
	}
}

func TestConcurrentUpserts(t *testing.T) {
	env := newEnv(t, emulator.Options{})
	var wg sync.WaitGroup
	for worker := range 8 {
		wg.Go(func() {
			for i := range 10 {
				body := `{"externalId":"c` + strconv.Itoa(i) + `","name":"w` + strconv.Itoa(worker) + `"}`
				if r := env.upsert(t, body); r.status != http.StatusOK {
					t.Errorf("status = %d", r.status)
				}
			}
		})
	}
	wg.Wait()

	accounts := env.emu.Accounts()
	if len(accounts) != 10 {
		t.Fatalf("stored %d accounts, want 10", len(accounts))
	}
	for i, account := range accounts {
		if want := "c" + strconv.Itoa(i); account.ExternalID != want {
			t.Errorf("Accounts()[%d] = %s, want %s (sorted by externalId)", i, account.ExternalID, want)
		}
	}
	if got := env.emu.Stats().Upserts["c0"]; got != 8 {
		t.Errorf("Upserts[c0] = %d, want 8", got)
	}
}
