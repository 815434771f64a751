package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/atlas-sync/atlas-sync/atlas/emulator"
)

// maxRSSKiB bounds the binary's peak memory while it rejects a 1 GB line:
// the 16 MiB record limit plus the runtime, far below the line's size.
const maxRSSKiB = 200 << 10

// TestGigabyteLineEndsWithClearError gives the binary a 1 GB file whose
// header or second line never ends. The file is sparse, so it costs no
// disk. The run must stop at the record size limit with an error naming
// the file and the line, without reading the line into memory.
func TestGigabyteLineEndsWithClearError(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		wants  []string
	}{
		{name: "header", prefix: "Id", wants: []string{"read header row", "exceeds the maximum record size"}},
		{name: "second line", prefix: "Id,Name,Tier\nR-000001,", wants: []string{"after line 1", "exceeds the maximum record size"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newBinEnv(t, emulator.Options{})
			writeSparse(t, e.csv, tc.prefix, 1<<30)
			e.writeConfig(configOptions{})

			cmd := e.command(context.Background(), "run", "--config", e.config)
			res := e.runCommand(cmd)
			usage := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			t.Logf("exit %d, peak RSS %d MiB: %s", res.code, usage.Maxrss>>10, lastLines(res.stderr, 1))
			if res.code != 1 {
				t.Errorf("exit status %d, want 1", res.code)
			}
			mustContain(t, "output", res.output(), append(tc.wants, e.csv)...)
			if usage.Maxrss > maxRSSKiB {
				t.Errorf("peak RSS %d MiB, want below %d MiB: the line must not be read into memory", usage.Maxrss>>10, maxRSSKiB>>10)
			}
			if got := e.emulator.Stats().Requests; got != 0 {
				t.Errorf("%d requests sent, want 0", got)
			}
		})
	}
}

// writeSparse writes prefix and extends the file to size bytes with a
// hole, which reads as NUL bytes and takes no disk space.
func writeSparse(t *testing.T, path, prefix string, size int64) {
	t.Helper()
	file, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, err := file.WriteString(prefix); err != nil {
		t.Fatal(err)
	}
	if err := file.Truncate(size); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
}

// TestFileGrowingDuringRunFails appends rows to the source while the
// binary reads it (at its tenth request). The run must stop with an error
// that reports that the file changed, keep what Atlas acknowledged, and the next
// run must deliver every row, the appended ones included.
func TestFileGrowingDuringRunFails(t *testing.T) {
	const rows, appended = 4000, 100
	e := newBinEnv(t, emulator.Options{})
	all := generation(rows+appended, 0, 0)
	writeCSV(t, e.csv, all[:rows])
	e.writeConfig(configOptions{})

	e.killer.arm(10, func() {
		file, err := os.OpenFile(e.csv, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer file.Close()
		for _, a := range all[rows:] {
			fmt.Fprintf(file, "%s,%s,%s\n", a.id, a.name, a.tier)
		}
	}, true)
	res := e.run("run", "--config", e.config)
	e.killer.disarm()
	t.Logf("exit %d: %s", res.code, lastLines(res.stdout, 1))
	if res.code != 1 {
		t.Errorf("exit status %d, want 1", res.code)
	}
	mustContain(t, "output", res.output(), "the file changed while it was read", e.csv)

	again := e.run("run", "--config", e.config)
	if again.code != 0 {
		t.Fatalf("next run: exit %d\n%s", again.code, again.stderr)
	}
	if lost := missingOrStale(e.emulator, all); len(lost) > 0 {
		t.Errorf("%d accounts missing after the next run, first %s", len(lost), lost[0])
	}
}

// TestSourceRemovedDuringRun deletes the source file at the binary's
// tenth request. The open file stays readable, so the run completes with
// the content it opened. The next run must fail, naming the missing file,
// and send nothing.
func TestSourceRemovedDuringRun(t *testing.T) {
	const rows = 3000
	e := newBinEnv(t, emulator.Options{})
	accounts := generation(rows, 0, 0)
	writeCSV(t, e.csv, accounts)
	e.writeConfig(configOptions{})

	e.killer.arm(10, func() {
		if err := os.Remove(e.csv); err != nil {
			t.Error(err)
		}
	}, true)
	res := e.run("run", "--config", e.config)
	e.killer.disarm()
	if res.code != 0 {
		t.Fatalf("run during which the file was removed: exit %d\n%s", res.code, res.stderr)
	}
	if lost := missingOrStale(e.emulator, accounts); len(lost) > 0 {
		t.Errorf("%d accounts missing, first %s", len(lost), lost[0])
	}

	requests := e.emulator.Stats().Requests
	next := e.run("run", "--config", e.config)
	t.Logf("next run: exit %d: %s", next.code, lastLines(next.stderr, 1))
	if next.code != 1 {
		t.Errorf("exit status %d with the file gone, want 1", next.code)
	}
	mustContain(t, "output", next.output(), e.csv, "no such file or directory")
	if got := e.emulator.Stats().Requests - requests; got != 0 {
		t.Errorf("%d requests sent without a source, want 0", got)
	}
}

// TestSourcePathNotAFile points the job at a directory and at a FIFO.
// Each must end with exit 1 and an error naming the path and the
// problem, and the FIFO must not block the run waiting for a writer.
func TestSourcePathNotAFile(t *testing.T) {
	tests := []struct {
		name   string
		create func(path string) error
		want   string
	}{
		{name: "directory", create: func(path string) error { return os.Mkdir(path, 0o700) }, want: "is a directory"},
		{name: "FIFO", create: func(path string) error { return syscall.Mkfifo(path, 0o600) }, want: "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newBinEnv(t, emulator.Options{})
			path := filepath.Join(e.dir, "accounts-input")
			if err := tc.create(path); err != nil {
				t.Skipf("create %s: %v", tc.name, err)
			}
			e.writeConfig(configOptions{source: fmt.Sprintf("{type: csv, path: %q}", path)})

			res := e.run("run", "--config", e.config)
			t.Logf("exit %d: %s", res.code, lastLines(res.stderr, 1))
			if res.code != 1 {
				t.Errorf("exit status %d, want 1", res.code)
			}
			mustContain(t, "output", res.output(), path, tc.want)
		})
	}
}
