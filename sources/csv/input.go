package csv

import (
	"io"
	"sync/atomic"
	"unicode/utf8"
)

// inputReader passes the file's bytes through unchanged, counts them for
// progress reports and, when validate is set, records the file offsets of
// bytes that are not part of a valid UTF-8 sequence. It sits below the
// bufio.Reader, so it runs at most one buffer ahead of the CSV parser, and
// the offsets it holds are bounded by that read-ahead.
type inputReader struct {
	r        io.Reader
	validate bool

	offset    int64        // file offset of the next byte read from r
	bytesRead atomic.Int64 // offset, readable from other goroutines

	// pending holds an incomplete UTF-8 sequence at the end of the last
	// chunk (at most 3 bytes), which starts at file offset pendingAt.
	pending   []byte
	pendingAt int64
	scratch   []byte

	invalid []int64 // offsets of invalid bytes not yet claimed by a record, ascending
}

func newInputReader(r io.Reader, validate bool) *inputReader {
	return &inputReader{
		r:        r,
		validate: validate,
		pending:  make([]byte, 0, utf8.UTFMax),
		scratch:  make([]byte, 0, 2*utf8.UTFMax),
	}
}

func (in *inputReader) Read(p []byte) (int, error) {
	n, err := in.r.Read(p)
	if in.validate && n > 0 {
		in.scan(p[:n], in.offset)
	}
	in.offset += int64(n)
	in.bytesRead.Store(in.offset)
	if err == io.EOF && len(in.pending) > 0 {
		// The file ends inside a multi-byte sequence.
		in.recordInvalid(in.pending, in.pendingAt)
		in.pending = in.pending[:0]
	}
	return n, err
}

// scan checks chunk, which starts at file offset base.
func (in *inputReader) scan(chunk []byte, base int64) {
	i := 0
	if len(in.pending) > 0 {
		// Finish the sequence left over from the last chunk. Taking up to
		// UTFMax-1 bytes from chunk is enough to decide it.
		work := append(in.scratch[:0], in.pending...)
		work = append(work, chunk[:min(utf8.UTFMax-1, len(chunk))]...)
		j := 0
		for j < len(in.pending) {
			if !utf8.FullRune(work[j:]) {
				// chunk is shorter than the rest of the sequence, and
				// all of it is now in work.
				in.pendingAt += int64(j)
				in.pending = append(in.pending[:0], work[j:]...)
				return
			}
			r, size := utf8.DecodeRune(work[j:])
			if r == utf8.RuneError && size == 1 {
				in.invalid = append(in.invalid, in.pendingAt+int64(j))
			}
			j += size
		}
		i = j - len(in.pending)
		in.pending = in.pending[:0]
	}

	rest := chunk[i:]
	cut := len(rest)
	for k := len(rest) - 1; k >= 0 && k >= len(rest)-(utf8.UTFMax-1); k-- {
		if utf8.RuneStart(rest[k]) {
			if !utf8.FullRune(rest[k:]) {
				cut = k
			}
			break
		}
	}
	if body := rest[:cut]; !utf8.Valid(body) {
		in.recordInvalid(body, base+int64(i))
	}
	if cut < len(rest) {
		in.pending = append(in.pending[:0], rest[cut:]...)
		in.pendingAt = base + int64(i+cut)
	}
}

// recordInvalid appends the offsets of the invalid bytes in data, which
// starts at file offset base.
func (in *inputReader) recordInvalid(data []byte, base int64) {
	for j := 0; j < len(data); {
		r, size := utf8.DecodeRune(data[j:])
		if r == utf8.RuneError && size == 1 {
			in.invalid = append(in.invalid, base+int64(j))
		}
		j += size
	}
}

// claimInvalid removes the recorded offsets before end and returns the
// first of them, if any.
func (in *inputReader) claimInvalid(end int64) (first int64, found bool) {
	k := 0
	for k < len(in.invalid) && in.invalid[k] < end {
		k++
	}
	if k == 0 {
		return 0, false
	}
	first = in.invalid[0]
	in.invalid = in.invalid[k:]
	return first, true
}
