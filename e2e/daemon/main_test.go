// Package daemone2e runs the atlas-sync binary as a subprocess against the Atlas
// emulator on loopback, to test what only a whole process shows: signals,
// exit statuses, the state file lock, the HTTP endpoint and sd_notify.
package daemone2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	stdsync "sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/atlas-sync/atlas-sync/atlas/emulator"
	"github.com/atlas-sync/atlas-sync/state"
)

// binary is the atlas-sync executable that TestMain builds.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "atlas-sync-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "atlas-sync")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Dir = "../.." // the module root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build atlas-sync: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}

	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

const testToken = "e2e-token-0123456789"

// startEmulator serves an emulator on loopback until the test ends.
func startEmulator(t *testing.T, opts emulator.Options) (*emulator.Server, string) {
	t.Helper()
	opts.Token = testToken
	em := emulator.New(opts)
	server := httptest.NewServer(em)
	t.Cleanup(func() {
		em.Close()
		server.Close()
	})
	return em, server.URL
}

// setup describes one daemon configuration.
type setup struct {
	dir           string
	baseURL       string
	jobs          []jobSetup
	workers       int
	shutdownGrace string
	listen        string
}

type jobSetup struct {
	name     string
	schedule string
	rows     int // rows of the job's CSV file, written by writeConfig
}

func (s setup) statePath() string  { return filepath.Join(s.dir, "state.db") }
func (s setup) configPath() string { return filepath.Join(s.dir, "atlas-sync.yaml") }

// writeConfig writes the configuration and each job's CSV file.
func writeConfig(t *testing.T, s setup) {
	t.Helper()
	if s.workers == 0 {
		s.workers = 4
	}
	if s.shutdownGrace == "" {
		s.shutdownGrace = "10s"
	}
	if s.listen == "" {
		s.listen = "127.0.0.1:0"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `atlas:
  base_url: %s
  token: %s
  requests_per_second: 1000
  burst: 50
  workers: %d
  retry_base_delay: 10ms
state:
  path: state.db
  flush_interval: 20ms
daemon:
  listen: %q
  time_zone: UTC
  shutdown_grace: %s
log:
  format: json
jobs:
`, s.baseURL, testToken, s.workers, s.listen, s.shutdownGrace)
	for _, job := range s.jobs {
		csv := job.name + ".csv"
		writeCSV(t, filepath.Join(s.dir, csv), job.name, job.rows)
		fmt.Fprintf(&b, "  - name: %s\n", job.name)
		if job.schedule != "" {
			fmt.Fprintf(&b, "    schedule: %q\n", job.schedule)
		}
		fmt.Fprintf(&b, "    source: {type: csv, path: %s}\n    mapping: {external_id: id, name: name}\n", csv)
	}
	if err := os.WriteFile(s.configPath(), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeCSV(t *testing.T, path, prefix string, rows int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := range rows {
		fmt.Fprintf(&b, "%s-%04d,Account %d of %s\n", prefix, i, i, prefix)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// process is a running atlas-sync subprocess.
type process struct {
	cmd    *exec.Cmd
	done   chan struct{}
	status int

	mu    stdsync.Mutex
	lines []string // stderr lines
}

// start runs atlas-sync with args; env entries are added to the test's
// environment. The process is killed when the test ends, if still running.
func start(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	p := &process{cmd: cmd, done: make(chan struct{})}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		scanner := bufio.NewScanner(stderr)
		scanner.Buffer(make([]byte, 1<<20), 1<<20)
		for scanner.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, scanner.Text())
			p.mu.Unlock()
		}
	}()
	go func() {
		<-copied // Wait closes the pipe, so drain it first
		err := cmd.Wait()
		p.status = cmd.ProcessState.ExitCode()
		if err != nil && p.status < 0 {
			p.status = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("stderr of %v:\n%s", args, strings.Join(p.output(), "\n"))
		}
	})
	return p
}

func (p *process) output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

func (p *process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("send %s: %v", sig, err)
	}
}

// wait returns the exit status, failing the test after timeout.
func (p *process) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.status
	case <-time.After(timeout):
		t.Fatalf("process did not exit within %s", timeout)
		return 0
	}
}

// logLines returns the JSON log lines whose msg contains snippet.
func (p *process) logLines(snippet string) []map[string]any {
	var out []map[string]any
	for _, line := range p.output() {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) != nil {
			continue
		}
		if msg, _ := entry["msg"].(string); strings.Contains(msg, snippet) {
			out = append(out, entry)
		}
	}
	return out
}

// waitLog waits until n log lines contain snippet and returns them.
func (p *process) waitLog(t *testing.T, snippet string, n int) []map[string]any {
	t.Helper()
	var lines []map[string]any
	eventually(t, fmt.Sprintf("%d log lines %q", n, snippet), func() bool {
		lines = p.logLines(snippet)
		if len(lines) >= n {
			return true
		}
		select {
		case <-p.done:
			t.Fatalf("process exited with status %d while waiting for %q", p.status, snippet)
		default:
		}
		return false
	})
	return lines
}

// listenAddr waits for the daemon's start line and returns its endpoint.
func (p *process) listenAddr(t *testing.T) string {
	t.Helper()
	started := p.waitLog(t, "daemon started", 1)
	addr, _ := started[0]["listen"].(string)
	if addr == "" {
		t.Fatalf("daemon started line has no listen address: %v", started[0])
	}
	return addr
}

// eventually polls cond every 20ms for up to 20 seconds. Schedules fire
// at most once a second, so this spans many ticks. It fails the test
// early if a process the condition waits on has exited.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openState opens the state file read-only, as `status` does.
func openState(t *testing.T, path string) *state.Store {
	t.Helper()
	store, err := state.Open(context.Background(), path, state.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// finishedRuns returns the runs of job that have ended, newest first. It
// returns nil while the state file does not exist yet.
func finishedRuns(t *testing.T, path, job string) []state.Run {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	store, err := state.Open(context.Background(), path, state.Options{ReadOnly: true})
	if err != nil {
		return nil // schema not created yet
	}
	defer store.Close()
	runs, err := store.Runs(context.Background(), job, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []state.Run
	for _, run := range runs {
		if run.Outcome != state.OutcomeRunning {
			out = append(out, run)
		}
	}
	return out
}

// scrape returns the value of the sample named by series, such as
// `atlas_sync_rows_read_total{job="crm"}`, or -1 when it is missing.
func scrape(t *testing.T, addr, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			return v
		}
	}
	return -1
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
