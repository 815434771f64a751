package csv

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/atlas-sync/atlas-sync/sources"
)

// FuzzCSVSource reads arbitrary bytes as a file and checks that the source
// neither panics nor loops, that every record matches the header's width,
// that values are valid UTF-8, and that row errors carry a position.
func FuzzCSVSource(f *testing.F) {
	f.Add([]byte("id,name\n1,Acme\n"), false)
	f.Add([]byte("\xef\xbb\xbfid,name\r\n\"1\",\"a\r\nb\"\r\n"), false)
	f.Add([]byte("id;name\n1;M\xfcller\n"), true)
	f.Add([]byte("id,name\n1,\"x\"y\n2,\"open\n"), false)
	f.Add([]byte("a,a\n"), false)

	f.Fuzz(func(t *testing.T, data []byte, semicolon bool) {
		path := filepath.Join(t.TempDir(), "f.csv")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		opts := Options{Path: path, Name: "f.csv"}
		if semicolon {
			opts.Delimiter = ';'
		}
		src, err := Open(context.Background(), opts)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("Open error %q does not name the file", err)
			}
			return
		}
		defer src.Close()

		lines := strings.Count(string(data), "\n") + 1
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatal("more records than bytes")
			}
			rec, err := src.Next(context.Background())
			if errors.Is(err, io.EOF) {
				return
			}
			var rowErr *sources.RowError
			if errors.As(err, &rowErr) {
				checkPosition(t, rowErr.Position, lines)
				continue
			}
			if err != nil {
				t.Fatalf("fatal error reading a file: %v", err)
			}
			checkPosition(t, rec.Position, lines)
			if len(rec.Values) != len(src.Columns()) {
				t.Fatalf("record has %d values, header has %d", len(rec.Values), len(src.Columns()))
			}
			for _, v := range rec.Values {
				if !utf8.ValidString(v.Text) {
					t.Fatalf("value %q is not valid UTF-8", v.Text)
				}
			}
		}
	})
}

func checkPosition(t *testing.T, position string, lines int) {
	t.Helper()
	line, err := strconv.Atoi(strings.TrimPrefix(position, "f.csv:"))
	if err != nil || line < 2 || line > lines {
		t.Fatalf("position %q is not f.csv:<line> within 2..%d", position, lines)
	}
}
