// Package daemon owns the long-running process plumbing of `atlas-sync
// daemon`: the cron scheduler that starts job runs, the sd_notify protocol
// and the health endpoints. What a run does is the sync package's concern;
// building jobs from the configuration is the cli package's.
package daemon

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
)

// Task is one scheduled job.
type Task struct {
	// Name identifies the task in logs and metrics, and keys the
	// no-overlap guard: two tasks with one name never run at once, even
	// across Apply calls.
	Name string

	// Schedule is a cron spec as cron.ParseStandard accepts it: five
	// fields or a descriptor, with an optional CRON_TZ= or TZ= prefix.
	Schedule string

	// Run performs one run. ctx ends when the scheduler stops; Run should
	// then wind down and return.
	Run func(ctx context.Context)
}

// Observer receives the scheduler's events for metrics. Implementations
// must be safe for concurrent use; nil is allowed.
type Observer interface {
	// ObserveSkippedTick is called when a tick arrives while the task's
	// previous run is still going.
	ObserveSkippedTick(task string)

	// ObservePanic is called after a run panicked and was recovered.
	ObservePanic(task string)

	// ObserveRunning is called when a run starts (true) and ends (false).
	ObserveRunning(task string, running bool)

	// ObserveNextRun is called with the next scheduled start of a task
	// whenever it changes.
	ObserveNextRun(task string, next time.Time)
}

// Scheduler starts tasks on their cron schedules. A task never overlaps
// itself: a tick that arrives while its previous run is still going is
// skipped and logged. Different tasks run in parallel. A panic in a run is
// recovered and logged with its stack; the scheduler and the other tasks
// go on.
type Scheduler struct {
	logger   *zap.Logger
	observer Observer

	// runCtx is the context of every run; Stop cancels it.
	runCtx     context.Context
	cancelRuns context.CancelFunc

	// runs counts runs in flight across every cron instance that Apply
	// created, so that Stop waits for runs started before a reload too.
	runs stdsync.WaitGroup

	mu      stdsync.Mutex
	cron    *cron.Cron
	entries map[string]cron.EntryID
	busy    map[string]*atomic.Bool // by task name; survives Apply
	stopped bool
}

// NewScheduler returns a scheduler with no tasks. observer may be nil.
func NewScheduler(logger *zap.Logger, observer Observer) *Scheduler {
	if observer == nil {
		observer = nopObserver{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{
		logger:     logger,
		observer:   observer,
		runCtx:     ctx,
		cancelRuns: cancel,
		busy:       make(map[string]*atomic.Bool),
	}
}

// ErrStopped is returned by Apply after Stop.
var ErrStopped = errors.New("scheduler is stopped")

// Apply replaces the scheduled tasks. Every schedule is parsed first, in
// location for specs without a CRON_TZ= prefix; if one is invalid, Apply
// returns an error and the tasks scheduled before stay in place. Runs in
// flight are not interrupted: they finish under the old definition, and
// their task is not started again until they have.
func (s *Scheduler) Apply(location *time.Location, tasks []Task) error {
	next := cron.New(
		cron.WithLocation(location),
		cron.WithLogger(cronLogger{s.logger}),
	)
	entries := make(map[string]cron.EntryID, len(tasks))
	for _, task := range tasks {
		if _, dup := entries[task.Name]; dup {
			return fmt.Errorf("task %q is scheduled twice", task.Name)
		}
		id, err := next.AddJob(task.Schedule, s.wrap(task, location))
		if err != nil {
			return fmt.Errorf("schedule of job %s: %q: %w", task.Name, task.Schedule, err)
		}
		entries[task.Name] = id
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	if s.cron != nil {
		// Stop ends the old instance's scheduling only; its runs in
		// flight are tracked by s.runs.
		s.cron.Stop()
	}
	s.cron = next
	s.entries = entries
	next.Start()

	for _, entry := range next.Entries() {
		s.observer.ObserveNextRun(s.nameOf(entry.ID), entry.Next)
	}
	return nil
}

// nameOf returns the task name of a cron entry. The caller holds s.mu.
func (s *Scheduler) nameOf(id cron.EntryID) string {
	for name, entryID := range s.entries {
		if entryID == id {
			return name
		}
	}
	return ""
}

// NextRuns returns the next scheduled start of every task, by name.
func (s *Scheduler) NextRuns() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]time.Time, len(s.entries))
	if s.cron == nil {
		return out
	}
	for _, entry := range s.cron.Entries() {
		out[s.nameOf(entry.ID)] = entry.Next
	}
	return out
}

// Stop stops scheduling, cancels the context of the runs in flight and
// returns a channel that is closed once every run has returned. Runs decide
// how long they take to wind down. Stop is safe to call more than once.
func (s *Scheduler) Stop() <-chan struct{} {
	s.mu.Lock()
	if !s.stopped {
		s.stopped = true
		if s.cron != nil {
			s.cron.Stop()
		}
		s.cancelRuns()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.runs.Wait()
		close(done)
	}()
	return done
}

// guard returns the no-overlap flag of a task, creating it on first use.
func (s *Scheduler) guard(name string) *atomic.Bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	flag, ok := s.busy[name]
	if !ok {
		flag = new(atomic.Bool)
		s.busy[name] = flag
	}
	return flag
}

// wrap turns a task into a cron job that skips overlapping ticks, recovers
// panics and reports to the observer.
func (s *Scheduler) wrap(task Task, location *time.Location) cron.Job {
	schedule, _ := cron.ParseStandard(task.Schedule) // AddJob parses it again and returns the error
	log := s.logger.With(zap.String("job", task.Name))
	return cron.FuncJob(func() {
		if schedule != nil {
			// cron.Cron computes its own next time the same way: a spec
			// without CRON_TZ= follows the time zone of the time given.
			s.observer.ObserveNextRun(task.Name, schedule.Next(time.Now().In(location)))
		}
		if !s.startRun() {
			return
		}
		defer s.runs.Done()

		busy := s.guard(task.Name)
		if !busy.CompareAndSwap(false, true) {
			log.Warn("skipped a scheduled run: the previous run of this job is still going")
			s.observer.ObserveSkippedTick(task.Name)
			return
		}
		defer busy.Store(false)

		s.observer.ObserveRunning(task.Name, true)
		defer s.observer.ObserveRunning(task.Name, false)
		s.runRecovered(log, task)
	})
}

// startRun registers a run with s.runs unless the scheduler has stopped, so
// that Stop never misses a run that starts while it waits.
func (s *Scheduler) startRun() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.runs.Add(1)
	return true
}

// runRecovered runs the task and turns a panic into an error log with the
// stack. Only a panic on the run's own goroutine can be recovered here; one
// in a goroutine the run started still ends the process.
func (s *Scheduler) runRecovered(log *zap.Logger, task Task) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("job run panicked; the daemon and the other jobs continue",
				zap.Any("panic", v), zap.Stack("stack"))
			s.observer.ObservePanic(task.Name)
		}
	}()
	task.Run(s.runCtx)
}

// cronLogger sends robfig/cron's messages to zap. Its Info messages report
// every wake-up of the scheduler loop, so they go to debug.
type cronLogger struct{ logger *zap.Logger }

func (l cronLogger) Info(msg string, keysAndValues ...any) {
	l.logger.Sugar().Debugw("cron: "+msg, keysAndValues...)
}

func (l cronLogger) Error(err error, msg string, keysAndValues ...any) {
	l.logger.Sugar().Errorw("cron: "+msg, append(keysAndValues, "error", err)...)
}

type nopObserver struct{}

func (nopObserver) ObserveSkippedTick(string)        {}
func (nopObserver) ObservePanic(string)              {}
func (nopObserver) ObserveRunning(string, bool)      {}
func (nopObserver) ObserveNextRun(string, time.Time) {}
