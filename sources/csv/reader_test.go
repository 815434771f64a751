package csv

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// closeCounter is a reader that counts calls to Close.
type closeCounter struct {
	io.Reader
	closes int
}

func (c *closeCounter) Close() error {
	c.closes++
	return nil
}

func TestOpenReaderReadsLikeOpen(t *testing.T) {
	// "Müller" in ISO 8859-1, with a line break inside a quoted field.
	input := &closeCounter{Reader: strings.NewReader("Id,Name\r\n\"1\",\"M\xfcller\nGmbH\"\r\n2,Other\r\n")}
	src, err := OpenReader(context.Background(), input, 42, Options{Path: "export.zip:Account.csv", Encoding: "latin-1"})
	if err != nil {
		t.Fatalf("OpenReader: %v", err)
	}
	if got := src.Size(); got != 42 {
		t.Errorf("Size = %d, want 42", got)
	}
	if got, want := src.Columns(), []string{"Id", "Name"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Columns = %q, want %q", got, want)
	}
	want := []row{
		{Position: "export.zip:Account.csv:2", Values: []string{"1", "Müller\nGmbH"}},
		{Position: "export.zip:Account.csv:4", Values: []string{"2", "Other"}},
	}
	if got := readAll(t, src); !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %+v, want %+v", got, want)
	}

	if err := src.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if input.closes != 1 {
		t.Errorf("input closed %d times, want 1", input.closes)
	}
}

func TestOpenReaderClosesInputOnError(t *testing.T) {
	input := &closeCounter{Reader: strings.NewReader("")}
	_, err := OpenReader(context.Background(), input, 0, Options{Path: "export.zip:Account.csv"})
	if err == nil || !strings.Contains(err.Error(), "export.zip:Account.csv: the file is empty") {
		t.Errorf("error = %v, want the empty-file error naming the input", err)
	}
	if input.closes != 1 {
		t.Errorf("input closed %d times, want 1", input.closes)
	}

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	input = &closeCounter{Reader: strings.NewReader("Id\n1\n")}
	if _, err := OpenReader(canceled, input, 0, Options{Path: "x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if input.closes != 1 {
		t.Errorf("input closed %d times after cancellation, want 1", input.closes)
	}
}

func TestOpenReaderWithoutCloser(t *testing.T) {
	src, err := OpenReader(context.Background(), strings.NewReader("Id\n1\n"), 0, Options{Path: "stdin"})
	if err != nil {
		t.Fatalf("OpenReader: %v", err)
	}
	if got := readAll(t, src); len(got) != 1 || got[0].Position != "stdin:2" {
		t.Errorf("rows = %+v, want one record at stdin:2", got)
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
