package csv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/atlas-sync/atlas-sync/sources"
)

// nextUntilFatal reads until an error that is not a row error and returns
// the records' first values and that error.
func nextUntilFatal(t *testing.T, src *Source) ([]string, error) {
	t.Helper()
	var ids []string
	for range 100_000 {
		rec, err := src.Next(context.Background())
		switch {
		case err == nil:
			ids = append(ids, rec.Values[0].Text)
		case errors.Is(err, io.EOF):
			return ids, err
		case sources.IsRowError(err):
			continue
		default:
			return ids, err
		}
	}
	t.Fatal("Next did not stop")
	return nil, nil
}

func TestRecordLimitStopsAtHugeRecord(t *testing.T) {
	const limit = 256 << 10 // above the 64 KiB read-ahead, so the slack matters
	var b strings.Builder
	b.WriteString("Id,Name\n")
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&b, "A-%d,Company %d\n", i, i)
	}
	b.WriteString("A-4,\"Multi\nline\"\n") // lines 5 and 6
	b.WriteString("A-5," + strings.Repeat("x", 2*limit) + "\n")
	b.WriteString("A-6,after\n")

	src, err := openString(t, b.String(), Options{MaxRecordSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := nextUntilFatal(t, src)
	if !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("err = %v, want ErrRecordTooLarge", err)
	}
	if got := strings.Join(ids, ","); got != "A-1,A-2,A-3,A-4" {
		t.Errorf("records before the error = %s, want A-1,A-2,A-3,A-4", got)
	}
	if !strings.Contains(err.Error(), "after line 6") {
		t.Errorf("error %q does not name the line the record follows (6)", err)
	}
	if _, again := src.Next(context.Background()); !errors.Is(again, ErrRecordTooLarge) {
		t.Errorf("second Next after the error = %v, want the same error again", again)
	}
}

func TestRecordLimitAllowsManyRecords(t *testing.T) {
	const limit = 1 << 10
	var b strings.Builder
	b.WriteString("Id,Name\n")
	for i := range 20_000 {
		fmt.Fprintf(&b, "A-%d,%s\n", i, strings.Repeat("n", 40))
	}
	src, err := openString(t, b.String(), Options{MaxRecordSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := nextUntilFatal(t, src)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want io.EOF: the limit applies to one record, not the file", err)
	}
	if len(ids) != 20_000 {
		t.Errorf("read %d records, want 20000", len(ids))
	}
}

func TestRecordLimitUnclosedQuote(t *testing.T) {
	const limit = 128 << 10
	content := "Id,Name\nA-1,ok\nA-2,\"never closed\n" + strings.Repeat("A-3,row\n", 100_000)
	src, err := openString(t, content, Options{MaxRecordSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := nextUntilFatal(t, src)
	if !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("err = %v, want ErrRecordTooLarge", err)
	}
	if len(ids) != 1 || !strings.Contains(err.Error(), "after line 2") {
		t.Errorf("records %v, error %q; want A-1 and the record after line 2 named", ids, err)
	}
}

func TestRecordLimitHeaderLine(t *testing.T) {
	content := strings.Repeat("c", 300<<10)
	_, err := openString(t, content, Options{MaxRecordSize: 100 << 10})
	if !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("err = %v, want ErrRecordTooLarge", err)
	}
	if !strings.Contains(err.Error(), "header row") {
		t.Errorf("error %q does not say the header row is too long", err)
	}
}

func TestRecordLimitLegacyEncoding(t *testing.T) {
	// Each 0xE9 byte decodes to two UTF-8 bytes; the limit counts decoded
	// bytes, so a record of 40 KiB raw is 80 KiB decoded.
	content := "Id,Name\nA-1," + strings.Repeat("\xe9", 40<<10) + "\nA-2,ok\n"
	src, err := openString(t, content, Options{Encoding: "latin-1", MaxRecordSize: 200 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := nextUntilFatal(t, src)
	if !errors.Is(err, io.EOF) || len(ids) != 2 {
		t.Errorf("records %v, err %v; want both records and io.EOF", ids, err)
	}
}

func TestFileGrowingWhileReadFails(t *testing.T) {
	path := writeFile(t, "Id,Name\nA-1,one\nA-2,two\n")
	src, err := Open(context.Background(), Options{Path: path, Name: "accounts.csv"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Next(context.Background()); err != nil {
		t.Fatal(err)
	}

	file, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.WriteString("A-3,thr"); err != nil {
		t.Fatal(err)
	}
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}

	ids, err := nextUntilFatal(t, src)
	if !errors.Is(err, ErrFileChanged) {
		t.Fatalf("err = %v, want ErrFileChanged", err)
	}
	if got := strings.Join(ids, ","); got != "A-2" {
		t.Errorf("records after the append = %s, want only A-2: the torn A-3 must not be returned", got)
	}
	for _, want := range []string{path, "24 bytes when opened", "31 now"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestOpenReaderSkipsSizeCheck(t *testing.T) {
	src, err := OpenReader(context.Background(), strings.NewReader("Id\nA-1\n"), 999, Options{Path: "stream.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Next(context.Background()); !errors.Is(err, io.EOF) {
		t.Errorf("err = %v, want io.EOF: a stream has no file size to compare", err)
	}
}
