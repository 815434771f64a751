// Package csv reads accounts from one delimited text file with a header
// row, streaming it record by record in constant memory. It owns decoding
// (UTF-8 validation or a configured legacy encoding) and record positions.
// Finding files in a directory or glob, and mapping columns to Atlas
// fields, are left to its callers.
//
// Parsing follows RFC 4180 as implemented by encoding/csv: fields may be
// quoted, a quoted field may contain the delimiter, line breaks and doubled
// quotes (""). encoding/csv turns a CRLF line break inside a quoted field
// into LF, so a value reads the same whether the file was written with CRLF
// or LF line endings. Empty lines between records are skipped.
package csv

import (
	"bufio"
	"bytes"
	"context"
	stdcsv "encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/transform"

	"github.com/atlas-sync/atlas-sync/sources"
)

// readBufferSize is the size of the buffer between the file and the parser.
const readBufferSize = 64 << 10

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Options configure Open.
type Options struct {
	// Path of the file to read.
	Path string

	// Name prefixes each Record.Position ("accounts.csv:12"). Default
	// Path as given.
	Name string

	// Delimiter separates fields. Default ','. It cannot be a quote, a
	// line break or the Unicode replacement character.
	Delimiter rune

	// Encoding of the file: "" or "utf-8" (default), "latin-1" or
	// "iso-8859-1", "windows-1252" or "cp1252", or any label that
	// golang.org/x/text/encoding/htmlindex recognises.
	Encoding string

	// MaxRecordSize bounds one record, header included, in decoded bytes.
	// A longer record ends the read with ErrRecordTooLarge instead of
	// being held in memory. Default DefaultMaxRecordSize (16 MiB).
	MaxRecordSize int64
}

// Source reads one CSV file. It implements sources.Source; like every
// source, it is not safe for concurrent use, except for BytesRead and Size.
type Source struct {
	path    string
	name    string
	file    io.Closer // the file, or the input of OpenReader
	size    int64
	input   *inputReader
	buffer  *bufio.Reader
	reader  *stdcsv.Reader
	isUTF8  bool
	bomLen  int64 // bytes of the byte order mark skipped before the parser
	columns []string
	limiter *recordLimiter

	// lastLine is the last line of the last record parsed, for messages
	// about the record after it.
	lastLine int

	// checkSize is set by Open: at the end of the input the file's size is
	// compared with its size at Open (see ErrFileChanged).
	checkSize   bool
	checkedSize bool

	values    []sources.Value
	positions strings.Builder // see position
	closed    bool
}

var _ sources.Source = (*Source)(nil)

// Open opens the file, reads its header row and returns a source positioned
// at the first record. The header is required; empty or duplicate column
// names are an error, as is a header that is not valid in the configured
// encoding.
func Open(ctx context.Context, opts Options) (*Source, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Delimiter == 0 {
		opts.Delimiter = ','
	}
	if err := checkDelimiter(opts.Delimiter); err != nil {
		return nil, fmt.Errorf("open %s: %w", opts.Path, err)
	}
	decoder, err := lookupEncoding(opts.Encoding)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", opts.Path, err)
	}

	// Stat before opening: opening a FIFO for reading blocks until a
	// writer appears.
	info, err := os.Stat(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", opts.Path, err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("open %s: is a directory; set the path of a CSV file", opts.Path)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("open %s: not a regular file (mode %s); read CSV from a regular file", opts.Path, info.Mode().Type())
	}
	file, err := os.Open(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", opts.Path, err)
	}

	s := &Source{
		path:      opts.Path,
		name:      opts.Name,
		file:      file,
		size:      info.Size(),
		isUTF8:    decoder == nil,
		checkSize: true,
	}
	if s.name == "" {
		s.name = opts.Path
	}
	if err := s.start(file, decoder, opts); err != nil {
		file.Close()
		return nil, err
	}
	return s, nil
}

// start sets up decoding and parsing of r and reads the header row.
func (s *Source) start(r io.Reader, decoder encoding.Encoding, opts Options) error {
	s.input = newInputReader(r, s.isUTF8)

	var decoded io.Reader = s.input
	if !s.isUTF8 {
		var err error
		decoded, err = s.decodingReader(decoder.NewDecoder(), opts.Encoding)
		if err != nil {
			return err
		}
	}
	maxRecord := opts.MaxRecordSize
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecordSize
	}
	s.limiter = &recordLimiter{r: decoded, max: maxRecord, slack: readBufferSize}
	s.buffer = bufio.NewReaderSize(s.limiter, readBufferSize)
	if err := s.skipBOM(); err != nil {
		return err
	}

	s.reader = stdcsv.NewReader(s.buffer)
	s.reader.Comma = opts.Delimiter
	s.reader.FieldsPerRecord = -1 // Next checks the count, with a better message.
	s.reader.ReuseRecord = true

	if err := s.readHeader(); err != nil {
		return err
	}
	s.values = make([]sources.Value, len(s.columns))
	return nil
}

func checkDelimiter(d rune) error {
	if d == '"' || d == '\r' || d == '\n' || d == utf8.RuneError || !utf8.ValidRune(d) {
		return fmt.Errorf("invalid delimiter %q; use one character such as ',' or ';', not a quote or a line break", d)
	}
	return nil
}

// decodingReader wraps the input in decoder. A file that starts with a
// UTF-8 byte order mark is rejected, because decoding it with a legacy
// encoding would turn every non-ASCII character into mojibake.
func (s *Source) decodingReader(decoder transform.Transformer, encodingName string) (io.Reader, error) {
	prefix := make([]byte, len(utf8BOM))
	n, err := io.ReadFull(s.input, prefix)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", s.path, err)
	}
	if n == len(utf8BOM) && bytes.Equal(prefix, utf8BOM) {
		return nil, fmt.Errorf("open %s: the file starts with a UTF-8 byte order mark, but source.encoding is %q; remove the encoding setting to read it as UTF-8", s.path, encodingName)
	}
	return transform.NewReader(io.MultiReader(bytes.NewReader(prefix[:n]), s.input), decoder), nil
}

// skipBOM drops a leading byte order mark. After decoding, a UTF-16 BOM
// appears as the same three bytes.
func (s *Source) skipBOM() error {
	head, err := s.buffer.Peek(len(utf8BOM))
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", s.path, err)
	}
	if bytes.Equal(head, utf8BOM) {
		if _, err := s.buffer.Discard(len(utf8BOM)); err != nil {
			return fmt.Errorf("read %s: %w", s.path, err)
		}
		s.bomLen = int64(len(utf8BOM))
	}
	return nil
}

func (s *Source) readHeader() error {
	header, err := s.reader.Read()
	headerEnd := s.reader.InputOffset()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: the file is empty; the first line must be a header row with the column names", s.path)
	}
	if err != nil {
		var parseErr *stdcsv.ParseError
		if errors.As(err, &parseErr) {
			return fmt.Errorf("read header row of %s: %s", s.path, describeParseError(parseErr, false))
		}
		if errors.Is(err, ErrRecordTooLarge) {
			return fmt.Errorf("read header row of %s: %w (%d bytes); the first line is not a CSV header, or the file is not CSV",
				s.path, ErrRecordTooLarge, s.limiter.max)
		}
		return fmt.Errorf("read header row of %s: %w", s.path, err)
	}
	if offset, found := s.input.claimInvalid(headerEnd + s.bomLen); found {
		return fmt.Errorf("read header row of %s: %s", s.path, invalidUTF8Message(offset, header))
	}

	s.columns = make([]string, len(header))
	copy(s.columns, header)
	s.recordParsed(header)
	return checkHeader(s.path, s.columns)
}

// checkHeader rejects empty and duplicate column names, listing all of them.
func checkHeader(path string, columns []string) error {
	var empty []string
	seen := make(map[string][]int, len(columns))
	var order []string
	for i, name := range columns {
		if strings.TrimSpace(name) == "" {
			empty = append(empty, strconv.Itoa(i+1))
			continue
		}
		if _, ok := seen[name]; !ok {
			order = append(order, name)
		}
		seen[name] = append(seen[name], i+1)
	}

	var problems []string
	if len(empty) > 0 {
		problems = append(problems, fmt.Sprintf("empty column name at position %s", strings.Join(empty, ", ")))
	}
	for _, name := range order {
		if positions := seen[name]; len(positions) > 1 {
			text := make([]string, len(positions))
			for i, p := range positions {
				text[i] = strconv.Itoa(p)
			}
			problems = append(problems, fmt.Sprintf("duplicate column name %q at positions %s", name, strings.Join(text, ", ")))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("invalid header row in %s: %s; every column needs a unique, non-empty name", path, strings.Join(problems, "; "))
}

// Columns returns the header's column names.
func (s *Source) Columns() []string { return s.columns }

// Size returns the file's size in bytes when it was opened.
func (s *Source) Size() int64 { return s.size }

// BytesRead returns how many bytes of the file have been read so far,
// including read-ahead of up to 64 KiB. Together with Size it gives the
// progress of a run. It is safe to call from any goroutine.
func (s *Source) BytesRead() int64 { return s.input.bytesRead.Load() }

// Next returns the next record, or io.EOF after the last one. A record that
// cannot be parsed, contains invalid UTF-8 (when the encoding is UTF-8) or
// has a different number of fields than the header yields a
// *sources.RowError, and the following call reads on. The reader recovers
// from a malformed quote at the next line, except that a quote that is never
// closed consumes the rest of the file.
func (s *Source) Next(ctx context.Context) (sources.Record, error) {
	if err := ctx.Err(); err != nil {
		return sources.Record{}, err
	}
	if s.closed {
		return sources.Record{}, fmt.Errorf("read %s: %w", s.path, os.ErrClosed)
	}

	fields, err := s.reader.Read()
	invalidAt, hasInvalid := s.input.claimInvalid(s.reader.InputOffset() + s.bomLen)

	if err != nil {
		if errors.Is(err, io.EOF) {
			if err := s.checkUnchanged(); err != nil {
				return sources.Record{}, err
			}
			return sources.Record{}, io.EOF
		}
		if errors.Is(err, ErrRecordTooLarge) {
			return sources.Record{}, s.recordTooLargeError()
		}
		var parseErr *stdcsv.ParseError
		if errors.As(err, &parseErr) {
			s.lastLine = parseErr.Line
			s.limiter.markRecordEnd(s.reader.InputOffset() + s.bomLen)
			atEOF := false
			if _, peekErr := s.buffer.Peek(1); errors.Is(peekErr, io.EOF) {
				atEOF = true
			}
			position := s.position(parseErr.StartLine)
			return sources.Record{Position: position}, &sources.RowError{
				Position: position,
				Err:      errors.New(describeParseError(parseErr, atEOF)),
			}
		}
		return sources.Record{}, fmt.Errorf("read %s: %w", s.path, err)
	}

	line, _ := s.reader.FieldPos(0)
	position := s.position(line)
	record := sources.Record{Position: position}
	s.recordParsed(fields)
	if err := s.checkLastRecord(); err != nil {
		return sources.Record{}, err
	}

	if hasInvalid {
		column := ""
		for i, field := range fields {
			if !utf8.ValidString(field) && i < len(s.columns) {
				column = s.columns[i]
				break
			}
		}
		return record, &sources.RowError{
			Position: position,
			Column:   column,
			Err:      errors.New(invalidUTF8Message(invalidAt, fields)),
		}
	}
	if len(fields) != len(s.columns) {
		return record, &sources.RowError{
			Position: position,
			Err:      fmt.Errorf("has %d fields, header has %d; check the delimiter and quoting of this record", len(fields), len(s.columns)),
		}
	}

	for i, field := range fields {
		s.values[i] = sources.Value{Text: field}
	}
	record.Values = s.values
	return record, nil
}

// recordParsed notes the end of a record the parser returned: its last
// line, and its end offset for the record size limit.
func (s *Source) recordParsed(fields []string) {
	if len(fields) > 0 {
		last := len(fields) - 1
		line, _ := s.reader.FieldPos(last)
		// encoding/csv counts a line per line break, and a quoted field
		// keeps each of its line breaks as one \n.
		s.lastLine = line + strings.Count(fields[last], "\n")
	}
	s.limiter.markRecordEnd(s.reader.InputOffset() + s.bomLen)
}

// positionChunkBytes is the buffer that consecutive positions share.
const positionChunkBytes = 4 << 10

// position formats "name:line". Consecutive positions are slices of one
// string built in s.positions, so that most records cost no allocation;
// a position that is kept keeps its chunk of positionChunkBytes alive.
// strings.Builder never changes bytes it has returned, and a full chunk
// is left to the positions that use it, not reused.
func (s *Source) position(line int) string {
	var digits [20]byte
	number := strconv.AppendInt(digits[:0], int64(line), 10)
	size := len(s.name) + 1 + len(number)
	if s.positions.Cap()-s.positions.Len() < size {
		s.positions = strings.Builder{}
		s.positions.Grow(max(positionChunkBytes, size))
	}
	start := s.positions.Len()
	s.positions.WriteString(s.name)
	s.positions.WriteByte(':')
	s.positions.Write(number)
	return s.positions.String()[start:]
}

// Close closes the file. Calls after the first return nil.
func (s *Source) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.file.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}

// describeParseError words a csv.ParseError for people.
func describeParseError(err *stdcsv.ParseError, atEOF bool) string {
	switch {
	case errors.Is(err.Err, stdcsv.ErrBareQuote):
		return fmt.Sprintf(`bare " in an unquoted field at line %d, column %d; quote the whole field and double the quotes inside it ("")`, err.Line, err.Column)
	case errors.Is(err.Err, stdcsv.ErrQuote) && atEOF:
		return fmt.Sprintf(`extraneous or missing " in a quoted field at line %d, column %d; the parser reached the end of the file, so a quote opened at line %d may never be closed`, err.Line, err.Column, err.StartLine)
	case errors.Is(err.Err, stdcsv.ErrQuote):
		return fmt.Sprintf(`extraneous or missing " in a quoted field at line %d, column %d; double the quotes inside a quoted field ("")`, err.Line, err.Column)
	default:
		return fmt.Sprintf("line %d, column %d: %v", err.Line, err.Column, err.Err)
	}
}

// invalidUTF8Message names the file offset of the first invalid byte and,
// as a hint to the actual encoding, its value.
func invalidUTF8Message(offset int64, fields []string) string {
	for _, field := range fields {
		for i := 0; i < len(field); {
			r, size := utf8.DecodeRuneInString(field[i:])
			if r == utf8.RuneError && size == 1 {
				return fmt.Sprintf("invalid UTF-8 at byte offset %d (0x%02X); the file is not UTF-8: set source.encoding, for example windows-1252", offset, field[i])
			}
			i += size
		}
	}
	return fmt.Sprintf("invalid UTF-8 at byte offset %d; the file is not UTF-8: set source.encoding, for example windows-1252", offset)
}
