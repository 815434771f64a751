// Package e2e runs the built atlas-sync binary as a subprocess against the
// Atlas emulator over loopback HTTP, the way a user or a cron job runs it.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atlas-sync/atlas-sync/atlas/emulator"
	"github.com/atlas-sync/atlas-sync/state"
)

// binary is the path of the atlas-sync binary built by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "atlas-sync-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "atlas-sync")
	build := exec.Command("go", "build", "-o", binary, "..")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build atlas-sync:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const token = "e2e-token-7d1f9c44"

// env is one test's emulator, working directory and config.
type env struct {
	t        *testing.T
	emulator *emulator.Server
	server   *httptest.Server
	dir      string
	config   string
	state    string
}

func newEnv(t *testing.T, opts emulator.Options) *env {
	t.Helper()
	opts.Token = token
	emu := emulator.New(opts)
	server := httptest.NewServer(emu)
	t.Cleanup(server.Close)
	dir := t.TempDir()
	return &env{t: t, emulator: emu, server: server, dir: dir, config: filepath.Join(dir, "atlas-sync.yaml"), state: filepath.Join(dir, "state.db")}
}

// writeConfig writes a config for one CSV job reading file with the given
// mapping block and extra atlas settings.
func (e *env) writeConfig(file, mapping, atlasExtra string) {
	e.t.Helper()
	cfg := fmt.Sprintf(`atlas:
  base_url: %s
  token: ${E2E_TOKEN}
  requests_per_second: 500
  burst: 20
  workers: 4
  retry_base_delay: 10ms
  retry_max_delay: 200ms
%s
state:
  path: %s
  flush_interval: 20ms
log:
  format: json
jobs:
  - name: crm
    source: {type: csv, path: %s}
    mapping:
%s
`, e.server.URL, atlasExtra, e.state, file, mapping)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

type result struct {
	code   int
	stdout string
	stderr string
}

func (e *env) run(args ...string) result {
	e.t.Helper()
	cmd := e.command(context.Background(), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run atlas-sync: %v", err)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func (e *env) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "E2E_TOKEN="+token)
	cmd.Dir = e.dir
	return cmd
}

const messyMapping = `      external_id: account_id
      name: company_name
      fields: {domain: website}
      custom_fields:
        industry: industry
        annual_revenue: {column: annual_revenue, type: decimal}
        employees: {column: employees, type: number}
        renewal: {column: renewal_date, type: date, layout: "01/02/2006"}
        headquarters: {type: address, street1: street, city: city, country: country}
        notes: notes`

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestMessyExportSyncsAndReportsBrokenRows(t *testing.T) {
	e := newEnv(t, emulator.Options{})
	file := filepath.Join(e.dir, "crm_accounts_messy.csv")
	copyFile(t, filepath.Join("..", "testdata", "csv", "crm_accounts_messy.csv"), file)
	e.writeConfig(file, messyMapping, "")

	first := e.run("run", "--config", e.config)
	if first.code != 3 {
		t.Fatalf("exit status = %d, want 3 (rows unreadable)\nstdout: %s\nstderr: %s", first.code, first.stdout, first.stderr)
	}
	for _, want := range []string{"crm_accounts_messy.csv:7", "crm_accounts_messy.csv:9", "2027-02-30"} {
		if !strings.Contains(first.stderr, want) {
			t.Errorf("log does not mention %s:\n%s", want, first.stderr)
		}
	}
	if !strings.Contains(first.stdout, "sent 5") {
		t.Errorf("summary does not say sent 5: %s", first.stdout)
	}

	accounts := e.emulator.Accounts()
	var ids []string
	for _, a := range accounts {
		ids = append(ids, a.ExternalID)
	}
	if got := strings.Join(ids, ","); got != "CRM-0001,CRM-0002,CRM-0003,CRM-0005,CRM-0007" {
		t.Errorf("accounts = %s, want CRM-0001,-0002,-0003,-0005,-0007", got)
	}
	a1, _ := e.emulator.Account("CRM-0001")
	a2, _ := e.emulator.Account("CRM-0002")
	a5, _ := e.emulator.Account("CRM-0005")
	a7, _ := e.emulator.Account("CRM-0007")
	checks := []struct {
		id, what  string
		got, want any
	}{
		{"CRM-0001", "renewal", a1.CustomFields["renewal"], "2027-03-31"},
		{"CRM-0005", "name", a5.Name, `Granite Peak "GP" Holdings`},
		{"CRM-0007", "name", a7.Name, "Kōbō Robotics"},
		{"CRM-0002", "notes", a2.CustomFields["notes"], "Prefers email.\nNo calls before 10am."},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s %s = %v, want %v", c.id, c.what, c.got, c.want)
		}
	}
	if _, ok := a2.CustomFields["annual_revenue"]; ok {
		t.Errorf("CRM-0002 annual_revenue was sent for an empty cell; it must be left alone")
	}
	street := fmt.Sprint(a2.CustomFields["headquarters"])
	if !strings.Contains(street, "400 Market St\nSuite 12") {
		t.Errorf("CRM-0002 street lost its line break: %s", street)
	}

	before := e.emulator.Stats().Requests
	second := e.run("run", "--config", e.config)
	if second.code != 3 {
		t.Errorf("second run exit status = %d, want 3 (the broken rows are still there)", second.code)
	}
	if got := e.emulator.Stats().Requests - before; got != 0 {
		t.Errorf("second run made %d requests, want 0", got)
	}
	if strings.Contains(first.stderr+first.stdout+second.stderr+second.stdout, token) {
		t.Error("the token appears in the output")
	}
}

// writeAccounts writes n accounts, with the given ids changed.
func writeAccounts(t *testing.T, path string, n int, changed map[int]bool) {
	t.Helper()
	var b strings.Builder
	b.WriteString("Id,Name,Tier\n")
	for i := 1; i <= n; i++ {
		tier := "standard"
		if changed[i] {
			tier = "premium"
		}
		fmt.Fprintf(&b, "E-%05d,Company %d,%s\n", i, i, tier)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

const simpleMapping = `      external_id: Id
      name: Name
      custom_fields:
        tier: Tier`

func TestRunThenChangeThreeRows(t *testing.T) {
	e := newEnv(t, emulator.Options{})
	file := filepath.Join(e.dir, "accounts.csv")
	writeAccounts(t, file, 100, nil)
	e.writeConfig(file, simpleMapping, "")

	if r := e.run("run", "--config", e.config); r.code != 0 {
		t.Fatalf("first run exit %d\n%s", r.code, r.stderr)
	}
	if got := e.emulator.Stats().Requests; got != 100 {
		t.Errorf("first run requests = %d, want 100", got)
	}
	if r := e.run("run", "--config", e.config); r.code != 0 || e.emulator.Stats().Requests != 100 {
		t.Errorf("second run exit %d, total requests %d, want 0 and 100", r.code, e.emulator.Stats().Requests)
	}

	writeAccounts(t, file, 100, map[int]bool{5: true, 50: true, 99: true})
	dry := e.run("run", "--config", e.config, "--dry-run")
	if dry.code != 0 {
		t.Fatalf("dry run exit %d\n%s", dry.code, dry.stderr)
	}
	for _, id := range []string{"E-00005", "E-00050", "E-00099"} {
		if !strings.Contains(dry.stdout, id) {
			t.Errorf("dry run output lacks %s:\n%s", id, dry.stdout)
		}
	}
	if !strings.Contains(dry.stdout, "would send 3") {
		t.Errorf("dry run summary lacks 'would send 3':\n%s", dry.stdout)
	}
	if got := e.emulator.Stats().Requests; got != 100 {
		t.Errorf("dry run sent requests: total %d, want 100", got)
	}

	if r := e.run("run", "--config", e.config); r.code != 0 {
		t.Fatalf("third run exit %d\n%s", r.code, r.stderr)
	}
	stats := e.emulator.Stats()
	if stats.Requests != 103 {
		t.Errorf("requests = %d, want 103", stats.Requests)
	}
	if a, _ := e.emulator.Account("E-00050"); a.CustomFields["tier"] != "premium" {
		t.Errorf("E-00050 tier = %v, want premium", a.CustomFields["tier"])
	}
}

func TestWrongTokenExitsOneAfterFirstResponse(t *testing.T) {
	e := newEnv(t, emulator.Options{})
	file := filepath.Join(e.dir, "accounts.csv")
	writeAccounts(t, file, 50, nil)
	e.writeConfig(file, simpleMapping, "")
	e.emulator.SetFaults(emulator.Faults{Unauthorized: true})

	r := e.run("run", "--config", e.config)
	if r.code != 1 {
		t.Fatalf("exit status = %d, want 1\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout+r.stderr, "atlas rejected the token") {
		t.Errorf("output does not explain the token was rejected:\n%s\n%s", r.stdout, r.stderr)
	}
	// Four workers may each have one request on the wire.
	if got := e.emulator.Stats().Requests; got > 4 {
		t.Errorf("requests = %d, want at most 4 (one per worker)", got)
	}
}

func TestInvalidConfigSendsNothing(t *testing.T) {
	e := newEnv(t, emulator.Options{})
	file := filepath.Join(e.dir, "accounts.csv")
	writeAccounts(t, file, 5, nil)
	e.writeConfig(file, simpleMapping+"\n        arr: {column: Revenue, type: decimal}", "  max_retries: -1")

	r := e.run("run", "--config", e.config)
	if r.code != 1 {
		t.Fatalf("exit status = %d, want 1", r.code)
	}
	if !strings.Contains(r.stderr, "atlas.max_retries") {
		t.Errorf("error does not name atlas.max_retries:\n%s", r.stderr)
	}
	if got := e.emulator.Stats().Requests; got != 0 {
		t.Errorf("requests = %d, want 0", got)
	}

	// With the config valid, the missing column stops the run before any
	// request, naming the column.
	e.writeConfig(file, simpleMapping+"\n        arr: {column: Revenue, type: decimal}", "")
	r = e.run("run", "--config", e.config)
	if r.code != 1 || !strings.Contains(r.stderr, "Revenue") {
		t.Errorf("exit %d, stderr %s; want 1 and the missing column named", r.code, r.stderr)
	}
	if got := e.emulator.Stats().Requests; got != 0 {
		t.Errorf("requests = %d, want 0", got)
	}
}

func TestHelpAndVersion(t *testing.T) {
	e := newEnv(t, emulator.Options{})
	help := e.run("--help")
	if help.code != 0 || !strings.Contains(help.stdout, "run") || !strings.Contains(help.stdout, "Exit statuses") {
		t.Errorf("--help exit %d:\n%s", help.code, help.stdout)
	}
	version := e.run("version")
	if version.code != 0 || !strings.Contains(version.stdout, "go: go1.") {
		t.Errorf("version exit %d:\n%s", version.code, version.stdout)
	}
	bad := e.run("run", "--no-such-flag")
	if bad.code != 2 {
		t.Errorf("unknown flag exit %d, want 2", bad.code)
	}
}

func TestSIGKILLMidwayThenRerunDeliversEverything(t *testing.T) {
	const rows = 1500
	const workers = 4
	e := newEnv(t, emulator.Options{Latency: 10 * time.Millisecond})
	file := filepath.Join(e.dir, "accounts.csv")
	writeAccounts(t, file, rows, nil)
	e.writeConfig(file, simpleMapping, "")

	cmd := e.command(context.Background(), "run", "--config", e.config)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(e.emulator.Accounts()) < rows/3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killedAt := len(e.emulator.Accounts())
	if killedAt == 0 || killedAt == rows {
		t.Fatalf("emulator holds %d accounts at the kill, want a partial run", killedAt)
	}

	r := e.run("run", "--config", e.config)
	if r.code != 0 {
		t.Fatalf("rerun exit %d\n%s", r.code, r.stderr)
	}
	stats := e.emulator.Stats()
	if len(stats.Upserts) != rows {
		t.Fatalf("emulator holds %d accounts, want %d", len(stats.Upserts), rows)
	}
	repeated := 0
	for _, n := range stats.Upserts {
		repeated += n - 1
	}
	// A repeat is an upsert whose acknowledgement had not been committed
	// at the kill: in flight on the wire or waiting for the next batch
	// (flush_interval 20ms at about 400 acknowledgements per second).
	t.Logf("killed with %d accounts in the emulator; %d upserts repeated by the rerun", killedAt, repeated)
	if repeated > 3*workers+10 {
		t.Errorf("%d upserts repeated, want only those in flight at the kill (a few)", repeated)
	}

	// The checkpoint now matches what Atlas holds: a third run sends nothing.
	before := stats.Requests
	if r := e.run("run", "--config", e.config); r.code != 0 || e.emulator.Stats().Requests != before {
		t.Errorf("third run exit %d sent %d requests, want 0 and 0", r.code, e.emulator.Stats().Requests-before)
	}

	store, err := state.Open(context.Background(), e.state, state.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	runs, err := store.Runs(context.Background(), "crm", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[2].Outcome != "interrupted" {
		t.Errorf("run history = %+v, want the killed run marked interrupted", runs)
	}
}

func TestSIGTERMRecordsAcknowledgedRows(t *testing.T) {
	const rows = 1500
	e := newEnv(t, emulator.Options{Latency: 10 * time.Millisecond})
	file := filepath.Join(e.dir, "accounts.csv")
	writeAccounts(t, file, rows, nil)
	e.writeConfig(file, simpleMapping, "")

	cmd := e.command(context.Background(), "run", "--config", e.config)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for len(e.emulator.Accounts()) < rows/3 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 130 {
		t.Fatalf("exit = %v, want status 130", err)
	}
	acknowledged := len(e.emulator.Accounts())

	store, err := state.Open(context.Background(), e.state, state.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	index, err := store.LoadIndex(context.Background(), "crm")
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	if index.Len() != acknowledged {
		t.Errorf("checkpoint holds %d rows, Atlas acknowledged %d", index.Len(), acknowledged)
	}
	if !strings.Contains(stdout.String(), "canceled") {
		t.Errorf("summary does not say canceled: %s", stdout.String())
	}
}

func TestCheckVerifiesTokenAndColumns(t *testing.T) {
	e := newEnv(t, emulator.Options{})
	file := filepath.Join(e.dir, "accounts.csv")
	writeAccounts(t, file, 3, nil)
	e.writeConfig(file, simpleMapping, "")

	ok := e.run("check", "--config", e.config)
	if ok.code != 0 || !strings.Contains(ok.stdout, "the token is accepted") || !strings.Contains(ok.stdout, "ok    crm (csv)") {
		t.Errorf("check exit %d, want 0 with atlas and crm ok:\n%s%s", ok.code, ok.stdout, ok.stderr)
	}

	e.emulator.SetFaults(emulator.Faults{Unauthorized: true})
	bad := e.run("check", "--config", e.config)
	if bad.code != 1 || !strings.Contains(bad.stdout, "FAIL  atlas") || !strings.Contains(bad.stdout, "check atlas.token") {
		t.Errorf("check with a rejected token exit %d, want 1 and a FAIL line for atlas:\n%s", bad.code, bad.stdout)
	}
	offline := e.run("check", "--config", e.config, "--offline")
	if offline.code != 0 {
		t.Errorf("check --offline exit %d, want 0:\n%s", offline.code, offline.stdout)
	}
	if got := e.emulator.Stats().ByStatus[200]; got != 1 {
		t.Errorf("successful requests = %d, want the single list request of the first check", got)
	}
}

func TestUnreadableSourceFailsOnlyItsJob(t *testing.T) {
	e := newEnv(t, emulator.Options{})
	file := filepath.Join(e.dir, "accounts.csv")
	writeAccounts(t, file, 10, nil)
	e.writeConfig(file, simpleMapping, "")
	missing := filepath.Join(e.dir, "not-downloaded-yet.csv")
	extra := fmt.Sprintf(`  - name: later
    source: {type: csv, path: %s}
    mapping:
%s
`, missing, simpleMapping)
	f, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(extra); err != nil {
		t.Fatal(err)
	}
	f.Close()

	r := e.run("run", "--config", e.config)
	if r.code != 1 {
		t.Errorf("exit status = %d, want 1 for the failed job", r.code)
	}
	if got := len(e.emulator.Accounts()); got != 10 {
		t.Errorf("emulator holds %d accounts, want the other job's 10", got)
	}
	if !strings.Contains(r.stdout, "later: failed") || !strings.Contains(r.stdout, "not-downloaded-yet.csv") {
		t.Errorf("summary does not report the failed job and its file:\n%s", r.stdout)
	}
	if strings.Contains(r.stderr, "invalid configuration") {
		t.Errorf("a missing source file is reported as invalid configuration:\n%s", r.stderr)
	}

	store, err := state.Open(context.Background(), e.state, state.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	runs, err := store.Runs(context.Background(), "later", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Outcome != "failed" || !strings.Contains(runs[0].Error, "not-downloaded-yet.csv") {
		t.Errorf("run history of the failed job = %+v, want one failed run naming the file", runs)
	}
}
