package csv

import (
	"fmt"
	"strings"
	"testing"
)

// TestPositionsSurviveLaterRecords keeps every position of a file whose
// positions fill several shared chunks (about 18 bytes each) and checks
// each one at the end.
func TestPositionsSurviveLaterRecords(t *testing.T) {
	var content strings.Builder
	content.WriteString("id,name\n")
	const records = 2000
	for i := range records {
		fmt.Fprintf(&content, "%d,name %d\n", i, i)
	}
	src, err := openString(t, content.String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	rows := readAll(t, src)
	if len(rows) != records {
		t.Fatalf("read %d records, want %d", len(rows), records)
	}
	for i, r := range rows {
		if want := fmt.Sprintf("accounts.csv:%d", i+2); r.Position != want {
			t.Fatalf("record %d has position %q, want %q", i, r.Position, want)
		}
	}

	long := strings.Repeat("x", positionChunkBytes+10)
	src.name = long
	if got, want := src.position(7), long+":7"; got != want {
		t.Errorf("position with a name longer than a chunk = %d bytes, want %d", len(got), len(want))
	}
}
