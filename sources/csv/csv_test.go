package csv

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/atlas-sync/atlas-sync/sources"
)

// row is one result of Next, flattened for comparison.
type row struct {
	Position string
	Values   []string
	Column   string // RowError.Column
	Err      string // substring expected in the row error, "" for a record
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "accounts.csv")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// readAll reads src to io.EOF and fails the test on any error other than a
// *sources.RowError.
func readAll(t *testing.T, src *Source) []row {
	t.Helper()
	var rows []row
	for i := 0; ; i++ {
		if i > 1_000_000 {
			t.Fatal("Next did not reach io.EOF")
		}
		rec, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			var rowErr *sources.RowError
			if !errors.As(err, &rowErr) {
				t.Fatalf("Next: fatal error %v", err)
			}
			if rowErr.Position != rec.Position {
				t.Errorf("RowError.Position %q differs from Record.Position %q", rowErr.Position, rec.Position)
			}
			rows = append(rows, row{Position: rowErr.Position, Column: rowErr.Column, Err: rowErr.Err.Error()})
			continue
		}
		values := make([]string, len(rec.Values))
		for j, v := range rec.Values {
			values[j] = v.Text
		}
		rows = append(rows, row{Position: rec.Position, Values: values})
	}
}

func openString(t *testing.T, content string, opts Options) (*Source, error) {
	t.Helper()
	opts.Path = writeFile(t, content)
	opts.Name = "accounts.csv"
	src, err := Open(context.Background(), opts)
	if err == nil {
		t.Cleanup(func() { src.Close() })
	}
	return src, err
}

func TestSourceReadsEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		content string
		opts    Options
		columns []string
		rows    []row
	}{
		{
			name:    "LF without BOM",
			content: "id,name\n1,Acme\n2,Globex\n",
			columns: []string{"id", "name"},
			rows: []row{
				{Position: "accounts.csv:2", Values: []string{"1", "Acme"}},
				{Position: "accounts.csv:3", Values: []string{"2", "Globex"}},
			},
		},
		{
			name:    "BOM and CRLF",
			content: "\uFEFFid,name\r\n1,Acme\r\n",
			columns: []string{"id", "name"},
			rows:    []row{{Position: "accounts.csv:2", Values: []string{"1", "Acme"}}},
		},
		{
			name:    "no trailing line break",
			content: "id,name\n1,Acme",
			columns: []string{"id", "name"},
			rows:    []row{{Position: "accounts.csv:2", Values: []string{"1", "Acme"}}},
		},
		{
			name:    "embedded CRLF becomes LF",
			content: "id,street\r\n1,\"400 Market St\r\nSuite 12\"\r\n2,x\r\n",
			columns: []string{"id", "street"},
			rows: []row{
				{Position: "accounts.csv:2", Values: []string{"1", "400 Market St\nSuite 12"}},
				{Position: "accounts.csv:4", Values: []string{"2", "x"}},
			},
		},
		{
			name:    "doubled quotes and delimiter inside quotes",
			content: "id,name\n1,\"Granite \"\"GP\"\", Holdings\"\n",
			columns: []string{"id", "name"},
			rows:    []row{{Position: "accounts.csv:2", Values: []string{"1", `Granite "GP", Holdings`}}},
		},
		{
			name:    "blank lines are skipped",
			content: "id,name\n\n1,Acme\n\n\n2,Globex\n",
			columns: []string{"id", "name"},
			rows: []row{
				{Position: "accounts.csv:3", Values: []string{"1", "Acme"}},
				{Position: "accounts.csv:6", Values: []string{"2", "Globex"}},
			},
		},
		{
			name:    "wrong field count",
			content: "id,name,city\n1,Acme\n2,Globex,Bern,extra\n3,Initech,Austin\n",
			columns: []string{"id", "name", "city"},
			rows: []row{
				{Position: "accounts.csv:2", Err: "has 2 fields, header has 3"},
				{Position: "accounts.csv:3", Err: "has 4 fields, header has 3"},
				{Position: "accounts.csv:4", Values: []string{"3", "Initech", "Austin"}},
			},
		},
		{
			name:    "malformed quote then a good row",
			content: "id,name\n1,\"Acme\"x\n2,Globex\n",
			columns: []string{"id", "name"},
			rows: []row{
				{Position: "accounts.csv:2", Err: `extraneous or missing " in a quoted field at line 2, column 8`},
				{Position: "accounts.csv:3", Values: []string{"2", "Globex"}},
			},
		},
		{
			name:    "bare quote then a good row",
			content: "id,name\n1,Ac\"me\n2,Globex\n",
			columns: []string{"id", "name"},
			rows: []row{
				{Position: "accounts.csv:2", Err: `bare " in an unquoted field at line 2, column 5`},
				{Position: "accounts.csv:3", Values: []string{"2", "Globex"}},
			},
		},
		{
			name:    "quote never closed",
			content: "id,name\n1,Acme\n2,\"Globex\n3,Initech\n",
			columns: []string{"id", "name"},
			rows: []row{
				{Position: "accounts.csv:2", Values: []string{"1", "Acme"}},
				{Position: "accounts.csv:3", Err: "a quote opened at line 3 may never be closed"},
			},
		},
		{
			name:    "header only",
			content: "id,name\r\n",
			columns: []string{"id", "name"},
		},
		{
			name:    "semicolon delimiter",
			content: "id;name\n1;\"Bäckerei Groß; Filiale Nord\"\n",
			opts:    Options{Delimiter: ';'},
			columns: []string{"id", "name"},
			rows:    []row{{Position: "accounts.csv:2", Values: []string{"1", "Bäckerei Groß; Filiale Nord"}}},
		},
		{
			name:    "tab delimiter",
			content: "id\tname\n1\tAcme, Inc.\n",
			opts:    Options{Delimiter: '\t'},
			columns: []string{"id", "name"},
			rows:    []row{{Position: "accounts.csv:2", Values: []string{"1", "Acme, Inc."}}},
		},
		{
			name:    "invalid UTF-8 then a good row",
			content: "id,name\n1,M\xfcller\n2,Müller\n",
			columns: []string{"id", "name"},
			rows: []row{
				{Position: "accounts.csv:2", Column: "name", Err: "invalid UTF-8 at byte offset 11 (0xFC)"},
				{Position: "accounts.csv:3", Values: []string{"2", "Müller"}},
			},
		},
		{
			name:    "invalid UTF-8 offset counts the BOM",
			content: "\uFEFFid,name\n1,M\xfcller\n",
			columns: []string{"id", "name"},
			rows: []row{
				{Position: "accounts.csv:2", Column: "name", Err: "invalid UTF-8 at byte offset 14 (0xFC)"},
			},
		},
		{
			name:    "truncated UTF-8 sequence at the end of the file",
			content: "id,name\n1,ab\xe2\x82",
			columns: []string{"id", "name"},
			rows: []row{
				{Position: "accounts.csv:2", Column: "name", Err: "invalid UTF-8 at byte offset 12 (0xE2)"},
			},
		},
		{
			name:    "windows-1252",
			content: "id;name\n1;M\xfcller \x80\n",
			opts:    Options{Delimiter: ';', Encoding: "cp1252"},
			columns: []string{"id", "name"},
			rows:    []row{{Position: "accounts.csv:2", Values: []string{"1", "Müller €"}}},
		},
		{
			name:    "latin-1 is ISO 8859-1, not windows-1252",
			content: "id;name\n1;M\xfcller \x80\n",
			opts:    Options{Delimiter: ';', Encoding: "latin-1"},
			columns: []string{"id", "name"},
			rows:    []row{{Position: "accounts.csv:2", Values: []string{"1", "Müller \u0080"}}},
		},
		{
			name:    "WHATWG label",
			content: "id,name\n1,\xa4 Shop\n",
			opts:    Options{Encoding: "ISO-8859-15"},
			columns: []string{"id", "name"},
			rows:    []row{{Position: "accounts.csv:2", Values: []string{"1", "€ Shop"}}},
		},
		{
			name:    "UTF-16LE with BOM",
			content: "\xff\xfei\x00d\x00,\x00n\x00\n\x001\x00,\x00\xdc\x00\n\x00",
			opts:    Options{Encoding: "utf-16le"},
			columns: []string{"id", "n"},
			rows:    []row{{Position: "accounts.csv:2", Values: []string{"1", "Ü"}}},
		},
		{
			name:    "utf8 label stays native",
			content: "id,name\n1,M\xfcller\n",
			opts:    Options{Encoding: "unicode-1-1-utf-8"},
			columns: []string{"id", "name"},
			rows:    []row{{Position: "accounts.csv:2", Column: "name", Err: "invalid UTF-8 at byte offset 11"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := openString(t, tt.content, tt.opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got := src.Columns(); !reflect.DeepEqual(got, tt.columns) {
				t.Errorf("Columns() = %q, want %q", got, tt.columns)
			}
			got := readAll(t, src)
			if len(got) != len(tt.rows) {
				t.Fatalf("read %d rows, want %d: %+v", len(got), len(tt.rows), got)
			}
			for i, want := range tt.rows {
				g := got[i]
				if g.Position != want.Position {
					t.Errorf("row %d: Position = %q, want %q", i, g.Position, want.Position)
				}
				if want.Err == "" {
					if g.Err != "" {
						t.Errorf("row %d: unexpected error %s", i, g.Err)
					}
					if !reflect.DeepEqual(g.Values, want.Values) {
						t.Errorf("row %d: Values = %q, want %q", i, g.Values, want.Values)
					}
					continue
				}
				if !strings.Contains(g.Err, want.Err) {
					t.Errorf("row %d: error %q does not contain %q", i, g.Err, want.Err)
				}
				if g.Column != want.Column {
					t.Errorf("row %d: RowError.Column = %q, want %q", i, g.Column, want.Column)
				}
			}
		})
	}
}

func TestOpenRejectsBadInput(t *testing.T) {
	tests := []struct {
		name    string
		content string
		opts    Options
		want    []string // substrings of the error
	}{
		{name: "empty file", content: "", want: []string{"the file is empty", "header row"}},
		{name: "only a BOM", content: "\uFEFF", want: []string{"the file is empty"}},
		{
			name:    "duplicate header",
			content: "id,name,id,city,name\n",
			want:    []string{`duplicate column name "id" at positions 1, 3`, `duplicate column name "name" at positions 2, 5`},
		},
		{
			name:    "empty header names",
			content: "id,,name, \n",
			want:    []string{"empty column name at position 2, 4"},
		},
		{
			name:    "invalid UTF-8 in header",
			content: "id,Stra\xdfe\n1,x\n",
			want:    []string{"header row", "invalid UTF-8 at byte offset 7 (0xDF)", "source.encoding"},
		},
		{
			name:    "malformed header",
			content: "id,\"name\n",
			want:    []string{"header row", `extraneous or missing "`},
		},
		{
			name:    "unknown encoding",
			content: "id\n",
			opts:    Options{Encoding: "klingon"},
			want:    []string{`unknown encoding "klingon"`, "utf-8", "latin-1", "windows-1252"},
		},
		{
			name:    "UTF-8 BOM with a legacy encoding",
			content: "\uFEFFid,name\n",
			opts:    Options{Encoding: "windows-1252"},
			want:    []string{"UTF-8 byte order mark", `"windows-1252"`},
		},
		{name: "quote as delimiter", content: "id\n", opts: Options{Delimiter: '"'}, want: []string{"invalid delimiter"}},
		{name: "newline as delimiter", content: "id\n", opts: Options{Delimiter: '\n'}, want: []string{"invalid delimiter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := openString(t, tt.content, tt.opts)
			if err == nil {
				t.Fatalf("Open succeeded with columns %q, want an error", src.Columns())
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if !strings.Contains(err.Error(), "accounts.csv") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestOpenRejectsDirectory(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(context.Background(), Options{Path: dir})
	if err == nil {
		t.Fatal("Open succeeded on a directory")
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("error %q does not name the directory", err)
	}
}

func TestOpenMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.csv")
	_, err := Open(context.Background(), Options{Path: path})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error = %v, want os.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestNextHonoursCancelledContext(t *testing.T) {
	src, err := openString(t, "id\n1\n2\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := src.Next(ctx); err != nil {
		t.Fatalf("first Next: %v", err)
	}
	cancel()
	if _, err := src.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel = %v, want context.Canceled", err)
	}
}

func TestOpenHonoursCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Open(ctx, Options{Path: writeFile(t, "id\n")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Open = %v, want context.Canceled", err)
	}
}

func TestCloseTwiceAndNextAfterClose(t *testing.T) {
	src, err := Open(context.Background(), Options{Path: writeFile(t, "id\n1\n")})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := src.Next(context.Background()); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Next after Close = %v, want os.ErrClosed", err)
	}
}

func TestPositionDefaultsToPath(t *testing.T) {
	path := writeFile(t, "id\n1\n")
	src, err := Open(context.Background(), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rec, err := src.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := path + ":2"; rec.Position != want {
		t.Errorf("Position = %q, want %q", rec.Position, want)
	}
}

func TestBytesReadReachesSize(t *testing.T) {
	content := "id,name\n" + strings.Repeat("1,Acme Corporation\n", 20000)
	src, err := openString(t, content, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if src.Size() != int64(len(content)) {
		t.Errorf("Size() = %d, want %d", src.Size(), len(content))
	}
	if got := src.BytesRead(); got >= src.Size() {
		t.Errorf("BytesRead() = %d right after Open, want less than the size %d", got, src.Size())
	}
	rows := readAll(t, src)
	if len(rows) != 20000 {
		t.Errorf("read %d rows, want 20000", len(rows))
	}
	if got := src.BytesRead(); got != src.Size() {
		t.Errorf("BytesRead() = %d at EOF, want %d", got, src.Size())
	}
}

func TestCRMExport(t *testing.T) {
	src, err := Open(context.Background(), Options{Path: "../../testdata/csv/crm_accounts_messy.csv", Name: "crm_accounts_messy.csv"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if got := src.Columns()[0]; got != "account_id" {
		t.Errorf("first column = %q, want account_id without the BOM", got)
	}
	rows := readAll(t, src)

	wantLines := []string{"2", "3", "6", "7", "8", "9", "10"}
	if len(rows) != len(wantLines) {
		t.Fatalf("read %d records, want %d", len(rows), len(wantLines))
	}
	for i, line := range wantLines {
		if want := "crm_accounts_messy.csv:" + line; rows[i].Position != want {
			t.Errorf("record %d: Position = %q, want %q", i, rows[i].Position, want)
		}
		if rows[i].Err != "" {
			t.Errorf("record %d: unexpected error %s", i, rows[i].Err)
		}
	}
	if got, want := rows[1].Values[7], "400 Market St\nSuite 12"; got != want {
		t.Errorf("CRM-0002 street = %q, want %q", got, want)
	}
	if got, want := rows[4].Values[1], `Granite Peak "GP" Holdings`; got != want {
		t.Errorf("CRM-0005 name = %q, want %q", got, want)
	}
	if got, want := rows[5].Values[1], "Tidewater Logistics "; got != want {
		t.Errorf("CRM-0006 name = %q, want %q with its trailing space", got, want)
	}
	if got, want := rows[6].Values[1], "Kōbō Robotics"; got != want {
		t.Errorf("CRM-0007 name = %q, want %q", got, want)
	}
}

func TestEUExport(t *testing.T) {
	const path = "../../testdata/csv/eu_accounts_semicolon_cp1252.csv"

	t.Run("windows-1252", func(t *testing.T) {
		src, err := Open(context.Background(), Options{Path: path, Name: "eu.csv", Delimiter: ';', Encoding: "windows-1252"})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		rows := readAll(t, src)
		want := [][]string{
			{"DE-100", "Müller & Söhne GmbH", "Maschinenbau", "1200000", "Köln"},
			{"DE-101", "Bäckerei Groß; Filiale Nord", "Lebensmittel", "85000", "Düsseldorf"},
			{"DE-102", "Énergie Verte SARL", "Energie", "430000", "Straßburg"},
		}
		if len(rows) != len(want) {
			t.Fatalf("read %d records, want %d: %+v", len(rows), len(want), rows)
		}
		for i := range want {
			if !reflect.DeepEqual(rows[i].Values, want[i]) {
				t.Errorf("record %d = %q, want %q", i, rows[i].Values, want[i])
			}
		}
	})

	t.Run("read as UTF-8", func(t *testing.T) {
		src, err := Open(context.Background(), Options{Path: path, Name: "eu.csv", Delimiter: ';'})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		rows := readAll(t, src)
		if len(rows) != 3 {
			t.Fatalf("read %d records, want 3: %+v", len(rows), rows)
		}
		for i, r := range rows {
			if r.Values != nil {
				t.Errorf("record %d: got values %q, want an encoding error", i, r.Values)
			}
			if !strings.Contains(r.Err, "invalid UTF-8") || !strings.Contains(r.Err, "windows-1252") {
				t.Errorf("record %d: error %q does not explain the encoding", i, r.Err)
			}
			if r.Column != "Firma" {
				t.Errorf("record %d: Column = %q, want Firma", i, r.Column)
			}
		}
	})
}
