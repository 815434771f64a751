package reliability

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

	"go.uber.org/goleak"

	"github.com/atlas-sync/atlas-sync/atlas/emulator"
)

// binary is the atlas-sync binary that TestMain builds.
var binary string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "atlas-sync-reliability")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	binary = filepath.Join(dir, "atlas-sync")
	build := exec.Command("go", "build", "-o", binary, "..")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build atlas-sync:", err)
		return 1
	}

	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			return 1
		}
	}
	return code
}

// binEnv runs the built binary against an emulator in this process.
type binEnv struct {
	t        *testing.T
	emulator *emulator.Server
	killer   *killSwitch
	server   *httptest.Server
	dir      string
	config   string
	state    string
	csv      string
}

func newBinEnv(t *testing.T, opts emulator.Options) *binEnv {
	t.Helper()
	opts.Token = token
	emu := emulator.New(opts)
	killer := &killSwitch{next: emu}
	server := httptest.NewServer(killer)
	t.Cleanup(server.Close)
	t.Cleanup(emu.Close)
	dir := t.TempDir()
	return &binEnv{
		t:        t,
		emulator: emu,
		killer:   killer,
		server:   server,
		dir:      dir,
		config:   filepath.Join(dir, "atlas-sync.yaml"),
		state:    filepath.Join(dir, "state", "state.db"),
		csv:      filepath.Join(dir, "accounts.csv"),
	}
}

// configOptions vary the config file between tests.
type configOptions struct {
	baseURL    string // default: the emulator's URL
	atlasExtra string // lines added under atlas:
	stateExtra string // lines added under state:
	logLevel   string // default info
	source     string // the source line; default the CSV file
	batchSize  int    // default 20
	schedule   string // the job's cron spec; default none
	listen     string // daemon.listen; default off
}

func (e *binEnv) writeConfig(opts configOptions) {
	e.t.Helper()
	if opts.baseURL == "" {
		opts.baseURL = e.server.URL
	}
	if opts.logLevel == "" {
		opts.logLevel = "info"
	}
	if opts.source == "" {
		opts.source = fmt.Sprintf("{type: csv, path: %q}", e.csv)
	}
	if opts.batchSize == 0 {
		opts.batchSize = 20
	}
	if opts.listen == "" {
		opts.listen = "off"
	}
	cfg := fmt.Sprintf(`atlas:
  base_url: %s
  token: ${REL_TOKEN}
  requests_per_second: 2000
  burst: 50
  workers: 4
  timeout: 2s
  retry_base_delay: 5ms
  retry_max_delay: 100ms
%s
state:
  path: %q
  batch_size: %d
  flush_interval: 20ms
%s
daemon:
  listen: %q
  shutdown_grace: 2s
log:
  format: json
  level: %s
jobs:
  - name: crm
    schedule: %q
    source: %s
    mapping:
      external_id: Id
      name: Name
      custom_fields:
        tier: Tier
`, opts.baseURL, opts.atlasExtra, e.state, opts.batchSize, opts.stateExtra, opts.listen, opts.logLevel, opts.schedule, opts.source)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

type result struct {
	code   int
	stdout string
	stderr string
}

func (r result) output() string {
	return r.stdout + r.stderr
}

func (e *binEnv) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "REL_TOKEN="+token)
	cmd.Dir = e.dir
	return cmd
}

// run runs the binary to its end.
func (e *binEnv) run(args ...string) result {
	e.t.Helper()
	return e.runCommand(e.command(context.Background(), args...))
}

func (e *binEnv) runCommand(cmd *exec.Cmd) result {
	e.t.Helper()
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

// mustContain fails the test for each wanted text that out lacks.
func mustContain(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, out)
		}
	}
}
