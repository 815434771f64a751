// Command atlas-emulator serves the in-memory Atlas API emulator of package
// atlas/emulator on a loopback address. It is a development and test tool for
// running atlas-sync without Atlas. It is not Atlas, and it keeps no data
// after it stops except in the optional --dump file.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/atlas-sync/atlas-sync/atlas/emulator"
)

const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2

	shutdownTimeout = 10 * time.Second
)

type settings struct {
	listen        string
	token         string
	readOnlyToken string
	rate          float64
	burst         int
	latency       time.Duration
	fieldsFile    string
	dumpFile      string
	verbose       bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

func run(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "atlas-emulator:", err)
		return exitUsage
	}
	fields, err := loadFieldDefs(cfg.fieldsFile)
	if err != nil {
		fmt.Fprintln(stderr, "atlas-emulator:", err)
		return exitUsage
	}

	logger := newLogger(stderr, cfg.verbose)
	defer func() { _ = logger.Sync() }()

	listener, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		logger.Error("cannot listen", zap.String("address", cfg.listen), zap.Error(err))
		return exitError
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, listener, cfg, fields, logger); err != nil {
		logger.Error("emulator stopped with an error", zap.Error(err))
		return exitError
	}
	return exitOK
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (settings, error) {
	var cfg settings
	fs := flag.NewFlagSet("atlas-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: atlas-emulator [flags]

Serves an in-memory imitation of the Atlas account API (POST
/v1/accounts/upsert, GET /v1/accounts, GET /v1/accounts/{id}, GET /healthz)
for development and tests. It is not Atlas: data lives in memory only and
it listens on loopback addresses only.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:8089", "`address` to listen on; must be loopback (127.0.0.0/8, ::1, localhost)")
	fs.StringVar(&cfg.token, "token", "", "bearer `token` that clients must send (default from ATLAS_EMULATOR_TOKEN, which keeps it out of the process list)")
	fs.StringVar(&cfg.readOnlyToken, "read-only-token", "", "optional bearer `token` that may read but gets 403 on upserts")
	fs.Float64Var(&cfg.rate, "rate", 0, "server-side rate limit in requests per second; 0 disables it")
	fs.IntVar(&cfg.burst, "burst", 0, "burst size of the rate limit in requests; 0 means the rate rounded up")
	fs.DurationVar(&cfg.latency, "latency", 0, "delay added to every response, for example 50ms")
	fs.StringVar(&cfg.fieldsFile, "fields", "", "JSON `file` defining custom fields: {\"key\": {\"type\": \"list\", \"options\": [\"a\"]}}; without it any customFields key is accepted")
	fs.StringVar(&cfg.dumpFile, "dump", "", "`file` to write all accounts to as JSON on SIGINT or SIGTERM")
	fs.BoolVar(&cfg.verbose, "verbose", false, "log every request")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q; see --help", fs.Arg(0))
	}

	if cfg.token == "" {
		cfg.token = getenv("ATLAS_EMULATOR_TOKEN")
	}
	switch {
	case cfg.token == "":
		return cfg, errors.New("missing token: set --token or ATLAS_EMULATOR_TOKEN")
	case cfg.rate < 0:
		return cfg, fmt.Errorf("invalid --rate %g: must be 0 or positive", cfg.rate)
	case cfg.burst < 0:
		return cfg, fmt.Errorf("invalid --burst %d: must be 0 or positive", cfg.burst)
	case cfg.latency < 0:
		return cfg, fmt.Errorf("invalid --latency %s: must be 0 or positive", cfg.latency)
	}
	return cfg, checkListenAddr(cfg.listen)
}

// checkListenAddr rejects addresses that are not loopback, because the
// emulator accepts any data from anyone holding a test token.
func checkListenAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid --listen %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("invalid --listen %q: the emulator is a test tool and listens only on loopback (127.0.0.0/8, ::1, localhost)", addr)
}

func loadFieldDefs(path string) (map[string]emulator.FieldDef, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read --fields file: %w", err)
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	var defs map[string]emulator.FieldDef
	if err := decoder.Decode(&defs); err != nil {
		return nil, fmt.Errorf("parse --fields file %s: %w", path, err)
	}
	if err := emulator.ValidateFieldDefs(defs); err != nil {
		return nil, fmt.Errorf("invalid --fields file %s: %w", path, err)
	}
	return defs, nil
}

func newLogger(w io.Writer, verbose bool) *zap.Logger {
	encoderConfig := zap.NewProductionEncoderConfig()
	encoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	level := zapcore.InfoLevel
	if verbose {
		level = zapcore.DebugLevel
	}
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(encoderConfig), zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core)
}

// serve runs the emulator on listener until ctx is done. Stop order: release held
// requests (so Shutdown need not wait for them), drain the server, then
// write the dump, so the dump contains every applied upsert.
func serve(ctx context.Context, listener net.Listener, cfg settings, fields map[string]emulator.FieldDef, logger *zap.Logger) error {
	emu := emulator.New(emulator.Options{
		Token:         cfg.token,
		ReadOnlyToken: cfg.readOnlyToken,
		RateLimit:     cfg.rate,
		Burst:         cfg.burst,
		Latency:       cfg.latency,
		CustomFields:  fields,
		Logger:        logger,
	})
	server := &http.Server{
		Handler:           emu,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          zap.NewStdLog(logger),
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- server.Serve(listener) }()
	logger.Info("atlas emulator listening (test tool, not Atlas)",
		zap.String("address", listener.Addr().String()),
		zap.Float64("rate_limit", cfg.rate),
		zap.Duration("latency", cfg.latency),
		zap.Int("custom_fields", len(fields)))

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve on %s: %w", listener.Addr(), err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	emu.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		logger.Warn("shutdown did not finish in time; closing connections", zap.Error(err))
		_ = server.Close()
	}

	if cfg.dumpFile != "" {
		accounts := emu.Accounts()
		if err := writeDump(cfg.dumpFile, accounts); err != nil {
			return err
		}
		logger.Info("accounts written", zap.String("file", cfg.dumpFile), zap.Int("accounts", len(accounts)))
	}
	stats := emu.Stats()
	logger.Info("stopped", zap.Int("requests", stats.Requests), zap.Int("rate_limited", stats.RateLimited))
	return nil
}

// writeDump writes the accounts through a temporary file and a rename, so a
// reader never sees half a file.
func writeDump(path string, accounts []emulator.Account) error {
	data, err := json.MarshalIndent(accounts, "", "  ")
	if err != nil {
		return fmt.Errorf("encode accounts for %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write dump %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // Fails harmlessly after the rename.
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write dump %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write dump %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write dump %s: %w", path, err)
	}
	return nil
}
