package salesforce

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/sources"
	csvsource "github.com/atlas-sync/atlas-sync/sources/csv"
)

// SkipDeleted is the Record.Skip reason of a row with IsDeleted=true.
const SkipDeleted = "IsDeleted=true (recycle bin)"

// errClosed is returned by Next after Close.
var errClosed = errors.New("the Salesforce source is closed")

// Options configure Open.
type Options struct {
	// Path is an object CSV file, a Data Export ZIP archive, a directory
	// of exports or a glob.
	Path string

	// Object is the object's file name inside an export. Default
	// Account.csv; ".csv" is added when it is missing.
	Object string

	// Encoding of the CSV files, as in the csv source: "" or "utf-8"
	// (default), "latin-1", "windows-1252" or another label.
	Encoding string

	// FillMissing lists columns that are added, always empty, when the
	// files lack them, so that a mapping reading them works with an
	// export that selected fewer fields. PresetColumns fits.
	FillMissing []string

	// Logger receives which export and files are read. Nil logs nothing.
	Logger *zap.Logger
}

// Source reads one object of a Salesforce export. It implements
// sources.Source and, like every source, is not safe for concurrent use.
type Source struct {
	encoding string
	inputs   []input
	next     int // index in inputs of the input to open after current

	current *csvsource.Source
	archive *zip.ReadCloser // archive of current, nil for a plain file
	header  []string        // the files' header, after renaming
	columns []string        // header, then the filled columns
	values  []sources.Value

	idColumn      int   // -1 when there is no Id column
	deletedColumn int   // -1 when there is no IsDeleted column
	refColumns    []int // other ID columns, converted when they hold an ID

	closed bool
}

var _ sources.Source = (*Source)(nil)

// Open selects the files to read at opts.Path, checks that they share one
// header row and returns a source positioned at the first record.
//
// A directory holds exports: Data Export archives, grouped into exports by
// name (<prefix>_<n>.ZIP), and plain object files (Account.csv), either in
// the directory or one level below. The newest complete export is read:
// newest by the latest modification time of its files, complete when its
// part numbers run from 1 to N and every part is a readable ZIP archive.
// A glob reads every CSV file it matches in name order as one data set, or
// picks the newest complete export among the ZIP archives it matches. A ZIP
// archive or a CSV file is read as is.
func Open(ctx context.Context, opts Options) (*Source, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if strings.TrimSpace(opts.Path) == "" {
		return nil, errors.New("open Salesforce export: missing path; set source.path to an export directory, a ZIP archive, a CSV file or a glob")
	}
	object := objectFileName(opts.Object)

	sel, skipped, err := selectInputs(opts.Path, object)
	for _, reason := range skipped {
		log.Warn("incomplete Salesforce export skipped", zap.String("path", opts.Path), zap.String("reason", reason))
	}
	if err != nil {
		return nil, err
	}
	log.Info("reading Salesforce export",
		zap.String("path", opts.Path),
		zap.String("export", sel.export),
		zap.String("object", object),
		zap.Strings("files", sel.files),
		zap.Strings("inputs", inputNames(sel.inputs)))

	s := &Source{encoding: opts.Encoding, inputs: sel.inputs}
	if err := s.checkHeaders(ctx); err != nil {
		return nil, err
	}
	s.setColumns(opts.FillMissing, log)
	if err := s.openNext(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func inputNames(inputs []input) []string {
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = in.name
	}
	return names
}

// checkHeaders reads the header row of every input, so that inputs that
// do not match stop the run before anything is sent.
func (s *Source) checkHeaders(ctx context.Context) error {
	for i, in := range s.inputs {
		src, archive, err := s.open(ctx, in)
		if err != nil {
			return err
		}
		header := canonicalColumns(src.Columns())
		closeErr := closeInput(src, archive)
		if closeErr != nil {
			return closeErr
		}
		if i == 0 {
			s.header = header
			continue
		}
		if !slices.Equal(header, s.header) {
			return fmt.Errorf("%s has a different header row than %s; the files of one object must have the same columns in the same order", in.name, s.inputs[0].name)
		}
	}
	return nil
}

// setColumns finds the special columns and appends the missing fill
// columns.
func (s *Source) setColumns(fill []string, log *zap.Logger) {
	s.columns = slices.Clone(s.header)
	var added []string
	for _, name := range fill {
		if !slices.Contains(s.columns, name) {
			s.columns = append(s.columns, name)
			added = append(added, name)
		}
	}
	if len(added) > 0 {
		log.Info("Salesforce export lacks columns; the fields that read them are left out", zap.Strings("columns", added))
	}
	s.values = make([]sources.Value, len(s.columns))

	s.idColumn, s.deletedColumn = -1, -1
	for i, name := range s.header {
		switch {
		case name == "Id":
			s.idColumn = i
		case name == "IsDeleted":
			s.deletedColumn = i
		case isReferenceColumn(name):
			s.refColumns = append(s.refColumns, i)
		}
	}
}

// open opens the CSV of in.
func (s *Source) open(ctx context.Context, in input) (*csvsource.Source, *zip.ReadCloser, error) {
	if in.archive == "" {
		src, err := csvsource.Open(ctx, csvsource.Options{Path: in.path, Name: in.name, Encoding: s.encoding})
		return src, nil, err
	}

	archive, err := zip.OpenReader(in.archive)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", in.archive, err)
	}
	// Look the entry up by its exact name: archive.Open would reject names
	// that are not valid fs.FS paths.
	index := slices.IndexFunc(archive.File, func(f *zip.File) bool { return f.Name == in.path })
	if index < 0 {
		archive.Close()
		return nil, nil, fmt.Errorf("open %s: the entry is no longer in the archive", in.name)
	}
	entry, err := archive.File[index].Open()
	if err != nil {
		archive.Close()
		return nil, nil, fmt.Errorf("open %s: %w", in.name, err)
	}
	src, err := csvsource.OpenReader(ctx, entry, in.size, csvsource.Options{Path: in.name, Encoding: s.encoding})
	if err != nil {
		archive.Close()
		return nil, nil, err
	}
	return src, archive, nil
}

// openNext makes the next input the current one.
func (s *Source) openNext(ctx context.Context) error {
	in := s.inputs[s.next]
	src, archive, err := s.open(ctx, in)
	if err != nil {
		return err
	}
	if header := canonicalColumns(src.Columns()); !slices.Equal(header, s.header) {
		closeInput(src, archive)
		return fmt.Errorf("%s changed while it was read: its header row differs from the one checked when the run started", in.name)
	}
	s.current, s.archive = src, archive
	s.next++
	return nil
}

func closeInput(src *csvsource.Source, archive *zip.ReadCloser) error {
	err := src.Close()
	if archive != nil {
		if closeErr := archive.Close(); err == nil && closeErr != nil {
			err = fmt.Errorf("close archive: %w", closeErr)
		}
	}
	return err
}

// Columns returns the header's column names, with standard field names in
// their API spelling, followed by the columns added from FillMissing.
func (s *Source) Columns() []string { return s.columns }

// Next returns the next record of the object, reading the inputs one after
// the other, or io.EOF after the last record of the last input. Id holds
// the 18-character form of the record ID, and so do the other ID columns
// (ParentId, OwnerId and any column whose name ends in Id) when they hold
// an ID. A row with IsDeleted true has Skip set to SkipDeleted. An Id or
// IsDeleted value that is not valid makes a *sources.RowError.
func (s *Source) Next(ctx context.Context) (sources.Record, error) {
	if err := ctx.Err(); err != nil {
		return sources.Record{}, err
	}
	if s.closed {
		return sources.Record{}, errClosed
	}
	for {
		if s.current == nil {
			if s.next >= len(s.inputs) {
				return sources.Record{}, io.EOF
			}
			if err := s.openNext(ctx); err != nil {
				return sources.Record{}, err
			}
		}

		rec, err := s.current.Next(ctx)
		if errors.Is(err, io.EOF) {
			closeErr := closeInput(s.current, s.archive)
			s.current, s.archive = nil, nil
			if closeErr != nil {
				return sources.Record{}, closeErr
			}
			continue
		}
		if err != nil {
			return rec, err
		}
		return s.convert(rec)
	}
}

// convert applies the Salesforce semantics to one record.
func (s *Source) convert(rec sources.Record) (sources.Record, error) {
	n := copy(s.values, rec.Values)
	clear(s.values[n:])
	rec.Values = s.values

	if s.deletedColumn >= 0 {
		deleted, err := parseBoolean(s.values[s.deletedColumn].Text)
		if err != nil {
			return rec, &sources.RowError{Position: rec.Position, Column: "IsDeleted", Err: err}
		}
		if deleted {
			rec.Skip = SkipDeleted
			return rec, nil
		}
	}

	if s.idColumn >= 0 {
		if id := s.values[s.idColumn].Text; id != "" {
			caseSafe, err := CaseSafeID(strings.TrimSpace(id))
			if err != nil {
				return rec, &sources.RowError{Position: rec.Position, Column: "Id", Err: err}
			}
			s.values[s.idColumn].Text = caseSafe
		}
	}
	for _, i := range s.refColumns {
		if caseSafe, err := CaseSafeID(s.values[i].Text); err == nil {
			s.values[i].Text = caseSafe
		}
	}
	return rec, nil
}

// parseBoolean reads a checkbox value as exports write it: true or false
// (Data Export, Bulk API) or 1 or 0, in any case. Empty is false.
func parseBoolean(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1":
		return true, nil
	case "false", "0", "":
		return false, nil
	}
	return false, fmt.Errorf("invalid boolean %q: expected true, false, 1 or 0", s)
}

// Close closes the file being read. Calls after the first return nil.
func (s *Source) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.current == nil {
		return nil
	}
	err := closeInput(s.current, s.archive)
	s.current, s.archive = nil, nil
	return err
}
