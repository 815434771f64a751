// Command atlas-bench measures atlas-sync end to end: the read, map and
// diff pass over a large CSV file against bare encoding/csv parsing, peak
// memory, checkpoint size and open time, the request rate the worker pool
// keeps against the emulator, and an interrupted backfill. It writes its
// inputs to a temporary directory and prints the figures that
// docs/benchmarks.md records. It is a development tool, not part of
// atlas-sync.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == childCommand {
		if err := runChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "atlas-bench:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "atlas-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	scenarios    []string
	rows         int
	repeats      int
	rate         float64
	rateDuration time.Duration
	latency      time.Duration
	backfillRows int
	dir          string
	keep         bool
}

func parseFlags(args []string) (options, error) {
	var opts options
	var scenarios string
	fs := flag.NewFlagSet("atlas-bench", flag.ContinueOnError)
	fs.StringVar(&scenarios, "scenarios", "diff", "comma-separated scenarios: diff, rate, backfill, or all")
	fs.IntVar(&opts.rows, "rows", 1_000_000, "rows of the diff scenario's CSV file")
	fs.IntVar(&opts.repeats, "repeats", 3, "runs of each diff measurement; the best time is reported")
	fs.Float64Var(&opts.rate, "rate", 50, "configured rate of the rate scenario, in requests per second")
	fs.DurationVar(&opts.rateDuration, "rate-duration", time.Minute, "length of each rate run")
	fs.DurationVar(&opts.latency, "latency", 50*time.Millisecond, "emulator latency of the rate scenario")
	fs.IntVar(&opts.backfillRows, "backfill-rows", 1_000_000, "accounts of the interrupted backfill scenario")
	fs.StringVar(&opts.dir, "dir", "", "directory for generated inputs; default a new temporary directory")
	fs.BoolVar(&opts.keep, "keep", false, "keep the generated inputs")
	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(scenarios, ",") {
		switch s = strings.TrimSpace(s); s {
		case "all":
			opts.scenarios = append(opts.scenarios, "diff", "rate", "backfill")
		case "diff", "rate", "backfill":
			opts.scenarios = append(opts.scenarios, s)
		default:
			return opts, fmt.Errorf("invalid scenario %q; use diff, rate, backfill or all", s)
		}
	}
	if opts.rows < 1 || opts.repeats < 1 || opts.backfillRows < 1 || opts.rate <= 0 {
		return opts, errors.New("-rows, -repeats, -backfill-rows and -rate must be positive")
	}
	return opts, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	opts, err := parseFlags(args)
	if err != nil {
		return err
	}

	dir := opts.dir
	if dir == "" {
		dir, err = os.MkdirTemp("", "atlas-bench-")
		if err != nil {
			return err
		}
		if !opts.keep {
			defer os.RemoveAll(dir)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	report := &report{machine: describeMachine()}
	for _, scenario := range opts.scenarios {
		switch scenario {
		case "diff":
			figures, err := runDiffScenario(ctx, dir, opts.rows, opts.repeats, out)
			if err != nil {
				return fmt.Errorf("diff scenario: %w", err)
			}
			report.diff = &figures
		case "rate":
			figures, err := runRateScenario(ctx, opts, out)
			if err != nil {
				return fmt.Errorf("rate scenario: %w", err)
			}
			report.rate = figures
		case "backfill":
			figures, err := runBackfillScenario(ctx, dir, opts.backfillRows, out)
			if err != nil {
				return fmt.Errorf("backfill scenario: %w", err)
			}
			report.backfill = &figures
		}
	}
	report.write(out)
	return nil
}
