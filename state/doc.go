// Package state owns atlas-sync's SQLite state file: schema migrations, the
// checkpoint of acknowledged payload hashes, rejected rows, per-job cursors
// and counters, run history, and the lock that allows one process per file.
// HTTP, the Atlas API and source formats are outside its scope.
//
// The process lock uses flock(2), so the package builds on Unix systems only.
package state
