package csv

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// DefaultMaxRecordSize is the default of Options.MaxRecordSize: 16 MiB.
const DefaultMaxRecordSize = 16 << 20

// ErrRecordTooLarge means one record (or the header row) is longer than
// Options.MaxRecordSize. It ends the read, because the parser cannot find
// the next record boundary without reading the oversized one whole.
var ErrRecordTooLarge = errors.New("record exceeds the maximum record size")

// ErrFileChanged means the file's size at the end of the read differs from
// its size when it was opened: another process wrote to it meanwhile, so
// the last record read may be cut short.
var ErrFileChanged = errors.New("the file changed while it was read")

// recordLimiter sits between the decoded input and the bufio.Reader that
// feeds encoding/csv. encoding/csv keeps a whole record in memory, so
// without a bound a file with one huge line (or an unclosed quote) would be
// read into memory whole. The limiter counts decoded bytes handed to the
// buffer and fails once they run more than max bytes (plus the buffer's
// read-ahead) past the end of the last complete record. Its error is
// sticky, because bufio.Reader reports an error from below only once.
type recordLimiter struct {
	r           io.Reader
	max         int64
	slack       int64 // read-ahead of the buffer above
	delivered   int64 // decoded bytes handed to the buffer
	recordStart int64 // decoded offset of the end of the last record
	err         error
}

func (l *recordLimiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	allowed := l.recordStart + l.max + l.slack - l.delivered
	if allowed <= 0 {
		l.err = ErrRecordTooLarge
		return 0, l.err
	}
	if int64(len(p)) > allowed {
		p = p[:allowed]
	}
	n, err := l.r.Read(p)
	l.delivered += int64(n)
	return n, err
}

// markRecordEnd records that the parser consumed every byte before offset.
func (l *recordLimiter) markRecordEnd(offset int64) {
	l.recordStart = offset
}

// recordTooLargeError words ErrRecordTooLarge with the line after which
// the oversized record starts.
func (s *Source) recordTooLargeError() error {
	return fmt.Errorf("read %s: the record after line %d: %w (%d bytes); check the quoting near that line, or whether the file is CSV at all",
		s.path, s.lastLine, ErrRecordTooLarge, s.limiter.max)
}

// checkLastRecord runs checkUnchanged when the record just parsed is the
// last one, so that a record cut short by a writer is not returned.
func (s *Source) checkLastRecord() error {
	if !s.checkSize || s.checkedSize {
		return nil
	}
	if _, err := s.buffer.Peek(1); !errors.Is(err, io.EOF) {
		return nil
	}
	return s.checkUnchanged()
}

// checkUnchanged compares the open file's size with its size at Open. It
// runs once, at the end of the input.
func (s *Source) checkUnchanged() error {
	file, ok := s.file.(*os.File)
	if !ok || !s.checkSize || s.checkedSize {
		return nil
	}
	s.checkedSize = true
	info, err := file.Stat()
	if err != nil {
		return fmt.Errorf("stat %s at the end of the read: %w", s.path, err)
	}
	if info.Size() != s.size {
		return fmt.Errorf("read %s: %w: it had %d bytes when opened and has %d now; "+
			"let the export finish (or write it to a temporary name and rename it) before the sync reads it",
			s.path, ErrFileChanged, s.size, info.Size())
	}
	return nil
}
