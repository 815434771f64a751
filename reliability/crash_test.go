package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/atlas-sync/atlas-sync/atlas/emulator"
	"github.com/atlas-sync/atlas-sync/state"
)

// killBound is the most acknowledged-but-unrecorded rows one SIGKILL can
// leave: a request on the wire per worker, the deliveries channel
// (2 per worker) and one checkpoint batch (state.batch_size 20).
const killBound = 4 + 2*4 + 20

// TestSIGKILLAtRandomMomentsLosesNothing is a property test. For each
// seed, the built binary syncs a CSV file and is killed with SIGKILL at a
// random request, again and again, until one run completes. Then every
// tenth account changes and the same happens again. At the end the
// emulator must hold every account with its latest data, and the only
// repeated upserts may be those Atlas applied before a kill but the
// checkpoint had not recorded.
func TestSIGKILLAtRandomMomentsLosesNothing(t *testing.T) {
	seeds, rows := 20, 2000
	if testing.Short() {
		seeds, rows = 5, 1000
	}
	if soak() {
		seeds, rows = 20, 10_000
	}
	totalKills, totalRepeats := 0, 0
	for seed := 1; seed <= seeds; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			kills, repeats := killUntilDone(t, uint64(seed), rows)
			totalKills += kills
			totalRepeats += repeats
		})
	}
	t.Logf("%d seeds × %d rows: %d kills, %d repeated upserts, 0 accounts lost", seeds, rows, totalKills, totalRepeats)
}

func killUntilDone(t *testing.T, seed uint64, rows int) (kills, repeats int) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	e := newBinEnv(t, emulator.Options{})
	e.writeConfig(configOptions{})

	first := generation(rows, 0, 0)
	second := generation(rows, 1, 10)
	expected := make(map[string]int, rows)
	for i := range first {
		expected[first[i].id] = 1
		if first[i] != second[i] {
			expected[first[i].id] = 2
		}
	}

	var changedRows []account
	for i := range second {
		if second[i] != first[i] {
			changedRows = append(changedRows, second[i])
		}
	}

	inFlight := 0
	baseline := map[string]state.Hash{}
	for phase, accounts := range [][]account{first, second} {
		writeCSV(t, e.csv, accounts)
		toSend := accounts
		if phase == 1 {
			toSend = changedRows
		}
		for attempt := 1; ; attempt++ {
			if attempt > 60 {
				t.Fatalf("phase %d: no run completed in 60 attempts", phase+1)
			}
			// The kill comes at a random request of the work left, or
			// (about one time in six) after the run would have ended.
			left := int64(e.unrecorded(toSend, baseline))
			after := 1 + rng.Int64N(left+left/5+1)
			killed, res := e.runKilledAt(after, rng.IntN(2) == 0)
			if !killed {
				if res.code != 0 {
					t.Fatalf("phase %d attempt %d: exit %d\n%s", phase+1, attempt, res.code, res.stderr)
				}
				break
			}
			kills++
			pending := e.appliedNotRecorded(toSend, baseline)
			if pending > killBound {
				t.Errorf("kill %d left %d rows applied by Atlas but not in the checkpoint, want at most %d", kills, pending, killBound)
			}
			inFlight += pending
		}
		baseline = e.checkpointHashes(accounts)
	}

	if lost := missingOrStale(e.emulator, second); len(lost) > 0 {
		t.Errorf("%d accounts missing or stale, first %s", len(lost), lost[0])
	}
	repeats = repeatedUpserts(e.emulator.Stats(), expected)
	if repeats > inFlight {
		t.Errorf("%d repeated upserts, but only %d rows were in flight at the %d kills", repeats, inFlight, kills)
	}
	before := e.emulator.Stats().Requests
	if res := e.run("run", "--config", e.config); res.code != 0 || e.emulator.Stats().Requests != before {
		t.Errorf("final run exit %d, %d requests; want 0 and none", res.code, e.emulator.Stats().Requests-before)
	}
	t.Logf("seed %d: %d kills, %d rows in flight at the kills, %d repeated upserts", seed, kills, inFlight, repeats)
	return kills, repeats
}

// killSwitch passes requests to the emulator and runs the armed action
// (SIGKILL to the run, or a change to its source) when the request count
// reaches the target. The request that triggers the action is passed on
// afterwards or dropped, as armed: after a kill, the first is an upsert
// Atlas applied whose response never arrived, the second one that never
// reached Atlas.
type killSwitch struct {
	next        http.Handler
	requests    atomic.Int64
	target      atomic.Int64
	passOnFired atomic.Bool
	action      atomic.Pointer[func()]
}

func (k *killSwitch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := k.requests.Add(1)
	if target := k.target.Load(); target > 0 && n == target {
		if action := k.action.Load(); action != nil {
			(*action)()
		}
		if !k.passOnFired.Load() {
			panic(http.ErrAbortHandler)
		}
	}
	k.next.ServeHTTP(w, r)
}

// arm runs action at the request after the next after ones.
func (k *killSwitch) arm(after int64, action func(), passOn bool) {
	k.passOnFired.Store(passOn)
	k.action.Store(&action)
	k.target.Store(k.requests.Load() + after)
}

func (k *killSwitch) disarm() {
	k.target.Store(0)
	k.action.Store(nil)
}

// runKilledAt starts a run whose request number after (counted from the
// start of the run) triggers SIGKILL. killed reports whether the signal
// ended it; a run that needs fewer requests completes.
func (e *binEnv) runKilledAt(after int64, applyOnKill bool) (killed bool, res result) {
	e.t.Helper()
	cmd := e.command(context.Background(), "run", "--config", e.config)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.killer.arm(after, func() { _ = cmd.Process.Kill() }, applyOnKill)
	err := cmd.Wait()
	e.killer.disarm()

	res = result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.Signaled() && status.Signal() == syscall.SIGKILL {
			return true, res
		}
		res.code = exitErr.ExitCode()
		return false, res
	}
	if err != nil {
		e.t.Fatalf("run atlas-sync: %v", err)
	}
	return false, res
}

// unrecorded counts the accounts to send that the checkpoint records no
// acknowledgement for since baseline: the requests the next run makes.
func (e *binEnv) unrecorded(toSend []account, baseline map[string]state.Hash) int {
	e.t.Helper()
	recorded := e.checkpointHashes(toSend)
	count := 0
	for _, a := range toSend {
		hash, ok := recorded[a.id]
		if base, hadBase := baseline[a.id]; !ok || (hadBase && hash == base) {
			count++
		}
	}
	return count
}

// openState opens the state file the way the next run would, after the
// killed process released its lock.
func (e *binEnv) openState() *state.Store {
	e.t.Helper()
	store, err := state.Open(context.Background(), e.state, state.Options{})
	if err != nil {
		e.t.Fatalf("open state after the kill: %v", err)
	}
	return store
}

func (e *binEnv) checkpointHashes(accounts []account) map[string]state.Hash {
	e.t.Helper()
	store := e.openState()
	defer store.Close()
	index, err := store.LoadIndex(context.Background(), "crm")
	if err != nil {
		e.t.Fatal(err)
	}
	hashes := make(map[string]state.Hash, index.Len())
	for _, a := range accounts {
		if entry, ok := index.Get(a.id); ok && entry.Acked {
			hashes[a.id] = entry.Hash
		}
	}
	return hashes
}

// appliedNotRecorded counts the accounts to send whose target data Atlas
// holds while the checkpoint records no acknowledgement for them since
// baseline: the upserts the next run sends again.
func (e *binEnv) appliedNotRecorded(toSend []account, baseline map[string]state.Hash) int {
	e.t.Helper()
	recorded := e.checkpointHashes(toSend)
	pending := 0
	for _, a := range toSend {
		got, ok := e.emulator.Account(a.id)
		if !ok || got.Name != a.name || fmt.Sprint(got.CustomFields["tier"]) != a.tier {
			continue
		}
		hash, ok := recorded[a.id]
		base, hadBase := baseline[a.id]
		if !ok || (hadBase && hash == base) {
			pending++
		}
	}
	return pending
}
