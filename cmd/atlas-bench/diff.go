package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/atlas-sync/atlas-sync/state"
)

// diffFigures are the results of the diff scenario.
type diffFigures struct {
	Rows          int
	CSVBytes      int64
	BaselineSec   float64 // best of the encoding/csv runs
	BaselineRSS   int64
	PipelineSec   float64 // best of the engine runs
	PipelineRSS   int64   // highest of the engine runs
	CheckpointB   int64   // state file growth
	FillSec       float64 // time to record every row, in batches of 200
	OpenIndexSec  float64 // best of the open + LoadIndex runs
	OpenIndexRSS  int64
	IndexEntries  int64
	AllSamplesCSV []float64
	AllSamplesRun []float64
	BaselineCPU   float64 // CPU seconds of the fastest encoding/csv run
	PipelineCPU   float64 // CPU seconds of the fastest engine run
}

// runDiffScenario writes a CSV file of rows accounts and a checkpoint in
// which all of them are up to date, then alternates bare encoding/csv
// parsing with engine runs, each in a fresh subprocess, repeats times.
func runDiffScenario(ctx context.Context, dir string, rows, repeats int, out io.Writer) (diffFigures, error) {
	figures := diffFigures{Rows: rows}
	csvPath := filepath.Join(dir, "accounts.csv")
	statePath := filepath.Join(dir, "diff.db")

	fmt.Fprintf(out, "diff: writing %d rows to %s\n", rows, csvPath)
	size, err := writeCSV(csvPath, rows)
	if err != nil {
		return figures, err
	}
	figures.CSVBytes = size

	growth, fillSec, err := buildCheckpoint(ctx, statePath, csvPath)
	if err != nil {
		return figures, err
	}
	figures.CheckpointB, figures.FillSec = growth, fillSec
	fmt.Fprintf(out, "diff: checkpoint of %d accounts grew the state file by %d bytes (%.1f B/account) in %.1fs\n",
		rows, growth, float64(growth)/float64(rows), fillSec)

	for i := 0; i < repeats; i++ {
		baseline, err := measureInChild(ctx, "csv-baseline", csvPath)
		if err != nil {
			return figures, err
		}
		pass, err := measureInChild(ctx, "diff-pass", csvPath, statePath)
		if err != nil {
			return figures, err
		}
		if pass.Requests != 0 || pass.Unchanged != int64(rows) {
			return figures, fmt.Errorf("diff pass sent %d requests and found %d of %d rows unchanged; want 0 and all",
				pass.Requests, pass.Unchanged, rows)
		}
		fmt.Fprintf(out, "diff: run %d: encoding/csv %.2fs (%.2f CPU-s, peak RSS %s), engine %.2fs (%.2f CPU-s, peak RSS %s), ratio %.2f\n",
			i+1, baseline.Seconds, baseline.CPU, mib(baseline.PeakRSS), pass.Seconds, pass.CPU, mib(pass.PeakRSS), pass.Seconds/baseline.Seconds)
		if len(figures.AllSamplesCSV) == 0 || baseline.Seconds < slices.Min(figures.AllSamplesCSV) {
			figures.BaselineCPU = baseline.CPU
		}
		if len(figures.AllSamplesRun) == 0 || pass.Seconds < slices.Min(figures.AllSamplesRun) {
			figures.PipelineCPU = pass.CPU
		}
		figures.AllSamplesCSV = append(figures.AllSamplesCSV, baseline.Seconds)
		figures.AllSamplesRun = append(figures.AllSamplesRun, pass.Seconds)
		figures.BaselineRSS = max(figures.BaselineRSS, baseline.PeakRSS)
		figures.PipelineRSS = max(figures.PipelineRSS, pass.PeakRSS)
	}
	figures.BaselineSec = slices.Min(figures.AllSamplesCSV)
	figures.PipelineSec = slices.Min(figures.AllSamplesRun)

	var openSamples []float64
	for i := 0; i < repeats; i++ {
		res, err := measureInChild(ctx, "open-index", statePath)
		if err != nil {
			return figures, err
		}
		openSamples = append(openSamples, res.Seconds)
		figures.OpenIndexRSS = max(figures.OpenIndexRSS, res.PeakRSS)
		figures.IndexEntries = res.Rows
	}
	figures.OpenIndexSec = slices.Min(openSamples)
	return figures, nil
}

// buildCheckpoint creates the state file, records every row of the CSV
// file and returns how much the file grew and how long recording took.
func buildCheckpoint(ctx context.Context, statePath, csvPath string) (int64, float64, error) {
	store, err := state.Open(ctx, statePath, state.Options{})
	if err != nil {
		return 0, 0, err
	}
	// A job row and the schema exist before the first account.
	if err := store.SetCursor(ctx, jobName, ""); err != nil {
		store.Close()
		return 0, 0, err
	}
	if err := store.Close(); err != nil {
		return 0, 0, err
	}
	before, err := fileSize(statePath)
	if err != nil {
		return 0, 0, err
	}

	store, err = state.Open(ctx, statePath, state.Options{})
	if err != nil {
		return 0, 0, err
	}
	started := time.Now()
	if err := fillCheckpoint(ctx, store, csvPath, 200); err != nil {
		store.Close()
		return 0, 0, err
	}
	fillSec := time.Since(started).Seconds()
	// Close checkpoints the WAL into the main file.
	if err := store.Close(); err != nil {
		return 0, 0, err
	}
	after, err := fileSize(statePath)
	if err != nil {
		return 0, 0, err
	}
	return after - before, fillSec, nil
}

func fileSize(path string) (int64, error) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

// mib formats bytes as mebibytes.
func mib(bytes int64) string {
	return fmt.Sprintf("%.0f MiB", float64(bytes)/(1<<20))
}
