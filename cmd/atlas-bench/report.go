package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// machine describes the host the figures were measured on.
type machine struct {
	CPU    string
	Cores  int
	Memory string
	Go     string
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), CPU: "unknown", Memory: "unknown"}
	if v, ok := procField("/proc/cpuinfo", "model name"); ok {
		m.CPU = v
	}
	if v, ok := procField("/proc/meminfo", "MemTotal"); ok {
		m.Memory = v
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc
// file.
func procField(path, key string) (string, bool) {
	file, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		name, value, found := strings.Cut(scanner.Text(), ":")
		if found && strings.TrimSpace(name) == key {
			return strings.TrimSpace(value), true
		}
	}
	return "", false
}

// report collects the figures of the scenarios that ran.
type report struct {
	machine  machine
	diff     *diffFigures
	rate     []rateFigures
	backfill *backfillFigures
}

func (r *report) write(out io.Writer) {
	m := r.machine
	fmt.Fprintf(out, "\n## Results\n\nMachine: %s, %d cores (runtime.NumCPU), %s memory, %s\n", m.CPU, m.Cores, m.Memory, m.Go)

	if d := r.diff; d != nil {
		ratio := d.PipelineSec / d.BaselineSec
		fmt.Fprintf(out, "\n### Diff pass, %d rows, %s of CSV, checkpoint up to date\n\n", d.Rows, mib(d.CSVBytes))
		fmt.Fprintf(out, "| measurement | figure | target |\n|---|---|---|\n")
		fmt.Fprintf(out, "| encoding/csv alone (best of %d) | %.2f s (%.2f CPU-s), %.0f rows/s, peak RSS %s | |\n",
			len(d.AllSamplesCSV), d.BaselineSec, d.BaselineCPU, float64(d.Rows)/d.BaselineSec, mib(d.BaselineRSS))
		fmt.Fprintf(out, "| engine run: read, map, hash, diff (best of %d) | %.2f s (%.2f CPU-s), %.0f rows/s | |\n",
			len(d.AllSamplesRun), d.PipelineSec, d.PipelineCPU, float64(d.Rows)/d.PipelineSec)
		fmt.Fprintf(out, "| ratio engine / encoding/csv | %.2f | %s |\n", ratio, verdict(ratio <= 3, "≤ 3"))
		fmt.Fprintf(out, "| engine peak RSS | %s | %s |\n", mib(d.PipelineRSS), verdict(d.PipelineRSS < 256<<20, "< 256 MB"))
		fmt.Fprintf(out, "| checkpoint growth | %.1f B/account | %s |\n",
			float64(d.CheckpointB)/float64(d.Rows), verdict(float64(d.CheckpointB)/float64(d.Rows) <= 150, "≤ ~150 B"))
		fmt.Fprintf(out, "| recording %d acks in batches of 200 | %.1f s | |\n", d.Rows, d.FillSec)
		fmt.Fprintf(out, "| open + LoadIndex of %d accounts (best of %d) | %.3f s, peak RSS %s | %s |\n",
			d.IndexEntries, len(d.AllSamplesRun), d.OpenIndexSec, mib(d.OpenIndexRSS), verdict(d.OpenIndexSec < 1, "< 1 s"))
		fmt.Fprintf(out, "\nAll runs (s): encoding/csv %s; engine %s\n", formatSamples(d.AllSamplesCSV), formatSamples(d.AllSamplesRun))
	}

	for _, f := range r.rate {
		fmt.Fprintf(out, "\n### Rate: configured %.0f/s, server limit %.0f/s (burst %d), client burst %d, %d workers, latency %s\n\n",
			f.Configured, f.ServerLimit, f.ServerBurst, f.ClientBurst, f.Workers, f.Latency)
		fmt.Fprintf(out, "| measurement | figure |\n|---|---|\n")
		fmt.Fprintf(out, "| outcome | %s, %s |\n", f.Outcome, f.Duration.Round(1e6))
		fmt.Fprintf(out, "| requests | %d, of which 429: %d (%.2f%%) |\n", f.Requests, f.RateLimited, 100*float64(f.RateLimited)/float64(max(f.Requests, 1)))
		fmt.Fprintf(out, "| accepted upserts | %d, %.2f/s (%.1f%% of configured, %.1f%% of server limit) |\n",
			f.Accepted, f.AcceptedRate, 100*f.AcceptedRate/f.Configured, 100*f.AcceptedRate/f.ServerLimit)
		fmt.Fprintf(out, "| rows delivered | %d of %d |\n", f.Delivered, f.Rows)
		fmt.Fprintf(out, "| throttle rate in the second half | mean %.1f/s, max %.1f/s |\n", f.SecondHalfMeanLimit, f.SecondHalfMaxLimit)
		fmt.Fprintf(out, "| accepted rate in the second half | %.2f/s |\n", f.SecondHalfRate)
	}

	if b := r.backfill; b != nil {
		fmt.Fprintf(out, "\n### Backfill of %d accounts, interrupted twice\n\n", b.Rows)
		fmt.Fprintf(out, "| run | outcome | sent | already sent (skipped) | duration |\n|---|---|---|---|---|\n")
		for i, run := range b.Runs {
			fmt.Fprintf(out, "| %d | %s | %d | %d | %s |\n", i+1, run.Outcome, run.Sent, run.AlreadySent, run.Duration.Round(1e6))
		}
		fmt.Fprintf(out, "\nAccounts in the emulator: %d; accepted upserts: %d; upserts beyond one per account: %d (bound: %d workers × %d interruptions = %d); checkpoint rows: %d\n",
			b.Accounts, b.Upserts, b.Extra, b.Workers, b.Interruptions, b.Workers*b.Interruptions, b.CheckpointRows)
	}
}

func verdict(met bool, target string) string {
	if met {
		return target + ": met"
	}
	return target + ": NOT met"
}

func formatSamples(samples []float64) string {
	parts := make([]string, len(samples))
	for i, s := range samples {
		parts[i] = fmt.Sprintf("%.2f", s)
	}
	return strings.Join(parts, ", ")
}
