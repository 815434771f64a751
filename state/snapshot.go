package state

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"go.uber.org/zap"
)

// A job's index snapshot is its Index encoded in one BLOB, so that a run
// loads a million accounts with one read instead of a million rows through
// database/sql. The table index_changes lists the external IDs whose
// checkpoint or rejected row changed since the snapshot was written.
// Triggers fill it in the transaction that changes the row, so snapshot
// plus changes always describe the committed rows exactly: a crash at any
// point leaves either the old snapshot with its changes or the new one.

// snapshotFormat is the layout that encodeIndex writes. A snapshot of
// another format is ignored and rewritten by the next RefreshIndexSnapshot.
const snapshotFormat = 1

// minSnapshotEntries is the smallest job that gets a snapshot. Scanning
// ten thousand rows takes a few milliseconds, and a job without a snapshot
// pays no trigger work when its rows change.
const minSnapshotEntries = 10_000

// minRefreshChanges and refreshDivisor set when RefreshIndexSnapshot
// rewrites a snapshot: once more than max(minRefreshChanges,
// entries/refreshDivisor) accounts changed. Until then LoadIndex merges
// the changed rows into the snapshot, which costs far less than a rewrite.
const (
	minRefreshChanges = 1024
	refreshDivisor    = 32
)

// maxSnapshotBytes bounds one snapshot, well below SQLite's default
// maximum BLOB size of 1,000,000,000 bytes. At about 35 bytes per account
// it is reached at about fifteen million accounts. A larger job has no
// snapshot and loads by scanning its rows.
const maxSnapshotBytes = 512 << 20

// indexSnapshotSchema returns the statements that create the snapshot
// and change tables and the triggers that fill index_changes. They are
// schema version 3, so their text must not change: files in the field
// already ran them.
func indexSnapshotSchema() []string {
	stmts := []string{
		// One row per job that has a snapshot. data is encodeIndex's
		// output.
		`CREATE TABLE index_snapshots (
			job_id  INTEGER PRIMARY KEY REFERENCES jobs (id),
			format  INTEGER NOT NULL, -- layout of data: snapshotFormat in state/snapshot.go
			entries INTEGER NOT NULL, -- accounts in data
			data    BLOB    NOT NULL
		)`,
		// External IDs whose checkpoint or rejected row was inserted,
		// updated or deleted since the job's snapshot was written. Jobs
		// without a snapshot get no rows.
		`CREATE TABLE index_changes (
			job_id      INTEGER NOT NULL,
			external_id TEXT    NOT NULL,
			PRIMARY KEY (job_id, external_id)
		) WITHOUT ROWID`,
	}
	for _, table := range []string{"checkpoint", "rejected"} {
		stmts = append(stmts,
			fmt.Sprintf(`CREATE TRIGGER %[1]s_insert_index_change AFTER INSERT ON %[1]s
				BEGIN %[2]s; END`, table, logIndexChange("NEW")),
			// An update that keeps the hash (an ack of an unchanged
			// payload, a new atlas_id) leaves the index as it was.
			fmt.Sprintf(`CREATE TRIGGER %[1]s_update_index_change AFTER UPDATE OF job_id, external_id, hash ON %[1]s
				WHEN OLD.job_id IS NOT NEW.job_id OR OLD.external_id IS NOT NEW.external_id OR OLD.hash IS NOT NEW.hash
				BEGIN %[2]s; %[3]s; END`, table, logIndexChange("OLD"), logIndexChange("NEW")),
			fmt.Sprintf(`CREATE TRIGGER %[1]s_delete_index_change AFTER DELETE ON %[1]s
				BEGIN %[2]s; END`, table, logIndexChange("OLD")),
		)
	}
	return stmts
}

// logIndexChange is a trigger statement that adds row (NEW or OLD) to
// index_changes when its job has a snapshot. It avoids INSERT OR IGNORE,
// because the conflict policy of the statement that fires a trigger
// overrides the one inside it.
func logIndexChange(row string) string {
	return fmt.Sprintf(`INSERT INTO index_changes (job_id, external_id)
		SELECT %[1]s.job_id, %[1]s.external_id
		WHERE EXISTS (SELECT 1 FROM index_snapshots WHERE job_id = %[1]s.job_id)
		AND NOT EXISTS (SELECT 1 FROM index_changes WHERE job_id = %[1]s.job_id AND external_id = %[1]s.external_id)`, row)
}

// querier is the part of *sql.Conn and *sql.Tx that reading the index
// uses.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// snapshotMeta describes a job's snapshot without reading its data.
type snapshotMeta struct {
	present bool
	format  int
	entries int
	changes int // rows in index_changes for the job
}

// usable reports whether loading from the snapshot beats scanning the
// rows: merging a changed row costs about as much as scanning two.
func (m snapshotMeta) usable() bool {
	return m.present && m.format == snapshotFormat && m.changes <= m.entries/2
}

func readSnapshotMeta(ctx context.Context, q querier, jobID int64) (snapshotMeta, error) {
	meta := snapshotMeta{present: true}
	err := q.QueryRowContext(ctx,
		`SELECT format, entries, (SELECT count(*) FROM index_changes WHERE job_id = ?1)
		 FROM index_snapshots WHERE job_id = ?1`, jobID).Scan(&meta.format, &meta.entries, &meta.changes)
	if errors.Is(err, sql.ErrNoRows) {
		return snapshotMeta{}, nil
	}
	if err != nil {
		return snapshotMeta{}, fmt.Errorf("read index snapshot metadata: %w", err)
	}
	return meta, nil
}

// errBadSnapshot marks a snapshot whose data does not decode.
var errBadSnapshot = errors.New("invalid index snapshot")

// readIndex returns the job's index from its snapshot and the rows changed
// since, or by scanning the rows when the snapshot is missing, unusable or
// older than many changes. q must hold a transaction, so that the
// snapshot, the change list and the rows are read at one point in time.
func (s *Store) readIndex(ctx context.Context, q querier, jobID int64) (*Index, error) {
	meta, err := readSnapshotMeta(ctx, q, jobID)
	if err != nil {
		return nil, err
	}
	if meta.usable() && !s.snapshotBroken(jobID) {
		ix, err := readFromSnapshot(ctx, q, jobID, meta)
		if err == nil {
			return ix, nil
		}
		if !errors.Is(err, errBadSnapshot) {
			return nil, err
		}
		s.logger.Warn("the checkpoint index snapshot is invalid; reading the checkpoint rows instead, and the next run rewrites the snapshot",
			zap.Int64("job_id", jobID), zap.Error(err))
		s.markSnapshotBroken(jobID, true)
	}
	return scanIndex(ctx, q, jobID)
}

// readFromSnapshot decodes the job's snapshot and merges the rows of the
// accounts in index_changes into it.
func readFromSnapshot(ctx context.Context, q querier, jobID int64, meta snapshotMeta) (*Index, error) {
	var data sql.RawBytes
	rows, err := q.QueryContext(ctx, "SELECT data FROM index_snapshots WHERE job_id = ?", jobID)
	if err != nil {
		return nil, fmt.Errorf("read index snapshot: %w", err)
	}
	var base *Index
	if rows.Next() {
		// RawBytes saves a copy of the whole BLOB; decodeIndex copies
		// what it keeps before rows.Close frees it.
		if err := rows.Scan(&data); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read index snapshot: %w", err)
		}
		base, err = decodeIndex(data)
	} else {
		err = errors.New("the snapshot row disappeared inside the read transaction")
	}
	if closeErr := rows.Close(); err == nil && closeErr != nil {
		err = fmt.Errorf("read index snapshot: %w", closeErr)
	}
	if err != nil {
		return nil, err
	}
	if meta.changes == 0 {
		return base, nil
	}

	changed, err := q.QueryContext(ctx,
		`SELECT ch.external_id, ck.hash, rj.hash
		 FROM index_changes ch
		 LEFT JOIN checkpoint ck ON ck.job_id = ch.job_id AND ck.external_id = ch.external_id
		 LEFT JOIN rejected rj ON rj.job_id = ch.job_id AND rj.external_id = ch.external_id
		 WHERE ch.job_id = ?1
		 ORDER BY ch.external_id`, jobID)
	if err != nil {
		return nil, fmt.Errorf("read the rows changed since the index snapshot: %w", err)
	}
	ix, err := mergeChanges(base, changed, meta.changes)
	if err != nil {
		return nil, fmt.Errorf("merge the rows changed since the index snapshot: %w", err)
	}
	return ix, nil
}

// mergeChanges returns base with the accounts that rows lists replaced by
// their current state, and closes rows. rows yields (external_id,
// checkpoint hash or NULL, rejected hash or NULL) in ascending external_id
// order. An account with neither hash is no longer in the index.
func mergeChanges(base *Index, rows *sql.Rows, changes int) (*Index, error) {
	defer rows.Close()

	var b indexBuilder
	b.growExact(base.Len()+changes, len(base.ids)+16*changes)
	next, n := 0, base.Len()
	for rows.Next() {
		var externalID, ackHash, rejectedHash sql.RawBytes
		if err := rows.Scan(&externalID, &ackHash, &rejectedHash); err != nil {
			return nil, err
		}
		for ; next < n && base.id(next) < string(externalID); next++ {
			if err := b.addEntry(base.id(next), base.At(next)); err != nil {
				return nil, err
			}
		}
		if next < n && base.id(next) == string(externalID) {
			next++ // replaced by the current rows below, if any
		}
		if ackHash != nil {
			if err := b.add(externalID, ackHash, true); err != nil {
				return nil, err
			}
		}
		if rejectedHash != nil {
			if err := b.add(externalID, rejectedHash, false); err != nil {
				return nil, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for ; next < n; next++ {
		if err := b.addEntry(base.id(next), base.At(next)); err != nil {
			return nil, err
		}
	}
	return b.finish(), nil
}

// RefreshIndexSnapshot rewrites job's index snapshot when the job has at
// least minSnapshotEntries accounts and its snapshot is missing, invalid
// or older than more than max(1024, entries/32) changed accounts. It
// reports whether it wrote one. Call it after a run has recorded its rows;
// while it writes, other writers of this Store wait.
//
// The snapshot only makes LoadIndex faster: a job without one loads by
// scanning its rows, so a failure here costs speed, not correctness.
func (s *Store) RefreshIndexSnapshot(ctx context.Context, job string) (bool, error) {
	if err := s.checkWritable(); err != nil {
		return false, err
	}
	jobID, err := s.lookupJob(ctx, job)
	if errors.Is(err, errNoJob) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// A cheap check outside the write lock settles the common case.
	meta, err := readSnapshotMeta(ctx, s.db, jobID)
	if err != nil {
		return false, fmt.Errorf("refresh index snapshot of job %q in state file %s: %w", job, s.path, err)
	}
	if !s.needsRefresh(jobID, meta) {
		return false, nil
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	wrote, err := s.writeSnapshot(ctx, jobID)
	if err != nil {
		return false, fmt.Errorf("refresh index snapshot of job %q in state file %s: %w", job, s.path, err)
	}
	return wrote, nil
}

// needsRefresh reports whether the job's snapshot should be rewritten. A
// job without a snapshot may still be too small for one; writeSnapshot
// decides that once it has counted the accounts.
func (s *Store) needsRefresh(jobID int64, meta snapshotMeta) bool {
	if !meta.present || meta.format != snapshotFormat || s.snapshotBroken(jobID) {
		return true
	}
	return meta.changes > max(minRefreshChanges, meta.entries/refreshDivisor)
}

// writeSnapshot replaces the job's snapshot with its current index and
// clears its change list, in one transaction. The caller holds writeMu.
func (s *Store) writeSnapshot(ctx context.Context, jobID int64) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	meta, err := readSnapshotMeta(ctx, tx, jobID)
	if err != nil {
		return false, err
	}
	if !s.needsRefresh(jobID, meta) {
		return false, nil // another call refreshed it meanwhile
	}
	ix, err := s.readIndex(ctx, tx, jobID)
	if err != nil {
		return false, err
	}

	var data []byte
	if ix.Len() >= s.snapshotMinEntries() {
		data = encodeIndex(ix)
	}
	if data == nil || len(data) > maxSnapshotBytes {
		// Without a snapshot the triggers stop listing changes.
		if !meta.present {
			return false, nil
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM index_snapshots WHERE job_id = ?", jobID); err != nil {
			return false, fmt.Errorf("delete the index snapshot: %w", err)
		}
	} else {
		_, err = tx.ExecContext(ctx,
			`INSERT INTO index_snapshots (job_id, format, entries, data) VALUES (?, ?, ?, ?)
			 ON CONFLICT (job_id) DO UPDATE SET format = excluded.format, entries = excluded.entries, data = excluded.data`,
			jobID, snapshotFormat, ix.Len(), data)
		if err != nil {
			return false, fmt.Errorf("write the index snapshot (%d bytes): %w", len(data), err)
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM index_changes WHERE job_id = ?", jobID); err != nil {
		return false, fmt.Errorf("clear the index change list: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	s.markSnapshotBroken(jobID, false)
	return data != nil && len(data) <= maxSnapshotBytes, nil
}

// withReadTx runs fn inside one read transaction on a pinned connection,
// so that every query of fn sees the same committed state. It does not use
// BeginTx, because the DSN makes that BEGIN IMMEDIATE, which would take
// the write lock and fail on a read-only Store.
func (s *Store) withReadTx(ctx context.Context, fn func(q querier) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN DEFERRED"); err != nil {
		return err
	}
	fnErr := fn(conn)
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
		// A connection still inside a transaction must not return to
		// the pool: ErrBadConn makes database/sql close it.
		conn.Raw(func(any) error { return driver.ErrBadConn }) //nolint:errcheck // the error is the point
		return errors.Join(fnErr, fmt.Errorf("end read transaction: %w", err))
	}
	return fnErr
}

func (s *Store) snapshotBroken(jobID int64) bool {
	s.jobsMu.Lock()
	defer s.jobsMu.Unlock()
	return s.brokenSnapshots[jobID]
}

func (s *Store) markSnapshotBroken(jobID int64, broken bool) {
	s.jobsMu.Lock()
	defer s.jobsMu.Unlock()
	if broken {
		if s.brokenSnapshots == nil {
			s.brokenSnapshots = make(map[int64]bool)
		}
		s.brokenSnapshots[jobID] = true
		return
	}
	delete(s.brokenSnapshots, jobID)
}

func (s *Store) snapshotMinEntries() int {
	if s.minSnapshotEntries > 0 {
		return s.minSnapshotEntries
	}
	return minSnapshotEntries
}

// The snapshot layout, little-endian:
//
//	u32 entries n, u32 bytes of IDs, u32 rejected rows r
//	IDs, concatenated (Index.ids)
//	n × u32 end offsets (Index.ends)
//	n × 16-byte acknowledged hashes (Index.hashes)
//	ceil(n/8) bytes of acked bits, least significant bit first
//	r × u32 positions (Index.rejectedAt)
//	r × 16-byte rejected hashes (Index.rejectedHashes)
//	u32 CRC-32C of everything before it
const snapshotHeaderBytes = 12

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func snapshotSize(ids, n, r int) int {
	return snapshotHeaderBytes + ids + 4*n + len(Hash{})*n + (n+7)/8 + 4*r + len(Hash{})*r + 4
}

// encodeIndex returns ix in the snapshot layout.
func encodeIndex(ix *Index) []byte {
	n, r := len(ix.ends), len(ix.rejectedAt)
	data := make([]byte, 0, snapshotSize(len(ix.ids), n, r))
	data = binary.LittleEndian.AppendUint32(data, uint32(n))
	data = binary.LittleEndian.AppendUint32(data, uint32(len(ix.ids)))
	data = binary.LittleEndian.AppendUint32(data, uint32(r))
	data = append(data, ix.ids...)
	for _, end := range ix.ends {
		data = binary.LittleEndian.AppendUint32(data, end)
	}
	for i := range ix.hashes {
		data = append(data, ix.hashes[i][:]...)
	}
	bits := make([]byte, (n+7)/8)
	for i, acked := range ix.acked {
		if acked {
			bits[i/8] |= 1 << (i % 8)
		}
	}
	data = append(data, bits...)
	for _, at := range ix.rejectedAt {
		data = binary.LittleEndian.AppendUint32(data, at)
	}
	for i := range ix.rejectedHashes {
		data = append(data, ix.rejectedHashes[i][:]...)
	}
	return binary.LittleEndian.AppendUint32(data, crc32.Checksum(data, castagnoli))
}

// decodeIndex parses encodeIndex's output into a new Index that shares no
// memory with data. Errors wrap errBadSnapshot.
func decodeIndex(data []byte) (*Index, error) {
	if len(data) < snapshotHeaderBytes+4 {
		return nil, fmt.Errorf("%w: %d bytes", errBadSnapshot, len(data))
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", errBadSnapshot)
	}
	n := int(binary.LittleEndian.Uint32(body[0:]))
	idBytes := int(binary.LittleEndian.Uint32(body[4:]))
	r := int(binary.LittleEndian.Uint32(body[8:]))
	if want := snapshotSize(idBytes, n, r); len(data) != want {
		return nil, fmt.Errorf("%w: %d bytes for %d entries, %d bytes of IDs and %d rejections; want %d",
			errBadSnapshot, len(data), n, idBytes, r, want)
	}
	rest := body[snapshotHeaderBytes:]
	take := func(size int) []byte {
		part := rest[:size]
		rest = rest[size:]
		return part
	}

	ix := &Index{
		ids:            string(take(idBytes)),
		ends:           make([]uint32, n),
		hashes:         make([]Hash, n),
		acked:          make([]bool, n),
		rejectedAt:     make([]uint32, r),
		rejectedHashes: make([]Hash, r),
	}
	ends := take(4 * n)
	previous := uint32(0)
	for i := range ix.ends {
		end := binary.LittleEndian.Uint32(ends[4*i:])
		if end <= previous || int(end) > idBytes {
			return nil, fmt.Errorf("%w: end offset %d of entry %d after %d", errBadSnapshot, end, i, previous)
		}
		ix.ends[i], previous = end, end
	}
	if n > 0 && int(previous) != idBytes {
		return nil, fmt.Errorf("%w: the IDs end at %d of %d bytes", errBadSnapshot, previous, idBytes)
	}
	hashes := take(len(Hash{}) * n)
	for i := range ix.hashes {
		copy(ix.hashes[i][:], hashes[len(Hash{})*i:])
	}
	bits := take((n + 7) / 8)
	for i := range ix.acked {
		ix.acked[i] = bits[i/8]&(1<<(i%8)) != 0
	}
	positions := take(4 * r)
	for j := range ix.rejectedAt {
		at := binary.LittleEndian.Uint32(positions[4*j:])
		if int(at) >= n || (j > 0 && at <= ix.rejectedAt[j-1]) {
			return nil, fmt.Errorf("%w: rejected position %d of %d entries out of order", errBadSnapshot, at, n)
		}
		ix.rejectedAt[j] = at
	}
	rejectedHashes := take(len(Hash{}) * r)
	for j := range ix.rejectedHashes {
		copy(ix.rejectedHashes[j][:], rejectedHashes[len(Hash{})*j:])
	}
	if n == 0 {
		return &Index{}, nil
	}
	return ix, nil
}
