package main

import (
	"bufio"
	"context"
	stdcsv "encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/atlas"
	"github.com/atlas-sync/atlas-sync/state"
	atlassync "github.com/atlas-sync/atlas-sync/sync"
)

// childResult is the JSON document that a measurement subprocess prints on stdout.
// The parent adds PeakRSS from the subprocess' rusage.
type childResult struct {
	Seconds   float64 `json:"seconds"`
	Rows      int64   `json:"rows"`
	Unchanged int64   `json:"unchanged"`
	Requests  int64   `json:"requests"`
	PeakRSS   int64   `json:"-"` // bytes
	CPU       float64 `json:"-"` // user and system CPU seconds of the whole subprocess
}

// childCommand is the hidden first argument that makes the binary run one
// measurement instead of the scenarios.
const childCommand = "child"

// runChild measures one step in this process so that its peak RSS is the
// step's own: the parent runs it with os.Args[0] child <name> <args>.
func runChild(args []string) error {
	if len(args) < 2 {
		return errors.New("child: missing measurement name and arguments")
	}
	ctx := context.Background()
	if path := os.Getenv("ATLAS_BENCH_CPUPROFILE"); path != "" {
		stop, err := startCPUProfile(path + "." + args[0])
		if err != nil {
			return err
		}
		defer stop()
	}
	var (
		res childResult
		err error
	)
	switch args[0] {
	case "csv-baseline":
		res, err = measureCSVBaseline(args[1])
	case "diff-pass":
		if len(args) != 3 {
			return errors.New("child diff-pass: want a CSV path and a state path")
		}
		res, err = measureDiffPass(ctx, args[1], args[2])
	case "open-index":
		res, err = measureOpenIndex(ctx, args[1])
	default:
		return fmt.Errorf("child: unknown measurement %q", args[0])
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// startCPUProfile writes a CPU profile of the measurement to path, for
// go tool pprof.
func startCPUProfile(path string) (stop func(), err error) {
	file, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(file); err != nil {
		file.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		file.Close()
	}, nil
}

// measureCSVBaseline parses the file with encoding/csv alone, reusing the
// record slice: the floor that no CSV pipeline can beat.
func measureCSVBaseline(path string) (childResult, error) {
	started := time.Now()
	file, err := os.Open(path)
	if err != nil {
		return childResult{}, err
	}
	defer file.Close()
	reader := stdcsv.NewReader(bufio.NewReaderSize(file, 64<<10))
	reader.ReuseRecord = true
	var rows int64
	for {
		_, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return childResult{}, fmt.Errorf("parse %s: %w", path, err)
		}
		rows++
	}
	return childResult{Seconds: time.Since(started).Seconds(), Rows: rows - 1}, nil
}

// countingUpserter acknowledges every request and counts them. The diff
// pass over an up-to-date checkpoint must send none.
type countingUpserter struct{ calls int64 }

func (u *countingUpserter) Upsert(context.Context, []byte) (atlas.UpsertResult, error) {
	u.calls++ // one worker in the diff pass, so no data race
	return atlas.UpsertResult{Status: 200}, nil
}

// measureDiffPass times one incremental run of the engine over the file
// against the state file, from loading the checkpoint index to the end.
func measureDiffPass(ctx context.Context, csvPath, statePath string) (childResult, error) {
	store, err := state.Open(ctx, statePath, state.Options{})
	if err != nil {
		return childResult{}, err
	}
	defer store.Close()

	upserter := &countingUpserter{}
	settings := atlassync.Settings{
		Workers:       1,
		BatchSize:     200,
		FlushInterval: 250 * time.Millisecond,
		ShutdownGrace: time.Second,
	}
	engine := atlassync.NewEngine(store, upserter, atlas.NewThrottle(0, 1), settings, zap.NewNop(), nil)

	started := time.Now()
	res := engine.Run(ctx, csvJob(csvPath), atlassync.RunOptions{})
	seconds := time.Since(started).Seconds()
	if res.Err != nil {
		return childResult{}, fmt.Errorf("diff pass: %s: %w", res.Outcome, res.Err)
	}
	return childResult{
		Seconds:   seconds,
		Rows:      res.Counts.Read,
		Unchanged: res.Counts.Unchanged,
		Requests:  upserter.calls,
	}, nil
}

// measureOpenIndex times what a run does before reading: open the state
// file (lock, migrations check, recovery) and load the job's index.
func measureOpenIndex(ctx context.Context, statePath string) (childResult, error) {
	started := time.Now()
	store, err := state.Open(ctx, statePath, state.Options{})
	if err != nil {
		return childResult{}, err
	}
	defer store.Close()
	index, err := store.LoadIndex(ctx, jobName)
	if err != nil {
		return childResult{}, err
	}
	return childResult{Seconds: time.Since(started).Seconds(), Rows: int64(index.Len())}, nil
}

// measureInChild runs one measurement in a subprocess and returns its
// result with the subprocess' peak resident set size.
func measureInChild(ctx context.Context, args ...string) (childResult, error) {
	self, err := os.Executable()
	if err != nil {
		return childResult{}, err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{childCommand}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return childResult{}, fmt.Errorf("measure %s: %w", args[0], err)
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		return childResult{}, fmt.Errorf("measure %s: decode %q: %w", args[0], out, err)
	}
	if usage, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.PeakRSS = usage.Maxrss * 1024 // Linux reports kilobytes
		res.CPU = time.Duration(usage.Utime.Nano() + usage.Stime.Nano()).Seconds()
	}
	return res, nil
}
