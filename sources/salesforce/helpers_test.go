package salesforce

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atlas-sync/atlas-sync/sources"
)

// testdata holds the fixtures: Account.csv (a Data Export sample), two
// weekly exports of the same org (export-2026-11-16, export-2026-11-23), a
// Data Loader extract of the first week with 15-character IDs (dataloader)
// and an ISO-8859-1 file (latin1).
const testdata = "../../testdata/salesforce"

// exportPrefix is the name Data Export gives every archive of one org.
const exportPrefix = "WE_00D5g000004XyZaEAK"

// entry is one file inside a ZIP archive.
type entry struct {
	name    string
	content string
}

// fixture returns an entry named name with the content of a file under
// testdata.
func fixture(t *testing.T, name, file string) entry {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testdata, file))
	if err != nil {
		t.Fatal(err)
	}
	return entry{name: name, content: string(raw)}
}

// writeArchive writes a ZIP archive with entries and sets its
// modification time.
func writeArchive(t *testing.T, path string, modTime time.Time, entries ...entry) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := zip.NewWriter(file)
	for _, e := range entries {
		fw, err := w.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(fw, e.content); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, modTime, modTime); err != nil {
		t.Fatal(err)
	}
}

// writeExport writes the parts of one Data Export into dir, named
// WE_<org id>_1.ZIP and so on.
func writeExport(t *testing.T, dir string, modTime time.Time, parts ...[]entry) []string {
	t.Helper()
	var paths []string
	for i, entries := range parts {
		path := filepath.Join(dir, fmt.Sprintf("%s_%d.ZIP", exportPrefix, i+1))
		writeArchive(t, path, modTime, entries...)
		paths = append(paths, path)
	}
	return paths
}

// week1Parts is the export of 2026-11-16 in two parts, with Account.csv in
// the second.
func week1Parts(t *testing.T) [][]entry {
	return [][]entry{
		{fixture(t, "Contact.csv", "export-2026-11-16/Contact.csv")},
		{fixture(t, "Account.csv", "export-2026-11-16/Account.csv")},
	}
}

// week2Parts is the export of 2026-11-23 in two parts, with Account.csv in
// the first.
func week2Parts(t *testing.T) [][]entry {
	return [][]entry{
		{fixture(t, "Account.csv", "export-2026-11-23/Account.csv")},
		{fixture(t, "Contact.csv", "export-2026-11-23/Contact.csv")},
	}
}

var (
	week1Time = time.Date(2026, 11, 16, 6, 0, 0, 0, time.UTC)
	week2Time = time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
)

// result is one outcome of Next.
type result struct {
	position string
	skip     string
	values   map[string]string
	column   string // of a row error
	err      string // of a row error
}

// readAll reads src to io.EOF, failing on any error that is not a row
// error.
func readAll(t *testing.T, src *Source) []result {
	t.Helper()
	var results []result
	for i := 0; ; i++ {
		if i > 100_000 {
			t.Fatal("Next did not reach io.EOF")
		}
		rec, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return results
		}
		if err != nil {
			var rowErr *sources.RowError
			if !errors.As(err, &rowErr) {
				t.Fatalf("Next: %v", err)
			}
			results = append(results, result{position: rowErr.Position, column: rowErr.Column, err: rowErr.Err.Error()})
			continue
		}
		values := make(map[string]string, len(rec.Values))
		for j, column := range src.Columns() {
			values[column] = rec.Values[j].Text
		}
		results = append(results, result{position: rec.Position, skip: rec.Skip, values: values})
	}
}

// openAll opens opts and reads every record.
func openAll(t *testing.T, opts Options) []result {
	t.Helper()
	src, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	results := readAll(t, src)
	if err := src.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return results
}

// accounts returns the Ids of the records that are not skipped, in order.
func accounts(results []result) []string {
	var ids []string
	for _, r := range results {
		if r.err == "" && r.skip == "" {
			ids = append(ids, r.values["Id"])
		}
	}
	return ids
}
