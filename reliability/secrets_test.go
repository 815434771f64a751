package reliability

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atlas-sync/atlas-sync/atlas/emulator"
	"github.com/atlas-sync/atlas-sync/config"
)

// leakCheck collects every output the binary produced and the files it
// wrote, and reports each one that contains the token.
type leakCheck struct {
	t       *testing.T
	checked int
	leaks   int
}

func (c *leakCheck) text(what, out string) {
	c.t.Helper()
	c.checked++
	if strings.Contains(out, token) {
		c.leaks++
		c.t.Errorf("the token appears in %s", what)
	}
}

func (c *leakCheck) file(path string) {
	c.t.Helper()
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.text("file "+filepath.Base(path), string(raw))
}

// TestTokenNeverWritten searches every output and state file of the binary
// for the token. The binary runs at log level debug through a run with
// faults, a dry run, check, status, rejected, a rejected token, and a
// server that echoes the Authorization header in its error bodies and
// headers. Then come a SIGKILL that leaves the WAL behind, a goroutine
// dump (SIGQUIT prints stacks as a panic does) and the daemon's endpoints.
func TestTokenNeverWritten(t *testing.T) {
	check := &leakCheck{t: t}
	e := newBinEnv(t, emulator.Options{})
	accounts := generation(300, 0, 0)
	writeCSV(t, e.csv, accounts)
	e.writeConfig(configOptions{logLevel: "debug", atlasExtra: "  max_retries: 10"})

	e.emulator.SetFaults(emulator.Faults{
		Seed: 3, ErrorRate: 0.1, ResetRate: 0.05, TruncateRate: 0.05, RateLimitBurst: 2, OmitRetryAfter: true,
		FailExternalIDs: map[string]int{"R-000007": 422},
	})
	res := e.run("run", "--config", e.config)
	if res.code != 3 {
		t.Errorf("faulty run: exit %d, want 3 (one row rejected)\n%s", res.code, lastLines(res.stderr, 3))
	}
	check.text("the output of a run with faults", res.output())
	e.emulator.SetFaults(emulator.Faults{})

	writeCSV(t, e.csv, generation(300, 1, 7))
	for _, c := range []struct {
		args []string
		code int
	}{
		// R-000007 is still rejected and unchanged, so the dry run
		// reports it as rejected with status 3.
		{[]string{"run", "--dry-run"}, 3},
		{[]string{"check"}, 0},
		{[]string{"status"}, 0},
		{[]string{"status", "--json", "--runs", "5"}, 0},
		{[]string{"rejected"}, 0},
	} {
		args := c.args
		res := e.run(append(args, "--config", e.config)...)
		if res.code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s", strings.Join(args, " "), res.code, c.code, res.stderr)
		}
		check.text("the output of "+strings.Join(args, " "), res.output())
	}

	e.emulator.SetFaults(emulator.Faults{Unauthorized: true})
	res = e.run("run", "--config", e.config)
	if res.code != 1 {
		t.Errorf("run with a rejected token: exit %d, want 1", res.code)
	}
	check.text("the output of a run with a rejected token", res.output())
	e.emulator.SetFaults(emulator.Faults{})

	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		w.Header().Set("X-Request-Id", auth)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprintf(w, `{"message": "token %s is not allowed", "errors": [{"field": "name", "message": %q}]}`, auth, auth)
	}))
	defer echo.Close()
	e.writeConfig(configOptions{logLevel: "debug", baseURL: echo.URL})
	res = e.run("run", "--config", e.config)
	if res.code != 3 {
		t.Errorf("run against the echoing server: exit %d, want 3 (rows rejected)\n%s", res.code, lastLines(res.stderr, 3))
	}
	check.text("the output of a run against a server echoing the token", res.output())
	res = e.run("rejected", "--config", e.config)
	check.text("the rejected rows holding the echoed messages", res.output())
	if !strings.Contains(res.output(), "[REDACTED]") {
		t.Errorf("the rejected rows do not show the echoed token masked:\n%s", lastLines(res.output(), 5))
	}

	// A run killed mid-way leaves the WAL and the lock file behind.
	e.writeConfig(configOptions{logLevel: "debug"})
	writeCSV(t, e.csv, generation(300, 2, 1))
	if killed, _ := e.runKilledAt(150, true); !killed {
		t.Error("the run ended before the kill")
	}
	for _, suffix := range []string{"", "-wal", "-shm", ".lock"} {
		check.file(e.state + suffix)
	}
	if _, err := os.Stat(e.state + "-wal"); err != nil {
		t.Errorf("no WAL to search after the kill: %v", err)
	}

	// SIGQUIT makes the Go runtime print every goroutine's stack, as a
	// panic does, with the token in the client's memory.
	writeCSV(t, e.csv, generation(300, 4, 1))
	cmd := e.command(context.Background(), "run", "--config", e.config)
	cmd.Env = append(cmd.Env, "GOTRACEBACK=all")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.killer.arm(100, func() { _ = cmd.Process.Signal(syscall.SIGQUIT) }, true)
	_ = cmd.Wait()
	e.killer.disarm()
	if !strings.Contains(stderr.String(), "goroutine ") {
		t.Errorf("SIGQUIT printed no goroutine stacks:\n%s", lastLines(stderr.String(), 5))
	}
	check.text("the goroutine stacks printed on SIGQUIT", stderr.String())

	checkDaemonEndpoints(t, e, check)
	t.Logf("searched %d outputs and files for the token: %d leaks", check.checked, check.leaks)
}

// checkDaemonEndpoints runs the daemon with a schedule of one second,
// waits until it has synced, and searches /metrics, /healthz, /readyz and
// its log for the token, and the endpoints for configured paths and URLs.
func checkDaemonEndpoints(t *testing.T, e *binEnv, check *leakCheck) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	listener.Close()
	writeCSV(t, e.csv, generation(300, 3, 1))
	e.writeConfig(configOptions{logLevel: "debug", schedule: "@every 1s", listen: address})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := e.command(ctx, "daemon", "--config", e.config)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	// The daemon is another process, so there is no signal to wait on:
	// poll /metrics until it reports a finished run.
	var metrics string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		body, status := get(t, "http://"+address+"/metrics")
		if status == http.StatusOK && strings.Contains(body, `job="crm"`) && len(missingOrStale(e.emulator, generation(300, 3, 1))) == 0 {
			metrics = body
			break
		}
	}
	if metrics == "" {
		t.Error("the daemon did not sync within 30s")
	}
	check.text("/metrics", metrics)
	bodies := map[string]string{"/metrics": metrics}
	for _, path := range []string{"/healthz", "/readyz"} {
		body, _ := get(t, "http://"+address+path)
		check.text(path, body)
		bodies[path] = body
	}
	// The endpoints expose no configuration values either.
	for path, body := range bodies {
		for _, value := range []string{e.state, e.csv, e.server.URL, e.config} {
			if strings.Contains(body, value) {
				t.Errorf("%s exposes the configured value %s", path, value)
			}
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("daemon exit: %v", err)
	}
	check.text("the daemon's log", stderr.String())
}

func get(t *testing.T, url string) (string, int) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", 0
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body), resp.StatusCode
}

// TestInsecureBaseURLRejected checks that plain http is accepted only on
// loopback or with allow_insecure_http, and that the binary refuses a
// remote http URL before it opens any connection.
func TestInsecureBaseURLRejected(t *testing.T) {
	e := newBinEnv(t, emulator.Options{})
	writeCSV(t, e.csv, generation(5, 0, 0))
	e.writeConfig(configOptions{baseURL: "http://atlas.example.com"})
	res := e.run("run", "--config", e.config)
	if res.code != 1 {
		t.Errorf("exit %d with a remote http base_url, want 1", res.code)
	}
	mustContain(t, "output", res.output(), "atlas.base_url", "clear text", "allow_insecure_http")

	base := "atlas:\n  token: t\n  base_url: %s\n%sjobs:\n  - name: crm\n    source: {type: csv, path: a.csv}\n    mapping: {external_id: Id}\n"
	tests := []struct {
		url, extra string
		ok         bool
	}{
		{url: "http://atlas.example.com", ok: false},
		{url: "http://atlas.example.com", extra: "  allow_insecure_http: true\n", ok: true},
		{url: "http://127.0.0.1:8080", ok: true},
		{url: "http://[::1]:8080", ok: true},
		{url: "http://localhost:8080", ok: true},
		{url: "https://atlas.example.com", ok: true},
		{url: "ftp://atlas.example.com", ok: false},
	}
	for _, tc := range tests {
		_, err := config.Parse(fmt.Appendf(nil, base, tc.url, tc.extra), func(string) (string, bool) { return "", false })
		if (err == nil) != tc.ok {
			t.Errorf("base_url %s %q: error %v, want accepted %v", tc.url, strings.TrimSpace(tc.extra), err, tc.ok)
		}
	}

	cfg, err := config.Parse(fmt.Appendf(nil, base, "https://atlas.example.com", ""), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	host, _, err := net.SplitHostPort(cfg.Daemon.Listen)
	if err != nil || !config.IsLoopbackHost(host) {
		t.Errorf("default daemon.listen %q is not a loopback address", cfg.Daemon.Listen)
	}
}

// TestTLSVerificationOn serves the emulator over TLS with a certificate
// from a test CA. Without that CA the binary must fail with a certificate
// error before any request reaches the emulator. With SSL_CERT_FILE
// naming the CA, the same run must succeed.
func TestTLSVerificationOn(t *testing.T) {
	e := newBinEnv(t, emulator.Options{})
	tlsServer := httptest.NewTLSServer(e.emulator)
	defer tlsServer.Close()
	accounts := generation(20, 0, 0)
	writeCSV(t, e.csv, accounts)
	e.writeConfig(configOptions{baseURL: tlsServer.URL})

	res := e.run("run", "--config", e.config)
	t.Logf("without the CA: exit %d: %s", res.code, lastLines(res.stdout, 1))
	if res.code != 1 {
		t.Errorf("exit %d against an untrusted certificate, want 1", res.code)
	}
	mustContain(t, "output", res.output(), "certificate")
	if got := e.emulator.Stats().Requests; got != 0 {
		t.Errorf("%d requests reached the server through an untrusted TLS connection, want 0", got)
	}

	caFile := filepath.Join(e.dir, "test-ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsServer.Certificate().Raw})
	writeFile(t, caFile, cert)
	cmd := e.command(context.Background(), "run", "--config", e.config)
	cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+caFile)
	res = e.runCommand(cmd)
	if res.code != 0 {
		t.Fatalf("exit %d with the CA trusted, want 0\n%s", res.code, res.stderr)
	}
	if lost := missingOrStale(e.emulator, accounts); len(lost) > 0 {
		t.Errorf("%d accounts missing over TLS", len(lost))
	}
}

// TestCreatedFilesPrivate runs the binary under umask 0, once killed
// mid-way (so that the WAL exists) and once to the end, and checks that
// the state directory it creates is 0700 and every state file 0600.
func TestCreatedFilesPrivate(t *testing.T) {
	e := newBinEnv(t, emulator.Options{})
	writeCSV(t, e.csv, generation(500, 0, 0))
	e.writeConfig(configOptions{})

	umask := syscall.Umask(0)
	defer syscall.Umask(umask)

	check := func(when string) {
		t.Helper()
		info, err := os.Stat(filepath.Dir(e.state))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != 0o700 {
			t.Errorf("%s: state directory mode %v, want 0700", when, got)
		}
		for _, suffix := range []string{"", "-wal", "-shm", ".lock"} {
			info, err := os.Stat(e.state + suffix)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm(); got != 0o600 {
				t.Errorf("%s: %s mode %v, want 0600", when, filepath.Base(e.state+suffix), got)
			}
		}
	}

	if killed, _ := e.runKilledAt(100, true); !killed {
		t.Error("the run ended before the kill")
	}
	if _, err := os.Stat(e.state + "-wal"); err != nil {
		t.Errorf("no WAL after the kill: %v", err)
	}
	check("after SIGKILL")
	if res := e.run("run", "--config", e.config); res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	check("after a complete run")
}
