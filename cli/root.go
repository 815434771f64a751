// Package cli implements atlas-sync's command line: it parses flags, loads
// the configuration, wires the store, the Atlas client, the sources and the
// engine together, and turns outcomes into exit statuses. main.go only
// calls Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/spf13/cobra"
)

// Build identifies the binary; the Makefile stamps it at link time.
type Build struct {
	Version string
	Commit  string
	Date    string
}

// exitError carries an exit status out of a command. Its message, if any,
// has already been printed or logged.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError marks an invalid command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }

// app holds what every command shares.
type app struct {
	stdout io.Writer
	stderr io.Writer
	build  Build
	env    func(string) (string, bool)

	configPath string
}

// Main runs the command line args (without the program name) and returns
// the exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, build Build) int {
	a := &app{stdout: stdout, stderr: stderr, build: build, env: os.LookupEnv}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)

	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var exit *exitError
	if errors.As(err, &exit) {
		if exit.err != nil {
			fmt.Fprintf(stderr, "atlas-sync: %v\n", exit.err)
		}
		return exit.code
	}
	fmt.Fprintf(stderr, "atlas-sync: %v\nRun 'atlas-sync --help' for usage.\n", err)
	return ExitUsage
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "atlas-sync",
		Short: "Keep the accounts of a CRM in sync with Atlas",
		Long: `atlas-sync reads accounts from CSV files, PostgreSQL or Salesforce exports,
maps them to Atlas accounts, and sends only new and changed accounts to the
Atlas API, through a rate-limited worker pool and a SQLite checkpoint.

Exit statuses: 0 ok, 1 failed (could not proceed), 2 invalid command line,
3 some rows rejected or unreadable, 4 stopped at a budget or rate limit
(the next run continues), 130 interrupted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{err: err}
	})
	root.PersistentFlags().StringVarP(&a.configPath, "config", "c", "atlas-sync.yaml", "configuration file")

	root.AddCommand(
		a.runCommand(),
		a.checkCommand(),
		a.daemonCommand(),
		a.statusCommand(),
		a.rejectedCommand(),
		a.versionCommand(),
	)
	return root
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(a.stdout, "atlas-sync %s\ncommit: %s\nbuilt: %s\ngo: %s %s/%s\n",
				a.build.Version, a.build.Commit, a.build.Date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
