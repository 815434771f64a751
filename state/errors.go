package state

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by Open, wrapped with the state file's path and
// advice. Match them with errors.Is.
var (
	// ErrNotSQLite means the file exists but is not a SQLite database.
	// Open never overwrites such a file: the caller should point
	// state.path elsewhere or move the file away.
	ErrNotSQLite = errors.New("not a SQLite database")

	// ErrCorrupt means the file has a SQLite header but is truncated or
	// damaged. Restore it from a backup, or move it away so that the next
	// run starts a new state file (and resends every account once).
	ErrCorrupt = errors.New("SQLite database is truncated or damaged")

	// ErrNotStateFile means the file is a valid SQLite database that some
	// other application created.
	ErrNotStateFile = errors.New("SQLite database does not belong to atlas-sync")

	// ErrNewerSchema means a newer atlas-sync migrated the file past the
	// schema versions this binary supports. Upgrade atlas-sync.
	ErrNewerSchema = errors.New("schema version is newer than this atlas-sync supports")

	// ErrOlderSchema is returned only in read-only mode, which never
	// migrates: the file needs one read-write open (any sync run) first.
	ErrOlderSchema = errors.New("schema version is older than this atlas-sync expects")

	// ErrReadOnly is returned by write methods of a Store opened with
	// Options.ReadOnly.
	ErrReadOnly = errors.New("state file is open read-only")
)

// LockedError is returned by Open when another process holds the lock on
// the state file.
type LockedError struct {
	// Path is the state file, as passed to Open.
	Path string

	// PID is the process that holds the lock, read from the lock file.
	// It is 0 when the lock file does not contain a PID yet, which happens
	// for a moment after the holder took the lock.
	PID int
}

func (e *LockedError) Error() string {
	if e.PID <= 0 {
		return fmt.Sprintf("state file %s is in use by another process; stop that process or use another state.path", e.Path)
	}
	return fmt.Sprintf("state file %s is in use by process %d; stop that process or use another state.path", e.Path, e.PID)
}
