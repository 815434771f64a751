package reliability

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atlas-sync/atlas-sync/atlas/emulator"
)

// diskFullRows is enough accounts for the checkpoint to outgrow the space
// given to it below.
const diskFullRows = 3000

// TestDiskFullOnTmpfsThenRecovers puts the state directory on a 192 KiB
// tmpfs, so that writing the checkpoint fails with ENOSPC part way
// through the run. The run must fail with an error that names the full
// disk, and the next run, after the tmpfs has grown, must deliver
// everything with only the unrecorded rows repeated. It needs root to
// mount and skips without it.
func TestDiskFullOnTmpfsThenRecovers(t *testing.T) {
	e := newBinEnv(t, emulator.Options{})
	stateDir := filepath.Dir(e.state)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=192k,mode=0700", "tmpfs", stateDir).CombinedOutput(); err != nil {
		t.Skipf("mount a tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", stateDir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", stateDir, err, out)
		}
	})

	accounts := generation(diskFullRows, 0, 0)
	writeCSV(t, e.csv, accounts)
	e.writeConfig(configOptions{})

	full := e.run("run", "--config", e.config)
	t.Logf("run on a full disk: exit %d\n%s", full.code, lastLines(full.output(), 6))
	if full.code != 1 {
		t.Fatalf("exit status %d on a full disk, want 1", full.code)
	}
	mustContain(t, "output of the run on a full disk", full.output(), "database or disk is full")
	mustContain(t, "output of the run on a full disk", full.output(), "free space on that file system")

	if out, err := exec.Command("mount", "-o", "remount,size=64m", stateDir).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs: %v: %s", err, out)
	}
	checkRecovered(t, e, accounts)
}

// TestFileSizeLimitThenRecovers limits the size of every file the
// process writes (RLIMIT_FSIZE, with SIGXFSZ ignored so that write
// returns EFBIG), which needs no root. The run must fail with a clear
// error and the next run without the limit must recover.
func TestFileSizeLimitThenRecovers(t *testing.T) {
	e := newBinEnv(t, emulator.Options{})
	accounts := generation(diskFullRows, 0, 0)
	writeCSV(t, e.csv, accounts)
	e.writeConfig(configOptions{})

	// dash counts ulimit -f in 512-byte blocks: 384 blocks are 192 KiB.
	script := `trap '' XFSZ; ulimit -f 384; exec "$0" "$@"`
	cmd := exec.CommandContext(context.Background(), "/bin/sh", "-c", script, binary, "run", "--config", e.config)
	cmd.Env = append(os.Environ(), "REL_TOKEN="+token)
	cmd.Dir = e.dir
	limited := e.runCommand(cmd)
	t.Logf("run with a 192 KiB file size limit: exit %d\n%s", limited.code, lastLines(limited.output(), 6))
	if limited.code != 1 {
		t.Fatalf("exit status %d with the file size limit, want 1", limited.code)
	}
	if !strings.Contains(limited.output(), "file too large") && !strings.Contains(limited.output(), "disk is full") {
		t.Errorf("output does not say the file could not grow:\n%s", limited.output())
	}
	checkRecovered(t, e, accounts)
}

// checkRecovered runs again with space and checks that every account
// arrives, that the checkpoint matches, and that repeats stay within what
// the failed run could not record.
func checkRecovered(t *testing.T, e *binEnv, accounts []account) {
	t.Helper()
	failedRun := e.emulator.Stats()
	unrecorded := e.unrecorded(accounts, nil) - (len(accounts) - len(failedRun.Upserts))

	again := e.run("run", "--config", e.config)
	if again.code != 0 {
		t.Fatalf("run with space again: exit %d\n%s", again.code, again.stderr)
	}
	if lost := missingOrStale(e.emulator, accounts); len(lost) > 0 {
		t.Errorf("%d accounts missing after the recovery, first %s", len(lost), lost[0])
	}
	once := make(map[string]int, len(accounts))
	for _, a := range accounts {
		once[a.id] = 1
	}
	repeated := repeatedUpserts(e.emulator.Stats(), once)
	t.Logf("failed run applied %d accounts, %d of them unrecorded; recovery repeated %d upserts", len(failedRun.Upserts), unrecorded, repeated)
	if repeated != unrecorded {
		t.Errorf("%d repeated upserts, want exactly the %d accounts Atlas applied but the checkpoint lacked", repeated, unrecorded)
	}

	before := e.emulator.Stats().Requests
	if res := e.run("run", "--config", e.config); res.code != 0 || e.emulator.Stats().Requests != before {
		t.Errorf("third run exit %d, %d requests; want 0 and none", res.code, e.emulator.Stats().Requests-before)
	}
}

// lastLines returns the last n lines of s, for logs of long outputs.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
