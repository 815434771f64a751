package state

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"go.uber.org/zap"
)

// A job's index snapshot is its Index encoded in a few BLOBs, so that a
// run loads a million accounts with a few hundred reads instead of a
// million rows through database/sql. The table index_changes lists the
// external IDs whose checkpoint or rejected row changed since the
// snapshot was written. Triggers fill it in the transaction that changes
// the row, so snapshot plus changes always describe the committed rows
// exactly. A crash at any point leaves either the old snapshot with its
// changes or the new one.

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

// maxSnapshotBytes bounds one snapshot, which is encoded in memory before
// it is written. At about 30 bytes per account it is reached at about
// seventeen million accounts. A larger job has no snapshot and loads by
// scanning its rows.
const maxSnapshotBytes = 512 << 20

// snapshotChunkBytes is the size of one row of index_snapshot_chunks. The
// load decodes chunk by chunk, so that the encoded snapshot never sits in
// memory whole next to the index: with the garbage collector's default
// target of twice the live heap, that would double the peak heap.
const snapshotChunkBytes = 256 << 10

// indexSnapshotSchema returns the statements that create the snapshot
// and change tables and the triggers that fill index_changes. They are
// schema version 3, so their text must not change: files in the field
// already ran them.
func indexSnapshotSchema() []string {
	stmts := []string{
		// One row per job that has a snapshot. Its bytes are
		// encodeIndex's output, cut into index_snapshot_chunks.
		`CREATE TABLE index_snapshots (
			job_id  INTEGER PRIMARY KEY REFERENCES jobs (id),
			format  INTEGER NOT NULL, -- layout: snapshotFormat in state/snapshot.go
			entries INTEGER NOT NULL, -- accounts in the snapshot
			bytes   INTEGER NOT NULL  -- length of the chunks together
		)`,
		`CREATE TABLE index_snapshot_chunks (
			job_id INTEGER NOT NULL REFERENCES index_snapshots (job_id),
			seq    INTEGER NOT NULL, -- 0, 1, ... in the order of the bytes
			data   BLOB    NOT NULL,
			PRIMARY KEY (job_id, seq)
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
	// The WHEN clauses skip the trigger bodies for jobs without a
	// snapshot: BenchmarkRecordAcks went from 5.0 to 4.0 us per ack.
	for _, table := range []string{"checkpoint", "rejected"} {
		stmts = append(stmts,
			fmt.Sprintf(`CREATE TRIGGER %[1]s_insert_index_change AFTER INSERT ON %[1]s
				WHEN %[2]s
				BEGIN %[3]s; END`, table, hasSnapshot("NEW"), logIndexChange("NEW")),
			// An update that keeps the hash (an ack of an unchanged
			// payload, a new atlas_id) leaves the index as it was.
			fmt.Sprintf(`CREATE TRIGGER %[1]s_update_index_change AFTER UPDATE OF job_id, external_id, hash ON %[1]s
				WHEN (OLD.job_id IS NOT NEW.job_id OR OLD.external_id IS NOT NEW.external_id OR OLD.hash IS NOT NEW.hash)
				AND (%[2]s OR %[3]s)
				BEGIN %[4]s; %[5]s; END`, table, hasSnapshot("OLD"), hasSnapshot("NEW"), logIndexChange("OLD"), logIndexChange("NEW")),
			fmt.Sprintf(`CREATE TRIGGER %[1]s_delete_index_change AFTER DELETE ON %[1]s
				WHEN %[2]s
				BEGIN %[3]s; END`, table, hasSnapshot("OLD"), logIndexChange("OLD")),
		)
	}
	return stmts
}

// hasSnapshot is a trigger condition: the job of row (NEW or OLD) has a
// snapshot.
func hasSnapshot(row string) string {
	return fmt.Sprintf("EXISTS (SELECT 1 FROM index_snapshots WHERE job_id = %s.job_id)", row)
}

// logIndexChange is a trigger statement that adds row (NEW or OLD) to
// index_changes when its job has a snapshot. It avoids INSERT OR IGNORE,
// because the conflict policy of the statement that fires a trigger
// overrides the one inside it.
func logIndexChange(row string) string {
	return fmt.Sprintf(`INSERT INTO index_changes (job_id, external_id)
		SELECT %[1]s.job_id, %[1]s.external_id
		WHERE %[2]s
		AND NOT EXISTS (SELECT 1 FROM index_changes WHERE job_id = %[1]s.job_id AND external_id = %[1]s.external_id)`, row, hasSnapshot(row))
}

// querier is the part of *sql.Conn and *sql.Tx that reading the index
// uses.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// snapshotMeta describes a job's snapshot without reading its chunks.
type snapshotMeta struct {
	present bool
	format  int
	entries int
	bytes   int64
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
		`SELECT format, entries, bytes, (SELECT count(*) FROM index_changes WHERE job_id = ?1)
		 FROM index_snapshots WHERE job_id = ?1`, jobID).Scan(&meta.format, &meta.entries, &meta.bytes, &meta.changes)
	if errors.Is(err, sql.ErrNoRows) {
		return snapshotMeta{}, nil
	}
	if err != nil {
		return snapshotMeta{}, fmt.Errorf("read index snapshot metadata: %w", err)
	}
	return meta, nil
}

// errBadSnapshot marks a snapshot whose chunks do not decode.
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
	rows, err := q.QueryContext(ctx, "SELECT data FROM index_snapshot_chunks WHERE job_id = ? ORDER BY seq", jobID)
	if err != nil {
		return nil, fmt.Errorf("read index snapshot: %w", err)
	}
	base, err := decodeIndex(&chunkReader{rows: rows}, meta.bytes)
	if closeErr := rows.Close(); err == nil && closeErr != nil {
		err = closeErr
	}
	if err != nil {
		return nil, fmt.Errorf("read index snapshot: %w", err)
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
	keep := data != nil && len(data) <= maxSnapshotBytes
	if !keep && !meta.present {
		return false, nil
	}

	if _, err := tx.ExecContext(ctx, "DELETE FROM index_snapshot_chunks WHERE job_id = ?", jobID); err != nil {
		return false, fmt.Errorf("delete the old index snapshot: %w", err)
	}
	if keep {
		if err := insertSnapshot(ctx, tx, jobID, ix.Len(), data); err != nil {
			return false, fmt.Errorf("write the index snapshot (%d bytes): %w", len(data), err)
		}
	} else {
		// Without a snapshot the triggers stop listing changes.
		if _, err := tx.ExecContext(ctx, "DELETE FROM index_snapshots WHERE job_id = ?", jobID); err != nil {
			return false, fmt.Errorf("delete the index snapshot: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM index_changes WHERE job_id = ?", jobID); err != nil {
		return false, fmt.Errorf("clear the index change list: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	s.markSnapshotBroken(jobID, false)
	return keep, nil
}

// insertSnapshot writes the snapshot row and data cut into chunks. The
// caller has deleted the job's old chunks.
func insertSnapshot(ctx context.Context, tx *sql.Tx, jobID int64, entries int, data []byte) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO index_snapshots (job_id, format, entries, bytes) VALUES (?, ?, ?, ?)
		 ON CONFLICT (job_id) DO UPDATE SET format = excluded.format, entries = excluded.entries, bytes = excluded.bytes`,
		jobID, snapshotFormat, entries, len(data))
	if err != nil {
		return err
	}
	insert, err := tx.PrepareContext(ctx, "INSERT INTO index_snapshot_chunks (job_id, seq, data) VALUES (?, ?, ?)")
	if err != nil {
		return err
	}
	defer insert.Close()
	for seq := 0; len(data) > 0; seq++ {
		chunk := data[:min(len(data), snapshotChunkBytes)]
		if _, err := insert.ExecContext(ctx, jobID, seq, chunk); err != nil {
			return err
		}
		data = data[len(chunk):]
	}
	return nil
}

// withReadTx runs fn inside one read transaction on a pinned connection,
// so that every query of fn reads the same committed state. It does not use
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

// decodeIndex reads size bytes of encodeIndex's output from r into a new
// Index. A snapshot that is short, long, inconsistent or fails its
// checksum gives an error wrapping errBadSnapshot; errors of r are
// returned as they are.
func decodeIndex(r io.Reader, size int64) (*Index, error) {
	if size < snapshotHeaderBytes+4 {
		return nil, fmt.Errorf("%w: %d bytes", errBadSnapshot, size)
	}
	d := snapshotDecoder{r: r, scratch: make([]byte, 64<<10)}
	header, err := d.read(snapshotHeaderBytes)
	if err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(header[0:]))
	idBytes := int(binary.LittleEndian.Uint32(header[4:]))
	rejections := int(binary.LittleEndian.Uint32(header[8:]))
	if want := snapshotSize(idBytes, n, rejections); size != int64(want) {
		return nil, fmt.Errorf("%w: %d bytes for %d entries, %d bytes of IDs and %d rejections; want %d",
			errBadSnapshot, size, n, idBytes, rejections, want)
	}

	ix := &Index{
		ends:           make([]uint32, n),
		hashes:         make([]Hash, n),
		acked:          make([]bool, n),
		rejectedAt:     make([]uint32, rejections),
		rejectedHashes: make([]Hash, rejections),
	}
	if ix.ids, err = d.readString(idBytes); err != nil {
		return nil, err
	}
	if err := d.readUint32s(ix.ends); err != nil {
		return nil, err
	}
	if err := d.readHashes(ix.hashes); err != nil {
		return nil, err
	}
	if err := d.readBits(ix.acked); err != nil {
		return nil, err
	}
	if err := d.readUint32s(ix.rejectedAt); err != nil {
		return nil, err
	}
	if err := d.readHashes(ix.rejectedHashes); err != nil {
		return nil, err
	}
	if err := d.checkEnd(); err != nil {
		return nil, err
	}
	if err := ix.checkLayout(); err != nil {
		return nil, err
	}
	if n == 0 {
		return &Index{}, nil
	}
	return ix, nil
}

// checkLayout checks what lookups rely on: end offsets that rise and end
// at the last ID byte, and rejected positions that rise within the
// entries. The order of the IDs themselves is left to the checksum.
func (ix *Index) checkLayout() error {
	previous := uint32(0)
	for i, end := range ix.ends {
		if end <= previous {
			return fmt.Errorf("%w: end offset %d of entry %d after %d", errBadSnapshot, end, i, previous)
		}
		previous = end
	}
	if int(previous) != len(ix.ids) {
		return fmt.Errorf("%w: the IDs end at %d of %d bytes", errBadSnapshot, previous, len(ix.ids))
	}
	for j, at := range ix.rejectedAt {
		if int(at) >= len(ix.ends) || (j > 0 && at <= ix.rejectedAt[j-1]) {
			return fmt.Errorf("%w: rejected position %d of %d entries out of order", errBadSnapshot, at, len(ix.ends))
		}
	}
	return nil
}

// snapshotDecoder reads a snapshot in pieces through a scratch buffer and
// keeps the CRC-32C of what it read.
type snapshotDecoder struct {
	r       io.Reader
	scratch []byte
	sum     uint32
}

// read returns the next size bytes, at most len(d.scratch), in the scratch
// buffer.
func (d *snapshotDecoder) read(size int) ([]byte, error) {
	part := d.scratch[:size]
	if _, err := io.ReadFull(d.r, part); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the data ends early", errBadSnapshot)
		}
		return nil, err
	}
	d.sum = crc32.Update(d.sum, castagnoli, part)
	return part, nil
}

// readString reads size bytes into a string without a second copy.
func (d *snapshotDecoder) readString(size int) (string, error) {
	var b strings.Builder
	b.Grow(size)
	for b.Len() < size {
		part, err := d.read(min(size-b.Len(), len(d.scratch)))
		if err != nil {
			return "", err
		}
		b.Write(part)
	}
	return b.String(), nil
}

func (d *snapshotDecoder) readUint32s(values []uint32) error {
	perRead := len(d.scratch) / 4
	for start := 0; start < len(values); start += perRead {
		batch := values[start:min(len(values), start+perRead)]
		part, err := d.read(4 * len(batch))
		if err != nil {
			return err
		}
		for i := range batch {
			batch[i] = binary.LittleEndian.Uint32(part[4*i:])
		}
	}
	return nil
}

func (d *snapshotDecoder) readHashes(hashes []Hash) error {
	const size = len(Hash{})
	perRead := len(d.scratch) / size
	for start := 0; start < len(hashes); start += perRead {
		batch := hashes[start:min(len(hashes), start+perRead)]
		part, err := d.read(size * len(batch))
		if err != nil {
			return err
		}
		for i := range batch {
			copy(batch[i][:], part[size*i:])
		}
	}
	return nil
}

// readBits reads len(flags) bits, least significant bit first, in whole
// bytes.
func (d *snapshotDecoder) readBits(flags []bool) error {
	perRead := 8 * len(d.scratch)
	for start := 0; start < len(flags); start += perRead {
		batch := flags[start:min(len(flags), start+perRead)]
		part, err := d.read((len(batch) + 7) / 8)
		if err != nil {
			return err
		}
		for i := range batch {
			batch[i] = part[i/8]&(1<<(i%8)) != 0
		}
	}
	return nil
}

// checkEnd reads the checksum, compares it and checks that no data
// follows.
func (d *snapshotDecoder) checkEnd() error {
	var stored [4]byte
	if _, err := io.ReadFull(d.r, stored[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: the checksum is missing", errBadSnapshot)
		}
		return err
	}
	if binary.LittleEndian.Uint32(stored[:]) != d.sum {
		return fmt.Errorf("%w: checksum mismatch", errBadSnapshot)
	}
	switch n, err := d.r.Read(stored[:1]); {
	case n > 0:
		return fmt.Errorf("%w: data after the checksum", errBadSnapshot)
	case err != nil && !errors.Is(err, io.EOF):
		return err
	}
	return nil
}

// chunkReader is an io.Reader over the BLOB column of rows, one chunk
// after the other.
type chunkReader struct {
	rows  *sql.Rows
	chunk sql.RawBytes // the rest of the current chunk; valid until the next rows.Next
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.chunk) == 0 {
		if !c.rows.Next() {
			if err := c.rows.Err(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		if err := c.rows.Scan(&c.chunk); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.chunk)
	c.chunk = c.chunk[n:]
	return n, nil
}
