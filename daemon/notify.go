package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Notifier sends sd_notify(3) messages to the service manager over the
// datagram socket named by NOTIFY_SOCKET. A Notifier without a socket (the
// process was not started by systemd with Type=notify) does nothing.
type Notifier struct {
	addr *net.UnixAddr // nil when NOTIFY_SOCKET is unset
}

// NewNotifier reads NOTIFY_SOCKET through getenv (os.Getenv fits). A name
// starting with '@' is a Linux abstract socket.
func NewNotifier(getenv func(string) string) (*Notifier, error) {
	name := getenv("NOTIFY_SOCKET")
	if name == "" {
		return &Notifier{}, nil
	}
	if !strings.HasPrefix(name, "/") && !strings.HasPrefix(name, "@") {
		// systemd also accepts vsock: addresses, which the unix
		// datagram path below cannot reach.
		return nil, fmt.Errorf("NOTIFY_SOCKET %q: only absolute paths and abstract sockets ('@' prefix) are supported", name)
	}
	// Go's net package maps a leading '@' to the abstract namespace.
	return &Notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}, nil
}

// Enabled reports whether a service manager listens.
func (n *Notifier) Enabled() bool { return n.addr != nil }

// Notify sends one message, such as "READY=1" or "STOPPING=1"; several
// assignments may be joined with newlines. Without a socket it returns nil.
func (n *Notifier) Notify(state string) error {
	if n.addr == nil {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: connect to %s: %w", n.addr.Name, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: send to %s: %w", n.addr.Name, err)
	}
	return nil
}

// Reloading returns the message that announces a configuration reload.
// MONOTONIC_USEC lets systemd's Type=notify-reload (systemd 253 and later)
// match the reload to its request; older versions ignore it.
func Reloading() string {
	return "RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonicMicroseconds(), 10)
}

// WatchdogInterval returns how often to send WATCHDOG=1: half of
// WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends. It returns 0 when the
// watchdog is off or WATCHDOG_PID names another process.
func WatchdogInterval(getenv func(string) string) (time.Duration, error) {
	raw := getenv("WATCHDOG_USEC")
	if raw == "" {
		return 0, nil
	}
	usec, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || usec <= 0 {
		return 0, fmt.Errorf("WATCHDOG_USEC %q: expected a positive number of microseconds", raw)
	}
	if pid := getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, nil
	}
	return time.Duration(usec) * time.Microsecond / 2, nil
}

// Watchdog sends WATCHDOG=1 every interval until ctx ends. Errors go to
// report, at most one per minute, so that a vanished socket cannot flood
// the log.
//
// NOTE: the ping proves only that the process schedules goroutines; a
// deadlock inside a run is not detected by it.
func (n *Notifier) Watchdog(ctx context.Context, interval time.Duration, report func(error)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var lastReport time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := n.Notify("WATCHDOG=1"); err != nil && time.Since(lastReport) > time.Minute {
				lastReport = time.Now()
				report(err)
			}
		}
	}
}
