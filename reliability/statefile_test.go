package reliability

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/atlas-sync/atlas-sync/atlas/emulator"
)

// TestUnusableStateFileStopsRun puts a state file that atlas-sync cannot
// use under the binary. Each run must exit 1 with an error that says what
// is wrong and what to do, send nothing, and leave the file's bytes as
// they were: nothing silently starts over.
func TestUnusableStateFileStopsRun(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, e *binEnv)
		wants   []string
	}{
		{
			name: "not SQLite",
			prepare: func(t *testing.T, e *binEnv) {
				content := bytes.Repeat([]byte("Id,Name\nthis is a CSV file, not a checkpoint\n"), 200)
				writeFile(t, e.state, content)
			},
			wants: []string{"not a SQLite database", "move this file away"},
		},
		{
			name: "truncated",
			prepare: func(t *testing.T, e *binEnv) {
				syncOnce(t, e)
				raw, err := os.ReadFile(e.state)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, e.state, raw[:len(raw)*6/10])
			},
			wants: []string{"truncated or damaged", "restore it from a backup"},
		},
		{
			name: "newer schema",
			prepare: func(t *testing.T, e *binEnv) {
				syncOnce(t, e)
				db, err := sql.Open("sqlite3", e.state)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec("INSERT INTO schema_version (version, name, applied_at) VALUES (999, 'from the future', 0)"); err != nil {
					t.Fatal(err)
				}
			},
			wants: []string{"newer than this atlas-sync supports", "version 999", "upgrade atlas-sync"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newBinEnv(t, emulator.Options{})
			writeCSV(t, e.csv, generation(50, 0, 0))
			e.writeConfig(configOptions{})
			if err := os.MkdirAll(filepath.Dir(e.state), 0o700); err != nil {
				t.Fatal(err)
			}
			tc.prepare(t, e)
			for _, suffix := range []string{"-wal", "-shm"} {
				if err := os.Remove(e.state + suffix); err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
			}
			before, err := os.ReadFile(e.state)
			if err != nil {
				t.Fatal(err)
			}
			requests := e.emulator.Stats().Requests

			res := e.run("run", "--config", e.config)
			t.Logf("exit %d: %s", res.code, lastLines(res.stderr, 1))
			if res.code != 1 {
				t.Errorf("exit status %d, want 1", res.code)
			}
			mustContain(t, "output", res.output(), append(tc.wants, e.state)...)
			if got := e.emulator.Stats().Requests - requests; got != 0 {
				t.Errorf("%d requests sent with an unusable state file, want 0", got)
			}
			after, err := os.ReadFile(e.state)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("the state file changed (%d bytes before, %d after); it must be left as it was", len(before), len(after))
			}
		})
	}
}

// syncOnce fills the state file with one complete run.
func syncOnce(t *testing.T, e *binEnv) {
	t.Helper()
	if res := e.run("run", "--config", e.config); res.code != 0 {
		t.Fatalf("first run: exit %d\n%s", res.code, res.stderr)
	}
}

func writeFile(t *testing.T, path string, content []byte) {
	t.Helper()
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
}
