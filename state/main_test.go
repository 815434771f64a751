package state

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary act as a second process that holds a
// state file: see runLockHolder.
const helperEnv = "ATLAS_SYNC_STATE_TEST_HOLDER"

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		os.Exit(runLockHolder(path))
	}
	if path := os.Getenv(snapshotCrashEnv); path != "" {
		os.Exit(runSnapshotCrash(path, os.Getenv(snapshotCrashStepEnv)))
	}
	goleak.VerifyTestMain(m)
}

// runLockHolder opens the state file, starts a run of job "held", prints
// "ready" and waits for its standard input to close. It then closes the
// store without finishing the run.
func runLockHolder(path string) int {
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := s.StartRun(ctx, "held", ModeIncremental, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) //nolint:errcheck // any end of input means stop
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// lockHolder is a child process that holds a state file open.
type lockHolder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startLockHolder runs the test binary as a lock holder and waits until it
// holds the lock.
func startLockHolder(t *testing.T, path string) *lockHolder {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &lockHolder{cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill() //nolint:errcheck // already gone after stop or kill
		cmd.Wait()         //nolint:errcheck // the exit status was checked by the test, if it cares
	})

	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("lock holder did not report ready: line %q, error %v", line, err)
	}
	return h
}

// stop closes the holder's input and waits for a clean exit.
func (h *lockHolder) stop(t *testing.T) {
	t.Helper()
	h.stdin.Close()
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("lock holder exited with %v", err)
	}
}

// kill ends the holder with SIGKILL, as a crash would.
func (h *lockHolder) kill(t *testing.T) {
	t.Helper()
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	h.cmd.Wait() //nolint:errcheck // "signal: killed" is expected
}

// openTestStore opens a new state file in a temporary directory and
// closes it when the test ends.
func openTestStore(t *testing.T) *Store {
	t.Helper()
	return openStoreAt(t, filepath.Join(t.TempDir(), "state.db"))
}

func openStoreAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// hashOf returns a recognizable test hash.
func hashOf(s string) Hash {
	var h Hash
	copy(h[:], s)
	return h
}
