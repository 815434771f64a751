package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/atlas/emulator"
)

func TestCheckListenAddr(t *testing.T) {
	cases := map[string]bool{
		"127.0.0.1:8089": true,
		"127.0.0.2:0":    true,
		"[::1]:8089":     true,
		"localhost:8089": true,
		":8089":          false,
		"0.0.0.0:8089":   false,
		"[::]:8089":      false,
		"192.0.2.1:8089": false,
		"example.test:1": false,
		"127.0.0.1":      false,
	}
	for addr, wantOK := range cases {
		err := checkListenAddr(addr)
		if (err == nil) != wantOK {
			t.Errorf("checkListenAddr(%q) = %v, want ok=%v", addr, err, wantOK)
		}
	}
}

func TestParseFlags(t *testing.T) {
	env := map[string]string{"ATLAS_EMULATOR_TOKEN": "from-env"}
	getenv := func(key string) string { return env[key] }

	cfg, err := parseFlags([]string{"--rate", "5", "--latency", "20ms"}, getenv, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags: %v", err)
	}
	if cfg.token != "from-env" || cfg.rate != 5 || cfg.listen != "127.0.0.1:8089" || cfg.latency.Milliseconds() != 20 {
		t.Errorf("settings = %+v, want token from env, rate 5, default listen, latency 20ms", cfg)
	}

	cfg, err = parseFlags([]string{"--token", "from-flag"}, getenv, io.Discard)
	if err != nil || cfg.token != "from-flag" {
		t.Errorf("--token: %v, token %q; want from-flag", err, cfg.token)
	}

	rejected := map[string][]string{
		"missing token": {},
		"remote listen": {"--token", "t", "--listen", "0.0.0.0:8089"},
		"negative rate": {"--token", "t", "--rate", "-1"},
		"extra arg":     {"--token", "t", "serve"},
	}
	for name, args := range rejected {
		if _, err := parseFlags(args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%s: parseFlags(%q) succeeded, want an error", name, args)
		}
	}
}

func TestLoadFieldDefs(t *testing.T) {
	defs, err := loadFieldDefs(filepath.Join("..", "..", "testdata", "emulator", "fields.json"))
	if err != nil {
		t.Fatalf("load fixture: %v", err)
	}
	if defs["tier"].Type != "list" || len(defs["tier"].Options) != 3 {
		t.Errorf("tier = %+v, want a list with 3 options", defs["tier"])
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"x":{"type":"colour"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadFieldDefs(bad); err == nil || !strings.Contains(err.Error(), `unknown type "colour"`) {
		t.Errorf("unknown type: error = %v, want it named", err)
	}
	unknownKey := filepath.Join(dir, "unknown.json")
	if err := os.WriteFile(unknownKey, []byte(`{"x":{"type":"text","required":true}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadFieldDefs(unknownKey); err == nil {
		t.Error("unknown definition key accepted, want an error")
	}
}

func TestServeWritesDumpOnShutdown(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	dump := filepath.Join(t.TempDir(), "accounts.json")
	cfg := settings{token: "demo-token", dumpFile: dump}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, listener, cfg, nil, zap.NewNop()) }()

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, "http://"+listener.Addr().String()+"/v1/accounts/upsert",
		bytes.NewReader([]byte(`{"externalId":"d1","name":"Dumped"}`)))
	req.Header.Set("Authorization", "Bearer demo-token")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("upsert: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upsert status = %d, want 200", resp.StatusCode)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	data, err := os.ReadFile(dump)
	if err != nil {
		t.Fatalf("read dump: %v", err)
	}
	var accounts []emulator.Account
	if err := json.Unmarshal(data, &accounts); err != nil {
		t.Fatalf("parse dump: %v", err)
	}
	if len(accounts) != 1 || accounts[0].ExternalID != "d1" || accounts[0].Name != "Dumped" {
		t.Errorf("dump = %s, want account d1 named Dumped", data)
	}
}
