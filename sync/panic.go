package sync

import (
	"context"
	"fmt"

	"go.uber.org/zap"
)

// recoverPanic turns a panic in one of the run's goroutines into a failed
// run, logged with its stack, so that a bug met by one job does not end a
// daemon that runs others. Use it as `defer r.recoverPanic(...)` at the top
// of the goroutine's unit of work. It reports whether a panic was caught
// through caught, when caught is not nil.
func (r *run) recoverPanic(where string, stopReading context.CancelFunc, caught *bool) {
	p := recover()
	if p == nil {
		return
	}
	if caught != nil {
		*caught = true
	}
	r.log.Error("panic in "+where+"; the run fails", zap.Any("panic", p), zap.Stack("stack"))
	r.fail(fmt.Errorf("panic in %s: %v", where, p))
	stopReading()
}
