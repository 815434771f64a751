package state

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
)

// Hash is a payload hash: the first 16 bytes of the SHA-256 of a canonical
// payload, computed by the caller.
type Hash [16]byte

// String returns the hash in lowercase hex.
func (h Hash) String() string {
	return hex.EncodeToString(h[:])
}

// Entry is the checkpoint state of one account.
type Entry struct {
	// Hash is the hash of the last payload Atlas acknowledged; valid when
	// Acked is true.
	Hash  Hash
	Acked bool

	// RejectedHash is the hash of the last payload Atlas rejected with a
	// 4xx status; valid when Rejected is true. An acknowledgement of a
	// later payload deletes the rejection.
	RejectedHash Hash
	Rejected     bool
}

// Index is a read-only snapshot of one job's checkpoint and rejected rows,
// loaded once per run for the diff. It is safe for concurrent reads.
//
// The layout keeps a million accounts in about 40 MB of heap, far less
// than a map[string]Entry, where each entry costs a string header, the
// string's own allocation and the map slot. All external IDs are
// concatenated in ascending byte order in one string, and Get finds an ID
// by binary search over the end offsets. Rejections are few in normal
// operation, so they live in a second, sparse pair of slices.
type Index struct {
	ids    string   // external IDs, concatenated in ascending byte order
	ends   []uint32 // ends[i] is the offset in ids just past the i-th ID
	hashes []Hash   // acknowledged hash of the i-th ID; zero if not acked
	acked  []bool   // whether the i-th ID has a checkpoint row

	rejectedAt     []uint32 // ascending positions of the IDs that have a rejected row
	rejectedHashes []Hash   // rejected hash for each position in rejectedAt
}

// Len returns the number of accounts in the index: those with a
// checkpoint row, a rejected row or both.
func (ix *Index) Len() int {
	if ix == nil {
		return 0
	}
	return len(ix.ends)
}

// Get returns the state of the account with externalID, and false if the
// job has neither a checkpoint nor a rejected row for it. A nil Index is
// empty.
func (ix *Index) Get(externalID string) (Entry, bool) {
	i, ok := ix.Find(externalID)
	if !ok {
		return Entry{}, false
	}
	return ix.At(i), true
}

// Find returns the position of externalID in the index, in [0, Len()), and
// false if the index does not contain it. Positions follow the ascending
// byte order of the IDs, so a caller can keep per-account flags in a
// bitmap of Len() bits instead of a set of strings.
func (ix *Index) Find(externalID string) (int, bool) {
	n := ix.Len()
	if n == 0 {
		return 0, false
	}
	i := sort.Search(n, func(i int) bool { return ix.id(i) >= externalID })
	if i == n || ix.id(i) != externalID {
		return 0, false
	}
	return i, true
}

// FindNear is Find for callers that look IDs up in roughly ascending
// order, as in an export sorted by ID. It searches outward from hint, the
// position FindNear returned for an earlier ID, so an ID a few entries away
// costs a few comparisons. Any hint in any order returns the same result as Find, at
// worst about twice Find's comparisons. When the index does not contain
// externalID, the position returned is where it would be inserted, a good
// hint for the next call.
func (ix *Index) FindNear(externalID string, hint int) (int, bool) {
	n := ix.Len()
	if n == 0 {
		return 0, false
	}
	hint = min(max(hint, 0), n-1)

	// Gallop to a range [low, high] that holds the first position whose
	// ID is not below externalID (n when there is none).
	low, high := 0, n
	if ix.id(hint) < externalID {
		low = hint + 1
		for step := 1; ; step *= 2 {
			probe := hint + step
			if probe >= n {
				break
			}
			if ix.id(probe) >= externalID {
				high = probe
				break
			}
			low = probe + 1
		}
	} else {
		high = hint
		for step := 1; ; step *= 2 {
			probe := hint - step
			if probe < 0 {
				break
			}
			if ix.id(probe) < externalID {
				low = probe + 1
				break
			}
			high = probe
		}
	}

	i := low + sort.Search(high-low, func(k int) bool { return ix.id(low+k) >= externalID })
	return i, i < n && ix.id(i) == externalID
}

// At returns the entry at position i, which Find returned.
func (ix *Index) At(i int) Entry {
	entry := Entry{Hash: ix.hashes[i], Acked: ix.acked[i]}
	j := sort.Search(len(ix.rejectedAt), func(j int) bool { return ix.rejectedAt[j] >= uint32(i) })
	if j < len(ix.rejectedAt) && ix.rejectedAt[j] == uint32(i) {
		entry.RejectedHash = ix.rejectedHashes[j]
		entry.Rejected = true
	}
	return entry
}

func (ix *Index) id(i int) string {
	start := uint32(0)
	if i > 0 {
		start = ix.ends[i-1]
	}
	return ix.ids[start:ix.ends[i]]
}

// LoadIndex reads the job's checkpoint and rejected rows into an Index. A
// job without state gives an empty Index. A job with an index snapshot
// (see RefreshIndexSnapshot) loads from it and the rows changed since;
// the result is the same as reading every row.
func (s *Store) LoadIndex(ctx context.Context, job string) (*Index, error) {
	id, err := s.lookupJob(ctx, job)
	if errors.Is(err, errNoJob) {
		return &Index{}, nil
	}
	if err != nil {
		return nil, err
	}

	var ix *Index
	err = s.withReadTx(ctx, func(q querier) error {
		var err error
		ix, err = s.readIndex(ctx, q, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load checkpoint of job %q from state file %s: %w", job, s.path, err)
	}
	return ix, nil
}

// scanIndex merges both tables in one ordered query. SQLite returns the
// compound SELECT by merging the two primary-key scans, which already run
// in external_id order, so no sort happens in SQLite or here. The BINARY
// collation that orders the rows compares bytes, as Go compares strings.
func scanIndex(ctx context.Context, q querier, jobID int64) (*Index, error) {
	// Sizing the slices up front saves growing them row by row, which
	// took about a third of the load time of a million rows.
	var count int
	err := q.QueryRowContext(ctx,
		`SELECT (SELECT count(*) FROM checkpoint WHERE job_id = ?1) + (SELECT count(*) FROM rejected WHERE job_id = ?1)`,
		jobID).Scan(&count)
	if err != nil {
		return nil, err
	}

	rows, err := q.QueryContext(ctx,
		`SELECT external_id, hash, 1 AS acked FROM checkpoint WHERE job_id = ?1
		 UNION ALL
		 SELECT external_id, hash, 0 AS acked FROM rejected WHERE job_id = ?1
		 ORDER BY external_id`, jobID)
	if err != nil {
		return nil, err
	}
	return buildIndex(rows, count)
}

// buildIndex reads rows of (external_id, hash, acked) in ascending
// external_id order into an Index, and closes rows. capacity is the
// expected number of rows, or 0 when unknown.
func buildIndex(rows *sql.Rows, capacity int) (*Index, error) {
	defer rows.Close()

	var b indexBuilder
	b.grow(capacity)
	for rows.Next() {
		// RawBytes avoids one allocation per row: add copies the bytes.
		var externalID, hash sql.RawBytes
		var acked bool
		if err := rows.Scan(&externalID, &hash, &acked); err != nil {
			return nil, err
		}
		if err := b.add(externalID, hash, acked); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return b.finish(), nil
}

// indexBuilder collects rows in ascending external_id order. A row from
// checkpoint and one from rejected with the same ID merge into one entry.
type indexBuilder struct {
	ids []byte
	ix  Index
}

// grow reserves room for n entries with IDs of about 16 bytes.
func (b *indexBuilder) grow(n int) {
	b.growExact(n, 16*n)
}

// growExact reserves room for n entries with idBytes bytes of IDs.
func (b *indexBuilder) growExact(n, idBytes int) {
	if n <= 0 {
		return
	}
	b.ids = make([]byte, 0, idBytes)
	b.ix.ends = make([]uint32, 0, n)
	b.ix.hashes = make([]Hash, 0, n)
	b.ix.acked = make([]bool, 0, n)
}

// addEntry adds an entry of another Index, both its checkpoint and its
// rejected state.
func (b *indexBuilder) addEntry(externalID string, entry Entry) error {
	id := []byte(externalID)
	if entry.Acked {
		if err := b.add(id, entry.Hash[:], true); err != nil {
			return err
		}
	}
	if entry.Rejected {
		if err := b.add(id, entry.RejectedHash[:], false); err != nil {
			return err
		}
	}
	return nil
}

func (b *indexBuilder) add(externalID, hash []byte, acked bool) error {
	if len(hash) != len(Hash{}) {
		// string() copies, so that externalID does not escape and a
		// caller may pass a stack buffer.
		return fmt.Errorf("row for external ID %q has a %d-byte hash, expected %d", string(externalID), len(hash), len(Hash{}))
	}
	var h Hash
	copy(h[:], hash)

	n := len(b.ix.ends)
	if n == 0 || !bytes.Equal(externalID, b.lastID()) {
		if n > 0 && bytes.Compare(externalID, b.lastID()) < 0 {
			return fmt.Errorf("rows out of order: external ID %q after %q", string(externalID), string(b.lastID()))
		}
		if len(b.ids)+len(externalID) > math.MaxUint32 {
			return errors.New("external IDs of the job exceed 4 GiB")
		}
		b.ids = append(b.ids, externalID...)
		b.ix.ends = append(b.ix.ends, uint32(len(b.ids)))
		b.ix.hashes = append(b.ix.hashes, Hash{})
		b.ix.acked = append(b.ix.acked, false)
		n++
	}

	last := n - 1
	if acked {
		b.ix.hashes[last] = h
		b.ix.acked[last] = true
		return nil
	}
	b.ix.rejectedAt = append(b.ix.rejectedAt, uint32(last))
	b.ix.rejectedHashes = append(b.ix.rejectedHashes, h)
	return nil
}

func (b *indexBuilder) lastID() []byte {
	n := len(b.ix.ends)
	start := uint32(0)
	if n > 1 {
		start = b.ix.ends[n-2]
	}
	return b.ids[start:b.ix.ends[n-1]]
}

func (b *indexBuilder) finish() *Index {
	ix := b.ix
	ix.ids = string(b.ids)
	return &ix
}
