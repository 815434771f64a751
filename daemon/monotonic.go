package daemon

import "golang.org/x/sys/unix"

// monotonicMicroseconds reads CLOCK_MONOTONIC, the clock systemd uses for
// MONOTONIC_USEC. Go's time package does not expose it.
func monotonicMicroseconds() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1000
}
