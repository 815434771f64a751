package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"runtime"
	stdsync "sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/mapping"
	"github.com/atlas-sync/atlas-sync/sources"
	"github.com/atlas-sync/atlas-sync/state"
)

// readBatchRecords is the number of records handed from the reader to the
// mappers at once. Batches keep channel operations rare (one per 256
// rows) while the records in flight stay a few megabytes.
const readBatchRecords = 256

// maxReusedBodies bounds the bodies buffer that a batch keeps for its
// next use. 256 bodies of typical CRM accounts take well under 1 MiB.
const maxReusedBodies = 4 << 20

// readBatch is a run of consecutive records on their way from the reader
// through a mapper to the diff.
type readBatch struct {
	records   []batchRecord
	values    []sources.Value // the records' values, back to back
	bodies    []byte          // the mapped bodies, back to back; reused with the batch
	mapped    chan struct{}   // closed once every record is mapped
	bytesRead int64           // sources.Progresser.BytesRead after the last record
}

// batchRecord is one record of a batch and the result of mapping it.
type batchRecord struct {
	position    string
	skip        string // sources.Record.Skip
	readErr     error  // a *sources.RowError from Next: the row is unreadable
	first, last int    // the record's values are batch.values[first:last]

	// payload.Body points into the batch's bodies, so the diff copies
	// the bodies it keeps.
	payload mapping.Payload
	mapErr  error

	// indexPosition and known are the result of Index.Find for the
	// payload's externalId, valid when lookedUp is set: the mappers look
	// IDs up once the index has loaded, which takes the binary search off
	// the diff goroutine.
	indexPosition int
	known         bool
	lookedUp      bool
}

// indexResult is the outcome of loading the diff index.
type indexResult struct {
	index *state.Index
	err   error
}

// read streams the source and hands changed accounts to the workers. It
// returns at the end of input, on a read error, or when ctx is done.
//
// Three stages overlap. A reader goroutine calls Next and copies each
// record into a batch. GOMAXPROCS mapper goroutines map and hash whole
// batches. This goroutine diffs the batches in source order, so that the
// first row of a duplicated externalId is the one used.
// The checkpoint index arrives on indexReady; it loads while the first
// batches are read and mapped.
func (r *run) read(ctx context.Context, src sources.Source, mapper *mapping.Mapper, indexReady <-chan indexResult, work chan<- item) {
	// abort ends every stage after a panic in one of them, which
	// recoverPanic turns into a failed run.
	ctx, abort := context.WithCancel(ctx)
	defer abort()
	stageCtx, stopStages := context.WithCancel(ctx)
	var stages stdsync.WaitGroup
	defer func() {
		stopStages()
		stages.Wait()
	}()

	mappers := runtime.GOMAXPROCS(0)
	toMap := make(chan *readBatch, mappers)
	inOrder := make(chan *readBatch, 2*mappers)
	free := make(chan *readBatch, 3*mappers+2)

	var reachedEnd atomic.Bool
	var sharedIndex atomic.Pointer[state.Index] // set once the index has loaded
	stages.Add(1)
	go func() {
		defer stages.Done()
		defer r.recoverPanic("source reader", abort, nil)
		r.readBatches(stageCtx, src, toMap, inOrder, free, &reachedEnd)
	}()
	for range mappers {
		stages.Add(1)
		go func() {
			defer stages.Done()
			defer r.recoverPanic("mapping", abort, nil)
			for batch := range toMap {
				mapBatch(mapper, batch, sharedIndex.Load())
			}
		}()
	}

	var loaded indexResult
	select {
	case loaded = <-indexReady:
	case <-ctx.Done():
		<-indexReady // the load ends soon: it uses ctx too
		return
	}
	if loaded.err != nil {
		r.fail(loaded.err)
		return
	}
	index := loaded.index
	sharedIndex.Store(index)
	seen := newSeenSet(index.Len())

	for batch := range inOrder {
		if ctx.Err() != nil {
			return
		}
		select {
		case <-batch.mapped:
		case <-ctx.Done():
			return
		}
		if !r.diffBatch(ctx, batch, index, seen, work) {
			return
		}
		r.bytesDiffed.Store(batch.bytesRead)
		select {
		case free <- batch:
		default:
		}
	}
	if reachedEnd.Load() {
		r.readComplete.Store(true)
	}
}

// readBatches is the reader stage. It fills batches from src and sends
// each to the mappers and, in the same order, to the diff. It closes both
// channels when it returns: at the end of input, on a fatal read error
// (recorded with fail), or when ctx is done. It sets reachedEnd when every
// record up to the end of input was sent on.
func (r *run) readBatches(ctx context.Context, src sources.Source, toMap, inOrder chan<- *readBatch, free <-chan *readBatch, reachedEnd *atomic.Bool) {
	defer close(inOrder)
	defer close(toMap)

	progresser, _ := r.progresser()
	var batch *readBatch
	send := func() bool {
		if progresser != nil {
			batch.bytesRead = progresser.BytesRead()
		}
		select {
		case toMap <- batch:
		case <-ctx.Done():
			return false
		}
		select {
		case inOrder <- batch:
		case <-ctx.Done():
			return false
		}
		batch = nil
		return true
	}

	for {
		if batch == nil {
			batch = newReadBatch(free)
		}
		rec, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			if len(batch.records) == 0 || send() {
				reachedEnd.Store(true)
			}
			return
		}
		if err != nil && !sources.IsRowError(err) {
			if ctx.Err() == nil {
				r.fail(fmt.Errorf("read source: %w", err))
			}
			return
		}
		batch.add(rec, err)
		if len(batch.records) == readBatchRecords && !send() {
			return
		}
	}
}

// newReadBatch takes a batch from free, or allocates one.
func newReadBatch(free <-chan *readBatch) *readBatch {
	select {
	case batch := <-free:
		batch.records = batch.records[:0]
		batch.values = batch.values[:0]
		batch.bodies = batch.bodies[:0]
		if cap(batch.bodies) > maxReusedBodies {
			batch.bodies = nil // one batch of huge records should not pin its memory for the run
		}
		batch.mapped = make(chan struct{})
		return batch
	default:
		return &readBatch{
			records: make([]batchRecord, 0, readBatchRecords),
			mapped:  make(chan struct{}),
		}
	}
}

// add appends rec, or the row error that replaced it. The values are
// copied because a source may reuse them on its next call to Next; their
// strings are immutable and are shared, not copied.
func (b *readBatch) add(rec sources.Record, rowErr error) {
	first := len(b.values)
	b.values = append(b.values, rec.Values...)
	for i := first; i < len(b.values); i++ {
		if list := b.values[i].List; list != nil {
			b.values[i].List = append([]string(nil), list...)
		}
	}
	b.records = append(b.records, batchRecord{
		position: rec.Position,
		skip:     rec.Skip,
		readErr:  rowErr,
		first:    first,
		last:     len(b.values),
	})
}

// mapBatch maps the readable records of batch, looks their externalIds up
// in index unless it is nil, and closes batch.mapped.
func mapBatch(mapper *mapping.Mapper, batch *readBatch, index *state.Index) {
	bodies := batch.bodies[:0]
	hint := 0 // consecutive rows often have neighbouring IDs
	for i := range batch.records {
		rec := &batch.records[i]
		rec.payload, rec.mapErr, rec.lookedUp = mapping.Payload{}, nil, false
		if rec.readErr != nil || rec.skip != "" {
			continue
		}
		bodies, rec.payload, rec.mapErr = mapper.MapAppend(bodies, sources.Record{
			Position: rec.position,
			Values:   batch.values[rec.first:rec.last],
		})
		if rec.mapErr == nil && index != nil {
			position, known := index.FindNear(rec.payload.ExternalID, hint)
			rec.indexPosition, rec.known, rec.lookedUp = position, known, true
			hint = position
		}
	}
	batch.bodies = bodies
	close(batch.mapped)
}

// diffBatch counts each record of a mapped batch in its bucket and hands
// the changed ones to the workers. It returns false when the run must
// stop reading because ctx is done.
func (r *run) diffBatch(ctx context.Context, batch *readBatch, index *state.Index, seen *seenSet, work chan<- item) bool {
	for i := range batch.records {
		rec := &batch.records[i]
		r.counts.read.Add(1)
		switch {
		case rec.readErr != nil:
			r.counts.unreadable.Add(1)
			r.logRowError("unreadable row", rec.readErr)
			continue
		case rec.skip != "":
			r.counts.skipped.Add(1)
			r.log.Debug("row skipped", zap.String("position", rec.position), zap.String("reason", rec.skip))
			continue
		case rec.mapErr != nil:
			r.counts.unreadable.Add(1)
			r.logRowError("row cannot be mapped", rec.mapErr)
			continue
		}

		payload := rec.payload
		rec.payload = mapping.Payload{} // the batch is reused
		position, known := rec.indexPosition, rec.known
		if !rec.lookedUp {
			position, known = index.Find(payload.ExternalID)
		}
		if !seen.add(payload.ExternalID, position, known) {
			r.counts.duplicate.Add(1)
			r.logRowError("duplicate externalId", fmt.Errorf("%s: externalId %q appeared earlier in this run; only its first row is used", rec.position, payload.ExternalID))
			continue
		}
		if known && !r.changed(index.At(position), payload, rec.position) {
			continue
		}

		// The item outlives the batch, whose bodies buffer is reused.
		payload.Body = bytes.Clone(payload.Body)
		r.counts.changed.Add(1)
		if r.opts.DryRun {
			r.counts.unsent.Add(1)
			if r.opts.DryRunOutput != nil {
				fmt.Fprintf(r.opts.DryRunOutput, "%s\t%s\n", payload.ExternalID, rec.position)
			}
			continue
		}
		if r.stopSending.Load() {
			r.counts.unsent.Add(1)
			continue
		}

		select {
		case work <- item{payload: payload, position: rec.position}:
		case <-ctx.Done():
			r.counts.unsent.Add(1)
			return false
		}
	}
	return true
}

// seenSet detects repeated externalIds within one run. An ID that is in
// the checkpoint index takes one bit at its index position. Any other ID
// takes a 64-bit seeded hash instead of the ID itself, so that a million
// new IDs take about 40 MB instead of 100.
//
// NOTE: two different new IDs whose hashes collide would be taken for a
// duplicate. At a million rows the chance is about 3 in 100 million per
// run, and the seed changes every run, so the row is sent the next time.
type seenSet struct {
	known []uint64 // bitmap over index positions
	seed  maphash.Seed
	ids   map[uint64]struct{}
}

func newSeenSet(indexLen int) *seenSet {
	return &seenSet{
		known: make([]uint64, (indexLen+63)/64),
		seed:  maphash.MakeSeed(),
		ids:   make(map[uint64]struct{}),
	}
}

// add records id, found at position in the index when known, and reports
// whether it was new.
func (s *seenSet) add(id string, position int, known bool) bool {
	if known {
		word, bit := position/64, uint64(1)<<(position%64)
		if s.known[word]&bit != 0 {
			return false
		}
		s.known[word] |= bit
		return true
	}
	h := maphash.String(s.seed, id)
	if _, dup := s.ids[h]; dup {
		return false
	}
	s.ids[h] = struct{}{}
	return true
}
