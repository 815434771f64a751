package daemone2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atlas-sync/atlas-sync/atlas/emulator"
	"github.com/atlas-sync/atlas-sync/state"
)

func TestDaemonRunsOnSchedule(t *testing.T) {
	t.Parallel()
	_, baseURL := startEmulator(t, emulator.Options{})
	s := setup{dir: t.TempDir(), baseURL: baseURL, jobs: []jobSetup{{name: "crm", schedule: "@every 1s", rows: 20}}}
	writeConfig(t, s)

	d := start(t, nil, "daemon", "--config", s.configPath())
	addr := d.listenAddr(t)
	if code := httpStatus(t, "http://"+addr+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after start = %d, want 200", code)
	}

	var runs []state.Run
	eventually(t, "three finished runs", func() bool {
		runs = finishedRuns(t, s.statePath(), "crm")
		return len(runs) >= 3
	})
	first := runs[len(runs)-1]
	if first.Outcome != state.OutcomeOK || first.Counts.Sent != 20 {
		t.Errorf("first run: outcome %s, sent %d; want ok, 20", first.Outcome, first.Counts.Sent)
	}
	if later := runs[0]; later.Outcome != state.OutcomeOK || later.Counts.Unchanged != 20 || later.Counts.Sent != 0 {
		t.Errorf("later run: outcome %s, unchanged %d, sent %d; want ok, 20, 0", later.Outcome, later.Counts.Unchanged, later.Counts.Sent)
	}

	d.signal(t, syscall.SIGTERM)
	if code := d.wait(t, 15*time.Second); code != 0 {
		t.Errorf("exit status after SIGTERM = %d, want 0", code)
	}
}

func TestDaemonMetricsMove(t *testing.T) {
	t.Parallel()
	_, baseURL := startEmulator(t, emulator.Options{})
	s := setup{dir: t.TempDir(), baseURL: baseURL, jobs: []jobSetup{{name: "crm", schedule: "@every 1s", rows: 5}}}
	writeConfig(t, s)

	d := start(t, nil, "daemon", "--config", s.configPath())
	addr := d.listenAddr(t)

	const read = `atlas_sync_rows_read_total{job="crm"}`
	var before float64
	eventually(t, "a first run in the metrics", func() bool {
		before = scrape(t, addr, read)
		return before >= 5
	})
	if sent := scrape(t, addr, `atlas_sync_upsert_duration_seconds_count{code="200",job="crm"}`); sent != 5 {
		t.Errorf("upserts with status 200 = %v, want 5", sent)
	}
	eventually(t, "rows read to grow", func() bool { return scrape(t, addr, read) > before })
	if ok := scrape(t, addr, `atlas_sync_runs_total{job="crm",outcome="ok"}`); ok < 2 {
		t.Errorf("ok runs = %v, want at least 2", ok)
	}
	if last := scrape(t, addr, `atlas_sync_last_success_timestamp_seconds{job="crm"}`); last < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last success timestamp = %v, want within the last minute", last)
	}
	if goroutines := scrape(t, addr, "go_goroutines"); goroutines <= 0 {
		t.Errorf("go_goroutines = %v, want the Go collector registered", goroutines)
	}

	d.signal(t, syscall.SIGINT)
	if code := d.wait(t, 15*time.Second); code != 0 {
		t.Errorf("exit status after SIGINT = %d, want 0", code)
	}
}

func TestDaemonSkipsOverlappingRuns(t *testing.T) {
	t.Parallel()
	// One worker and 300ms per request: a run of 8 rows takes about 2.4s,
	// so the @every 1s ticks in between must be skipped.
	_, baseURL := startEmulator(t, emulator.Options{Latency: 300 * time.Millisecond})
	s := setup{dir: t.TempDir(), baseURL: baseURL, workers: 1, jobs: []jobSetup{{name: "slow", schedule: "@every 1s", rows: 8}}}
	writeConfig(t, s)

	d := start(t, nil, "daemon", "--config", s.configPath())
	skipped := d.waitLog(t, "skipped a scheduled run", 2)
	if job := skipped[0]["job"]; job != "slow" {
		t.Errorf("skip log names job %v, want slow", job)
	}
	eventually(t, "the slow run to finish", func() bool {
		return len(finishedRuns(t, s.statePath(), "slow")) >= 1
	})
	d.signal(t, syscall.SIGTERM)
	if code := d.wait(t, 20*time.Second); code != 0 {
		t.Errorf("exit status = %d, want 0", code)
	}

	runs := finishedRuns(t, s.statePath(), "slow")
	if first := runs[len(runs)-1]; first.Finished.Sub(first.Started) < time.Second {
		t.Fatalf("first run took %s; the test needs runs longer than the 1s schedule", first.Finished.Sub(first.Started))
	}
	for i, a := range runs {
		for _, b := range runs[i+1:] {
			if a.Started.Before(b.Finished) && b.Started.Before(a.Finished) {
				t.Errorf("runs %d (%s to %s) and %d (%s to %s) overlap", a.ID, a.Started, a.Finished, b.ID, b.Started, b.Finished)
			}
		}
	}
}

func TestDaemonSIGTERMRecordsAcknowledgedRows(t *testing.T) {
	t.Parallel()
	em, baseURL := startEmulator(t, emulator.Options{Latency: 200 * time.Millisecond})
	s := setup{dir: t.TempDir(), baseURL: baseURL, workers: 4, jobs: []jobSetup{{name: "big", schedule: "@every 1s", rows: 500}}}
	writeConfig(t, s)

	d := start(t, nil, "daemon", "--config", s.configPath())
	eventually(t, "upserts in progress", func() bool { return len(em.Stats().Upserts) >= 12 })
	d.signal(t, syscall.SIGTERM)
	if code := d.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit status after SIGTERM mid-run = %d, want 0", code)
	}

	accepted := em.Stats().Upserts
	if len(accepted) >= 500 {
		t.Fatalf("emulator accepted all %d rows; the signal came too late to test a cut-short run", len(accepted))
	}
	store := openState(t, s.statePath())
	index, err := store.LoadIndex(context.Background(), "big")
	if err != nil {
		t.Fatal(err)
	}
	for externalID := range accepted {
		if entry, ok := index.Get(externalID); !ok || !entry.Acked {
			t.Errorf("%s was accepted by the emulator but is not in the checkpoint", externalID)
		}
	}
	if index.Len() != len(accepted) {
		t.Errorf("checkpoint has %d rows, emulator accepted %d", index.Len(), len(accepted))
	}

	runs, err := store.Runs(context.Background(), "big", 0)
	if err != nil {
		t.Fatal(err)
	}
	last := runs[0]
	if last.Outcome != state.OutcomeCanceled {
		t.Errorf("last run outcome = %s, want canceled", last.Outcome)
	}
	var sent int64
	for _, run := range runs {
		sent += run.Counts.Sent
	}
	if sent != int64(len(accepted)) {
		t.Errorf("runs counted %d sent rows, emulator accepted %d", sent, len(accepted))
	}
}

func TestDaemonSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	em, baseURL := startEmulator(t, emulator.Options{Latency: 30 * time.Second})
	s := setup{dir: t.TempDir(), baseURL: baseURL, shutdownGrace: "60s", jobs: []jobSetup{{name: "stuck", schedule: "@every 1s", rows: 10}}}
	writeConfig(t, s)

	d := start(t, nil, "daemon", "--config", s.configPath())
	eventually(t, "requests in flight", func() bool { return em.Stats().Requests >= 4 })
	d.signal(t, syscall.SIGTERM)
	d.waitLog(t, "stopping", 1)
	began := time.Now()
	d.signal(t, syscall.SIGTERM)
	if code := d.wait(t, 10*time.Second); code != 130 {
		t.Errorf("exit status after a second SIGTERM = %d, want 130", code)
	}
	if took := time.Since(began); took > 8*time.Second {
		t.Errorf("exit took %s after the second signal", took)
	}

	// The state file must open read-write: nothing is left half-written.
	store, err := state.Open(context.Background(), s.statePath(), state.Options{})
	if err != nil {
		t.Fatalf("open the state file after a forced exit: %v", err)
	}
	if err := store.Close(); err != nil {
		t.Error(err)
	}
}

func TestDaemonReloadsOnSIGHUP(t *testing.T) {
	t.Parallel()
	_, baseURL := startEmulator(t, emulator.Options{})
	s := setup{dir: t.TempDir(), baseURL: baseURL, jobs: []jobSetup{{name: "first", schedule: "@every 1s", rows: 3}}}
	writeConfig(t, s)

	d := start(t, nil, "daemon", "--config", s.configPath())
	d.listenAddr(t)

	valid, err := os.ReadFile(s.configPath())
	if err != nil {
		t.Fatal(err)
	}
	invalid := strings.Replace(string(valid), `"@every 1s"`, `"61 * * * *"`, 1)
	if err := os.WriteFile(s.configPath(), []byte(invalid), 0o600); err != nil {
		t.Fatal(err)
	}
	d.signal(t, syscall.SIGHUP)
	rejected := d.waitLog(t, "configuration not reloaded", 1)
	if msg, _ := rejected[0]["error"].(string); !strings.Contains(msg, "schedule") {
		t.Errorf("reload error = %q, want it to name the schedule", msg)
	}

	// The old configuration keeps running.
	runsBefore := len(finishedRuns(t, s.statePath(), "first"))
	eventually(t, "another run under the old configuration", func() bool {
		return len(finishedRuns(t, s.statePath(), "first")) > runsBefore
	})

	s.jobs = append(s.jobs, jobSetup{name: "second", schedule: "@every 1s", rows: 2})
	writeConfig(t, s)
	d.signal(t, syscall.SIGHUP)
	d.waitLog(t, "configuration reloaded", 1)
	eventually(t, "a run of the added job", func() bool {
		return len(finishedRuns(t, s.statePath(), "second")) >= 1
	})

	d.signal(t, syscall.SIGTERM)
	if code := d.wait(t, 15*time.Second); code != 0 {
		t.Errorf("exit status = %d, want 0", code)
	}
}

func TestDaemonReloadRejectsNewStatePath(t *testing.T) {
	t.Parallel()
	_, baseURL := startEmulator(t, emulator.Options{})
	s := setup{dir: t.TempDir(), baseURL: baseURL, jobs: []jobSetup{{name: "crm", schedule: "@hourly", rows: 1}}}
	writeConfig(t, s)
	d := start(t, nil, "daemon", "--config", s.configPath())
	d.listenAddr(t)

	raw, err := os.ReadFile(s.configPath())
	if err != nil {
		t.Fatal(err)
	}
	moved := strings.Replace(string(raw), "path: state.db", "path: other.db", 1)
	if err := os.WriteFile(s.configPath(), []byte(moved), 0o600); err != nil {
		t.Fatal(err)
	}
	d.signal(t, syscall.SIGHUP)
	lines := d.waitLog(t, "configuration not reloaded", 1)
	if msg, _ := lines[0]["error"].(string); !strings.Contains(msg, "state.path changed") {
		t.Errorf("reload error = %q, want it to name state.path", msg)
	}
	d.signal(t, syscall.SIGTERM)
	if code := d.wait(t, 15*time.Second); code != 0 {
		t.Errorf("exit status = %d, want 0", code)
	}
}

func TestSecondProcessIsRefused(t *testing.T) {
	t.Parallel()
	_, baseURL := startEmulator(t, emulator.Options{})
	s := setup{dir: t.TempDir(), baseURL: baseURL, jobs: []jobSetup{{name: "crm", schedule: "@hourly", rows: 1}}}
	writeConfig(t, s)
	d := start(t, nil, "daemon", "--config", s.configPath())
	d.listenAddr(t)
	pid := fmt.Sprintf("process %d", d.cmd.Process.Pid)

	for _, command := range []string{"run", "daemon"} {
		out, err := exec.Command(binary, command, "--config", s.configPath()).CombinedOutput()
		exitErr, ok := err.(*exec.ExitError)
		if !ok || exitErr.ExitCode() != 1 {
			t.Errorf("second %s: error %v, want exit status 1\n%s", command, err, out)
			continue
		}
		if !strings.Contains(string(out), s.statePath()) || !strings.Contains(string(out), pid) {
			t.Errorf("second %s output does not name the state file and %s:\n%s", command, pid, out)
		}
	}

	d.signal(t, syscall.SIGTERM)
	if code := d.wait(t, 15*time.Second); code != 0 {
		t.Errorf("exit status = %d, want 0", code)
	}
}

func TestDaemonWithoutSchedulesFails(t *testing.T) {
	t.Parallel()
	s := setup{dir: t.TempDir(), baseURL: "http://127.0.0.1:1", jobs: []jobSetup{{name: "manual", rows: 1}}}
	writeConfig(t, s)
	out, err := exec.Command(binary, "daemon", "--config", s.configPath()).CombinedOutput()
	exitErr, ok := err.(*exec.ExitError)
	if !ok || exitErr.ExitCode() != 1 {
		t.Fatalf("daemon without schedules: error %v, want exit status 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "no job has a schedule") {
		t.Errorf("output does not explain the problem:\n%s", out)
	}
}

func TestStatusWhileDaemonRuns(t *testing.T) {
	t.Parallel()
	_, baseURL := startEmulator(t, emulator.Options{})
	s := setup{dir: t.TempDir(), baseURL: baseURL, jobs: []jobSetup{
		{name: "crm", schedule: "@every 1s", rows: 4},
		{name: "manual", rows: 1},
	}}
	writeConfig(t, s)
	d := start(t, nil, "daemon", "--config", s.configPath())
	eventually(t, "a finished run", func() bool { return len(finishedRuns(t, s.statePath(), "crm")) >= 1 })

	out, err := exec.Command(binary, "status", "--config", s.configPath(), "--json").Output()
	if err != nil {
		t.Fatalf("status --json: %v", err)
	}
	var report struct {
		Jobs []struct {
			Name    string     `json:"name"`
			NextRun *time.Time `json:"next_run"`
			Runs    []struct {
				Outcome string       `json:"outcome"`
				Counts  state.Counts `json:"counts"`
			} `json:"runs"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("status --json output is not JSON: %v\n%s", err, out)
	}
	if len(report.Jobs) != 2 || report.Jobs[0].Name != "crm" || report.Jobs[1].Name != "manual" {
		t.Fatalf("status jobs = %+v, want crm then manual", report.Jobs)
	}
	crm := report.Jobs[0]
	if len(crm.Runs) != 1 || crm.Runs[0].Counts.Read != 4 {
		t.Errorf("crm runs = %+v, want one run that read 4 rows", crm.Runs)
	}
	if crm.NextRun == nil || time.Until(*crm.NextRun) > 2*time.Second {
		t.Errorf("crm next run = %v, want within 2s", crm.NextRun)
	}
	if manual := report.Jobs[1]; manual.NextRun != nil || len(manual.Runs) != 0 {
		t.Errorf("manual job = %+v, want no next run and no runs", manual)
	}

	table, err := exec.Command(binary, "status", "--config", s.configPath()).Output()
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	if !strings.Contains(string(table), "no schedule") || !strings.Contains(string(table), "never run") {
		t.Errorf("status table lacks the unscheduled job:\n%s", table)
	}

	d.signal(t, syscall.SIGTERM)
	d.wait(t, 15*time.Second)
}

func TestRejectedRowsListAndRetry(t *testing.T) {
	t.Parallel()
	_, baseURL := startEmulator(t, emulator.Options{
		CustomFields: map[string]emulator.FieldDef{"tier": {Type: "list", Options: []string{"gold", "silver"}}},
	})
	dir := t.TempDir()
	s := setup{dir: dir, baseURL: baseURL, jobs: []jobSetup{{name: "crm", schedule: "@every 1s", rows: 0}}}
	writeConfig(t, s)
	// A custom field the emulator checks: "platinum" is not an option.
	raw, err := os.ReadFile(s.configPath())
	if err != nil {
		t.Fatal(err)
	}
	withTier := strings.Replace(string(raw), "mapping: {external_id: id, name: name}",
		"mapping: {external_id: id, name: name, custom_fields: {tier: {column: tier, type: list}}}", 1)
	if err := os.WriteFile(s.configPath(), []byte(withTier), 0o600); err != nil {
		t.Fatal(err)
	}
	csv := "id,name,tier\nA-1,Alpha,gold\nA-2,Beta,platinum\nA-3,Gamma,silver\n"
	if err := os.WriteFile(dir+"/crm.csv", []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}

	d := start(t, nil, "daemon", "--config", s.configPath())
	eventually(t, "a finished run", func() bool { return len(finishedRuns(t, s.statePath(), "crm")) >= 1 })

	out, err := exec.Command(binary, "rejected", "--config", s.configPath(), "--json").Output()
	if err != nil {
		t.Fatalf("rejected --json: %v", err)
	}
	var rows []struct {
		Job        string `json:"job"`
		ExternalID string `json:"external_id"`
		Status     int    `json:"status"`
		Message    string `json:"message"`
		Position   string `json:"position"`
	}
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("rejected --json output is not JSON: %v\n%s", err, out)
	}
	if len(rows) != 1 || rows[0].ExternalID != "A-2" || rows[0].Status != http.StatusUnprocessableEntity {
		t.Fatalf("rejected rows = %+v, want A-2 with status 422", rows)
	}
	if !strings.HasSuffix(rows[0].Position, "crm.csv:3") || !strings.Contains(rows[0].Message, "tier") {
		t.Errorf("rejected row position %q message %q, want crm.csv:3 and a message naming tier", rows[0].Position, rows[0].Message)
	}

	// --retry writes, so it needs the lock the daemon holds.
	locked, err := exec.Command(binary, "rejected", "--config", s.configPath(), "--retry").CombinedOutput()
	if exitErr, ok := err.(*exec.ExitError); !ok || exitErr.ExitCode() != 1 || !strings.Contains(string(locked), "stop the daemon") {
		t.Errorf("rejected --retry beside the daemon: %v\n%s", err, locked)
	}

	d.signal(t, syscall.SIGTERM)
	d.wait(t, 15*time.Second)

	retried, err := exec.Command(binary, "rejected", "--config", s.configPath(), "--retry", "--job", "crm").Output()
	if err != nil {
		t.Fatalf("rejected --retry: %v", err)
	}
	if !strings.Contains(string(retried), "queued 1 rejected rows of job crm") {
		t.Errorf("rejected --retry output = %q", retried)
	}
	empty, err := exec.Command(binary, "rejected", "--config", s.configPath()).Output()
	if err != nil {
		t.Fatalf("rejected: %v", err)
	}
	if !strings.Contains(string(empty), "no rejected rows") {
		t.Errorf("rejected after --retry = %q, want no rows", empty)
	}

	unknown, err := exec.Command(binary, "rejected", "--config", s.configPath(), "--job", "crn").CombinedOutput()
	if exitErr, ok := err.(*exec.ExitError); !ok || exitErr.ExitCode() != 2 || !strings.Contains(string(unknown), "crm") {
		t.Errorf("rejected --job crn: %v, want exit status 2 listing crm\n%s", err, unknown)
	}
}

func TestDaemonNotifiesSystemd(t *testing.T) {
	t.Parallel()
	_, baseURL := startEmulator(t, emulator.Options{})
	s := setup{dir: t.TempDir(), baseURL: baseURL, jobs: []jobSetup{{name: "crm", schedule: "@hourly", rows: 1}}}
	writeConfig(t, s)

	socket := filepath.Join(s.dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	messages := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(messages)
				return
			}
			messages <- string(buf[:n])
		}
	}()
	// expect waits for a message that starts with prefix, skipping others
	// (watchdog keep-alives arrive in between).
	expect := func(prefix string) string {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case msg, ok := <-messages:
				if !ok {
					t.Fatalf("notify socket closed while waiting for %q", prefix)
				}
				if strings.HasPrefix(msg, prefix) {
					return msg
				}
			case <-timeout:
				t.Fatalf("no %q message within 10s", prefix)
			}
		}
	}

	// WATCHDOG_USEC of 200ms requests a keep-alive every 100ms.
	d := start(t, []string{"NOTIFY_SOCKET=" + socket, "WATCHDOG_USEC=200000"}, "daemon", "--config", s.configPath())
	if ready := expect("READY=1"); !strings.Contains(ready, "STATUS=scheduling crm (@hourly)") {
		t.Errorf("READY message = %q, want a STATUS naming the schedule", ready)
	}
	expect("WATCHDOG=1")
	expect("WATCHDOG=1")

	d.signal(t, syscall.SIGHUP)
	if reloading := expect("RELOADING=1"); !strings.Contains(reloading, "MONOTONIC_USEC=") {
		t.Errorf("RELOADING message = %q, want MONOTONIC_USEC", reloading)
	}
	expect("READY=1")

	d.signal(t, syscall.SIGTERM)
	expect("STOPPING=1")
	if code := d.wait(t, 15*time.Second); code != 0 {
		t.Errorf("exit status = %d, want 0", code)
	}
	conn.Close()
	for range messages {
	}
}
