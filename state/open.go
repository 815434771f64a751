package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mattn/go-sqlite3"
	"go.uber.org/zap"
)

// Options configures Open.
type Options struct {
	// Logger receives migration and recovery messages. Nil means
	// zap.NewNop().
	Logger *zap.Logger

	// ReadOnly opens the file for listing (status, rejected rows) while
	// another process may hold the lock: no lock is taken, nothing is
	// created or migrated, and write methods return ErrReadOnly. The file
	// must exist and have exactly the schema version this binary expects.
	// SQLite may leave empty -wal and -shm files next to a WAL database
	// that no writer has open.
	ReadOnly bool
}

// Store is an open state file. Its methods are safe for concurrent use;
// write transactions are serialized inside the process.
type Store struct {
	path     string
	db       *sql.DB
	lock     *fileLock // nil when read-only
	readOnly bool
	logger   *zap.Logger

	// writeMu serializes write transactions. The file lock already keeps
	// other writers out, so with this mutex SQLite never returns
	// SQLITE_BUSY to a writer of this process.
	writeMu sync.Mutex

	jobsMu          sync.Mutex
	jobIDs          map[string]int64 // job name to jobs.id, filled as jobs are created or looked up
	brokenSnapshots map[int64]bool   // jobs.id whose index snapshot did not decode; guarded by jobsMu

	// minSnapshotEntries overrides the constant of the same name in
	// tests; 0 means the constant.
	minSnapshotEntries int

	closeOnce sync.Once
	closeErr  error
}

// maxOpenConns bounds the connection pool. Each connection has its own
// page cache, and readers only need a few at a time.
const maxOpenConns = 4

// Open opens the state file at path, creating it and its parent directory
// if they are missing.
//
// Unless opts.ReadOnly is set, Open first takes the process lock on
// "<path>.lock" and returns *LockedError if another process holds it. It
// then checks that the file is an atlas-sync SQLite database, applies
// pending schema migrations, and marks runs that a crashed process left
// "running" as "interrupted". Open never recreates or overwrites an
// existing file: a file it cannot use gives an error wrapping
// ErrNotSQLite, ErrCorrupt, ErrNotStateFile or ErrNewerSchema.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open state file: path is empty; set state.path")
	}
	logger := opts.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	logger = logger.With(zap.String("state_path", path))

	if opts.ReadOnly {
		return openReadOnly(ctx, path, logger)
	}
	return openReadWrite(ctx, path, logger)
}

func openReadWrite(ctx context.Context, path string, logger *zap.Logger) (*Store, error) {
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	lock, err := acquireLock(path)
	if err != nil {
		return nil, err
	}

	s, err := openLocked(ctx, path, logger, lock)
	if err != nil {
		if releaseErr := lock.release(); releaseErr != nil {
			logger.Warn("release state file lock after failed open", zap.Error(releaseErr))
		}
		return nil, err
	}
	logger.Debug("opened state file")
	return s, nil
}

// openLocked does the part of a read-write Open that needs the lock.
func openLocked(ctx context.Context, path string, logger *zap.Logger, lock *fileLock) (*Store, error) {
	if err := createFile(path, logger); err != nil {
		return nil, err
	}
	if err := checkFileHeader(path); err != nil {
		return nil, err
	}
	// The probe runs on a query-only connection that sets no journal
	// mode, so that a foreign SQLite file is rejected unchanged.
	if _, err := probe(ctx, path); err != nil {
		return nil, err
	}

	db, err := sql.Open("sqlite3", dataSourceName(path, false))
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxOpenConns)

	s := &Store{path: path, db: db, lock: lock, logger: logger, jobIDs: make(map[string]int64)}
	if err := s.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// prepare checks the journal mode, migrates the schema and recovers runs
// of a crashed process.
func (s *Store) prepare(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return classifyOpenError(s.path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("open state file %s: journal mode is %q instead of wal; "+
			"the file system may lack the shared memory WAL needs, so put state.path on a local disk", s.path, mode)
	}

	if err := migrate(ctx, s.db, s.path, s.logger); err != nil {
		return err
	}
	return s.markInterrupted(ctx)
}

func openReadOnly(ctx context.Context, path string, logger *zap.Logger) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("state file %s does not exist; check state.path or run a sync first: %w", path, err)
		}
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	if err := checkFileHeader(path); err != nil {
		return nil, err
	}

	db, err := sql.Open("sqlite3", dataSourceName(path, true))
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxOpenConns)

	version, err := inspect(ctx, db, path)
	if err == nil && version < latestVersion() {
		err = fmt.Errorf("state file %s: %w: it has version %d and this atlas-sync expects %d; "+
			"run a sync once to migrate it, then repeat this command", path, ErrOlderSchema, version, latestVersion())
	}
	if err != nil {
		db.Close()
		return nil, err
	}

	return &Store{path: path, db: db, readOnly: true, logger: logger, jobIDs: make(map[string]int64)}, nil
}

// Close closes the database and releases the lock. It is safe to call more
// than once; later calls return the first call's error.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if err := s.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close state file %s: %w", s.path, err))
		}
		if s.lock != nil {
			if err := s.lock.release(); err != nil {
				errs = append(errs, err)
			}
		}
		s.closeErr = errors.Join(errs...)
		s.logger.Debug("closed state file")
	})
	return s.closeErr
}

// Path returns the state file's path as passed to Open.
func (s *Store) Path() string {
	return s.path
}

// ensureDir creates dir with mode 0700 if it is missing. An existing
// directory keeps its mode.
func ensureDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("stat state directory %s: %w", dir, err)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state directory %s: %w", dir, err)
	}
	// MkdirAll applies the umask; the state directory gets 0700 whatever
	// the umask is.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("set mode of state directory %s: %w", dir, err)
	}
	return nil
}

// createFile creates the state file empty with mode 0600 before SQLite
// opens it. SQLite creates the -wal and -shm files with the mode of the
// database file, so they end up 0600 as well. An existing file is left
// as it is, but a mode wider than 0600 is logged because the file lists
// every account ID.
func createFile(path string, logger *zap.Logger) error {
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		if info, statErr := os.Stat(path); statErr == nil && info.Mode().Perm()&0o077 != 0 {
			logger.Warn("state file is readable by other users; consider chmod 600",
				zap.String("mode", info.Mode().Perm().String()))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("create state file %s: %w", path, err)
	}
	defer file.Close()

	if err := file.Chmod(0o600); err != nil {
		return fmt.Errorf("set mode of state file %s: %w", path, err)
	}
	return nil
}

// dataSourceName builds a go-sqlite3 DSN. Every connection gets:
//   - busy_timeout 5000 ms, so a reader in another process (status) does
//     not fail a write at once;
//   - WAL, so that readers never block the writer and the writer never
//     blocks readers;
//   - synchronous=NORMAL, which in WAL mode syncs the WAL only at
//     checkpoints. A commit is atomic and the database stays consistent
//     after any crash; only the last commits before a power loss or OS
//     crash can roll back. Those rows are then sent again, and an upsert
//     of the same payload is harmless;
//   - foreign keys on;
//   - BEGIN IMMEDIATE for transactions, so a write transaction takes the
//     write lock at its start and never fails half way on lock upgrade.
//
// A read-only DSN uses mode=ro and sets no journal mode.
func dataSourceName(path string, readOnly bool) string {
	name := "file:" + escapeURIPath(path)
	if readOnly {
		return name + "?mode=ro&_busy_timeout=5000&_foreign_keys=1"
	}
	return name + "?_busy_timeout=5000&_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=1&_txlock=immediate"
}

// probeDataSourceName is a query-only connection that leaves the journal
// mode alone; a probe must not change a file it may reject.
func probeDataSourceName(path string) string {
	return "file:" + escapeURIPath(path) + "?_busy_timeout=5000&_query_only=1"
}

// escapeURIPath escapes the characters that end or escape the path part of
// a SQLite URI filename.
func escapeURIPath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// probe inspects the file on a separate query-only connection and returns
// its schema version.
func probe(ctx context.Context, path string) (int, error) {
	db, err := sql.Open("sqlite3", probeDataSourceName(path))
	if err != nil {
		return 0, fmt.Errorf("open state file %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return inspect(ctx, db, path)
}

// classifyOpenError maps SQLite's "not a database" and "corrupt" results
// to this package's sentinels and adds the path to other errors.
func classifyOpenError(path string, err error) error {
	var sqliteErr sqlite3.Error
	if !errors.As(err, &sqliteErr) {
		return fmt.Errorf("open state file %s: %w", path, err)
	}
	switch sqliteErr.Code {
	case sqlite3.ErrNotADB:
		return fmt.Errorf("state file %s: %w (%v); set state.path to an atlas-sync state file, "+
			"or move this file away to start a new one", path, ErrNotSQLite, err)
	case sqlite3.ErrCorrupt:
		return corruptError(path, err.Error())
	}
	return fmt.Errorf("open state file %s: %w", path, err)
}
