package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// stopOnSignal returns a context that ends at the first SIGINT or SIGTERM
// and a channel closed at the second, so that a run first finishes its
// in-flight requests and an impatient operator can still cut it short.
// release stops listening.
func stopOnSignal(parent context.Context) (ctx context.Context, kill <-chan struct{}, release func()) {
	ctx, cancel := context.WithCancel(parent)
	killed := make(chan struct{})
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)

	done := make(chan struct{})
	go func() {
		count := 0
		for {
			select {
			case <-signals:
				count++
				if count == 1 {
					cancel()
				} else {
					close(killed)
					return
				}
			case <-done:
				return
			}
		}
	}()

	release = func() {
		signal.Stop(signals)
		close(done)
		cancel()
	}
	return ctx, killed, release
}
