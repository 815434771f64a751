// Command atlas-sync keeps the accounts of a CRM in sync with Atlas.
package main

import (
	"context"
	"os"

	"github.com/atlas-sync/atlas-sync/cli"
)

// Set at link time by the Makefile through -ldflags -X.
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

func main() {
	build := cli.Build{Version: version, Commit: commit, Date: date}
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr, build))
}
