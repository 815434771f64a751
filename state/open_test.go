package state

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOpenCreatesPrivateFiles(t *testing.T) {
	// A umask of 0 would give 0666 files and 0777 directories if Open
	// relied on the mode argument alone. Not parallel: the umask is
	// process-wide.
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	dir := filepath.Join(t.TempDir(), "var", "atlas-sync")
	path := filepath.Join(dir, "state.db")
	s := openStoreAt(t, path)
	if err := s.SetCursor(context.Background(), "crm", "c1"); err != nil {
		t.Fatal(err)
	}

	wantModes := map[string]fs.FileMode{
		dir:            0o700 | fs.ModeDir,
		path:           0o600,
		path + ".lock": 0o600,
		path + "-wal":  0o600,
		path + "-shm":  0o600,
	}
	for name, want := range wantModes {
		info, err := os.Stat(name)
		if err != nil {
			t.Errorf("stat %s: %v", name, err)
			continue
		}
		if got := info.Mode(); got != want {
			t.Errorf("mode of %s = %v, want %v", name, got, want)
		}
	}
}

func TestOpenKeepsExistingDirMode(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	openStoreAt(t, filepath.Join(dir, "state.db"))

	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o750 {
		t.Errorf("mode of existing dir = %v, want 0750", got)
	}
}

func TestOpenWritesPIDToLockFile(t *testing.T) {
	s := openTestStore(t)
	content, err := os.ReadFile(s.Path() + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(content)), strconv.Itoa(os.Getpid()); got != want {
		t.Errorf("lock file contains %q, want PID %s", got, want)
	}
}

func TestOpenLockedInSameProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	first, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}

	// flock locks belong to the open file description, so a second
	// open(2) of the lock file conflicts even inside one process.
	second, err := Open(ctx, path, Options{})
	var locked *LockedError
	if !errors.As(err, &locked) {
		second.Close()
		t.Fatalf("second Open error = %v, want *LockedError", err)
	}
	if locked.PID != os.Getpid() {
		t.Errorf("LockedError.PID = %d, want %d", locked.PID, os.Getpid())
	}
	if locked.Path != path {
		t.Errorf("LockedError.Path = %q, want %q", locked.Path, path)
	}
	want := "state file " + path + " is in use by process " + strconv.Itoa(os.Getpid()) +
		"; stop that process or use another state.path"
	if err.Error() != want {
		t.Errorf("error message = %q, want %q", err.Error(), want)
	}

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := third.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenLockedByOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	holder := startLockHolder(t, path)

	_, err := Open(context.Background(), path, Options{})
	var locked *LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("Open error = %v, want *LockedError", err)
	}
	if locked.PID != holder.cmd.Process.Pid {
		t.Errorf("LockedError.PID = %d, want the holder's PID %d", locked.PID, holder.cmd.Process.Pid)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(holder.cmd.Process.Pid)) {
		t.Errorf("error message %q does not name PID %d", err.Error(), holder.cmd.Process.Pid)
	}

	holder.stop(t)
	openStoreAt(t, path)
}

func TestOpenAfterCrashMarksRunInterrupted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	holder := startLockHolder(t, path)
	holder.kill(t)

	// The kernel released the killed process's lock; its run stays
	// "running" in the file until this Open.
	s := openStoreAt(t, path)
	runs, err := s.Runs(context.Background(), "held", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Fatalf("got %d runs, want 1", len(runs))
	}
	if runs[0].Outcome != OutcomeInterrupted {
		t.Errorf("outcome = %q, want %q", runs[0].Outcome, OutcomeInterrupted)
	}
	if runs[0].Error != interruptedMessage {
		t.Errorf("error = %q, want %q", runs[0].Error, interruptedMessage)
	}
}

func TestOpenLockedErrorWithoutPID(t *testing.T) {
	err := &LockedError{Path: "./x.db"}
	want := "state file ./x.db is in use by another process; stop that process or use another state.path"
	if err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}
}

// assertOpenRejects opens path, expects an error matching target, and
// checks that the file's bytes did not change and no WAL was left behind.
func assertOpenRejects(t *testing.T, path string, opts Options, target error) error {
	t.Helper()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	s, openErr := Open(context.Background(), path, opts)
	if openErr == nil {
		s.Close()
		t.Fatalf("Open(%s) succeeded, want %v", path, target)
	}
	if !errors.Is(openErr, target) {
		t.Fatalf("Open error = %v, want %v", openErr, target)
	}
	if !strings.Contains(openErr.Error(), path) {
		t.Errorf("error %q does not name the file %s", openErr.Error(), path)
	}

	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("Open changed %s (%d bytes before, %d after)", path, len(before), len(after))
	}
	// A read-only connection to a WAL database may create an empty -wal
	// file that it cannot remove; it must not write frames to it.
	if info, err := os.Stat(path + "-wal"); err == nil && (info.Size() > 0 || !opts.ReadOnly) {
		t.Errorf("Open left %s-wal behind with %d bytes", path, info.Size())
	}
	return openErr
}

func TestOpenRejectsNonSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accounts.csv")
	if err := os.WriteFile(path, []byte("external_id,name\n1,Acme\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, opts := range []Options{{}, {ReadOnly: true}} {
		err := assertOpenRejects(t, path, opts, ErrNotSQLite)
		if !strings.Contains(err.Error(), "state.path") {
			t.Errorf("error %q does not say what to do", err.Error())
		}
	}
}

func TestOpenRejectsShortNonSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	assertOpenRejects(t, path, Options{}, ErrNotSQLite)
}

// writeFilledStateFile creates a closed state file with enough rows to
// span many pages.
func writeFilledStateFile(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	acks := make([]Ack, 2000)
	for i := range acks {
		acks[i] = Ack{ExternalID: "acct-" + strconv.Itoa(i), Hash: hashOf("h"), SentAt: time.Now()}
	}
	if err := s.Record(ctx, "crm", acks, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsTruncatedFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep func(size int64) int64
	}{
		{"half", func(size int64) int64 { return size / 2 }},
		{"one page", func(int64) int64 { return 4096 }},
		{"inside header", func(int64) int64 { return 60 }},
		{"inside magic", func(int64) int64 { return 10 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			writeFilledStateFile(t, path)
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, tc.keep(info.Size())); err != nil {
				t.Fatal(err)
			}

			for _, opts := range []Options{{}, {ReadOnly: true}} {
				err := assertOpenRejects(t, path, opts, ErrCorrupt)
				if !strings.Contains(err.Error(), "backup") {
					t.Errorf("error %q does not say what to do", err.Error())
				}
			}
		})
	}
}

func TestOpenRejectsNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	writeFilledStateFile(t, path)
	execRaw(t, path, "INSERT INTO schema_version (version, name, applied_at) VALUES (99, 'future', 0)")

	for _, opts := range []Options{{}, {ReadOnly: true}} {
		err := assertOpenRejects(t, path, opts, ErrNewerSchema)
		if !strings.Contains(err.Error(), "version 99") || !strings.Contains(err.Error(), "upgrade atlas-sync") {
			t.Errorf("error %q does not name the version and the fix", err.Error())
		}
	}
}

func TestOpenRejectsForeignSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	execRaw(t, path, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")

	assertOpenRejects(t, path, Options{}, ErrNotStateFile)
	assertHeaderJournalMode(t, path, 1)
}

func TestOpenRejectsOtherApplicationID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	execRaw(t, path, "PRAGMA application_id = 1234")

	err := assertOpenRejects(t, path, Options{}, ErrNotStateFile)
	if !strings.Contains(err.Error(), "0x000004d2") {
		t.Errorf("error %q does not show the application_id", err.Error())
	}
}

// assertHeaderJournalMode checks the file format bytes at offset 18 and
// 19 of the header: 1 for a rollback journal, 2 for WAL.
func assertHeaderJournalMode(t *testing.T, path string, want byte) {
	t.Helper()
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if content[18] != want || content[19] != want {
		t.Errorf("header format bytes = %d,%d, want %d", content[18], content[19], want)
	}
}

// execRaw runs statements on path through a plain SQLite connection in
// rollback-journal mode, bypassing this package.
func execRaw(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range stmts {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

func TestOpenAcceptsEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := openStoreAt(t, path)
	if err := s.SetCursor(context.Background(), "crm", "c"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state?mode=ro#1%20.db")
	s := openStoreAt(t, path)
	if err := s.SetCursor(context.Background(), "crm", "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("state file not at the given path: %v", err)
	}
}

func TestOpenTwiceMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	writeFilledStateFile(t, path)
	writeFilledStateFile(t, path)

	s := openStoreAt(t, path)
	var rows, version int
	err := s.db.QueryRow("SELECT count(*), max(version) FROM schema_version").Scan(&rows, &version)
	if err != nil {
		t.Fatal(err)
	}
	if rows != len(migrations()) || version != latestVersion() {
		t.Errorf("schema_version has %d rows up to version %d, want %d rows up to %d",
			rows, version, len(migrations()), latestVersion())
	}
	var appID int64
	if err := s.db.QueryRow("PRAGMA application_id").Scan(&appID); err != nil {
		t.Fatal(err)
	}
	if appID != applicationID {
		t.Errorf("application_id = %#x, want %#x", appID, applicationID)
	}
}

func TestOpenSetsPragmas(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"busy_timeout": "5000",
		"synchronous":  "1", // NORMAL
		"foreign_keys": "1",
	} {
		var got string
		if err := conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestReadOnlyMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	_, err := Open(context.Background(), path, Options{ReadOnly: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error = %v, want fs.ErrNotExist", err)
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("read-only Open created %s", path)
	}
}

func TestReadOnlyEmptyFileNeedsMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	assertOpenRejects(t, path, Options{ReadOnly: true}, ErrOlderSchema)
}

func TestReadOnlyWhileLocked(t *testing.T) {
	ctx := context.Background()
	writer := openTestStore(t)
	err := writer.Record(ctx, "crm", []Ack{{ExternalID: "a1", Hash: hashOf("1"), SentAt: time.Now()}},
		[]Rejection{{ExternalID: "a2", Hash: hashOf("2"), Status: 422, Message: "bad", At: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}

	reader, err := Open(ctx, writer.Path(), Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open while locked: %v", err)
	}
	defer reader.Close()

	rejected, err := reader.Rejected(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 1 || rejected[0].ExternalID != "a2" {
		t.Errorf("Rejected = %+v, want one row for a2", rejected)
	}

	writeChecks := map[string]error{
		"Record":          reader.Record(ctx, "crm", []Ack{{ExternalID: "x"}}, nil),
		"SetCursor":       reader.SetCursor(ctx, "crm", "c"),
		"FinishRun":       reader.FinishRun(ctx, 1, time.Now(), OutcomeOK, Counts{}, ""),
		"UpdateRunCounts": reader.UpdateRunCounts(ctx, 1, Counts{}),
	}
	_, err = reader.StartRun(ctx, "crm", ModeFull, time.Now())
	writeChecks["StartRun"] = err
	_, err = reader.RetryRejected(ctx, "")
	writeChecks["RetryRejected"] = err
	_, err = reader.PruneRuns(ctx, 1)
	writeChecks["PruneRuns"] = err
	for name, err := range writeChecks {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on read-only store: error %v, want ErrReadOnly", name, err)
		}
	}
}
