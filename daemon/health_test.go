package daemon

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestHealthEndpoints(t *testing.T) {
	health := &Health{}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "atlas_sync_test 1\n")
	})
	server, err := Listen("127.0.0.1:0", Handler(health, metrics), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := server.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	base := "http://" + server.Addr().String()

	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
		t.Errorf("/readyz before start = %d %q, want 503 naming starting", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}

	health.SetReady()
	if code, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz when ready = %d, want 200", code)
	}
	if code, body := get(t, base+"/metrics"); code != http.StatusOK || body != "atlas_sync_test 1\n" {
		t.Errorf("/metrics = %d %q", code, body)
	}

	health.SetNotReady("shutting down")
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz when stopping = %d %q, want 503 naming the reason", code, body)
	}
	if code, _ := get(t, base+"/nothing"); code != http.StatusNotFound {
		t.Errorf("/nothing = %d, want 404", code)
	}
}

func TestListenReportsAddressInUse(t *testing.T) {
	first, err := Listen("127.0.0.1:0", http.NotFoundHandler(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Shutdown(context.Background())

	_, err = Listen(first.Addr().String(), http.NotFoundHandler(), zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "daemon.listen") {
		t.Fatalf("second Listen error = %v, want one naming daemon.listen", err)
	}
}
