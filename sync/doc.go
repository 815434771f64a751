// Package sync runs one job once: it reads a source, maps each record to an
// Atlas account, diffs it against the checkpoint, sends new and changed
// accounts through a rate-limited worker pool and records what Atlas
// acknowledged. It owns the pool and the single goroutine that writes the
// checkpoint; it knows no file format, database or HTTP detail.
//
// The package is named sync after its directory, which shadows the standard
// library's sync. Importers name it atlassync:
//
//	import atlassync "github.com/atlas-sync/atlas-sync/sync"
//
// and files in this package import the standard library as stdsync. One
// alias everywhere keeps grep and reviews simple.
package sync
