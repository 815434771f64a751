package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listenNotify creates the datagram socket a service manager would own.
func listenNotify(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("read notify socket: %v", err)
	}
	return string(buf[:n])
}

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestNotifierSendsToPathSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn := listenNotify(t, path)

	n, err := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": path}))
	if err != nil {
		t.Fatal(err)
	}
	if !n.Enabled() {
		t.Fatal("Enabled() = false with NOTIFY_SOCKET set")
	}
	if err := n.Notify("READY=1\nSTATUS=scheduling crm"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, conn); got != "READY=1\nSTATUS=scheduling crm" {
		t.Errorf("received %q", got)
	}
}

func TestNotifierSendsToAbstractSocket(t *testing.T) {
	name := fmt.Sprintf("@atlas-sync-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	conn := listenNotify(t, name)

	n, err := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": name}))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify("STOPPING=1"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, conn); got != "STOPPING=1" {
		t.Errorf("received %q", got)
	}
}

func TestNotifierWithoutSocketDoesNothing(t *testing.T) {
	n, err := NewNotifier(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if n.Enabled() {
		t.Error("Enabled() = true without NOTIFY_SOCKET")
	}
	if err := n.Notify("READY=1"); err != nil {
		t.Errorf("Notify without a socket = %v, want nil", err)
	}
}

func TestNotifierRejectsRelativeSocket(t *testing.T) {
	if _, err := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": "vsock:2:1234"})); err == nil {
		t.Fatal("NewNotifier(vsock address) = nil error")
	}
}

func TestReloadingCarriesMonotonicTime(t *testing.T) {
	msg := Reloading()
	lines := strings.Split(msg, "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("Reloading() = %q", msg)
	}
	usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
	if err != nil || usec <= 0 {
		t.Errorf("MONOTONIC_USEC = %q, want a positive integer", lines[1])
	}
}

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	tests := []struct {
		name    string
		vars    map[string]string
		want    time.Duration
		wantErr bool
	}{
		{"unset", nil, 0, false},
		{"half of usec", map[string]string{"WATCHDOG_USEC": "30000000"}, 15 * time.Second, false},
		{"this pid", map[string]string{"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": self}, time.Second, false},
		{"other pid", map[string]string{"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, 0, false},
		{"not a number", map[string]string{"WATCHDOG_USEC": "soon"}, 0, true},
		{"zero", map[string]string{"WATCHDOG_USEC": "0"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WatchdogInterval(env(tt.vars))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("interval = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestWatchdogSendsKeepAlives(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn := listenNotify(t, path)
	n, err := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": path}))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Watchdog(ctx, 10*time.Millisecond, func(err error) { t.Errorf("watchdog: %v", err) })
	}()
	for range 3 {
		if got := receive(t, conn); got != "WATCHDOG=1" {
			t.Errorf("received %q, want WATCHDOG=1", got)
		}
	}
	cancel()
	<-done
}
