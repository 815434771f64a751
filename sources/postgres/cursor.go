package postgres

import (
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// cursorKind is the comparison used for the values of a cursor column.
type cursorKind int

const (
	cursorNumber cursorKind = iota + 1 // smallint, integer, bigint, numeric
	cursorTime                         // date, timestamp, timestamptz
)

// cursorTypes lists the column types a cursor column may have, with the SQL
// name the stored cursor is cast to.
var cursorTypes = map[uint32]struct {
	sqlType string
	kind    cursorKind
	layout  string // the layout the source writes, for cursorTime
}{
	pgtype.Int2OID:        {"smallint", cursorNumber, ""},
	pgtype.Int4OID:        {"integer", cursorNumber, ""},
	pgtype.Int8OID:        {"bigint", cursorNumber, ""},
	pgtype.NumericOID:     {"numeric", cursorNumber, ""},
	pgtype.DateOID:        {"date", cursorTime, dateLayout},
	pgtype.TimestampOID:   {"timestamp", cursorTime, timestampLayout},
	pgtype.TimestamptzOID: {"timestamptz", cursorTime, time.RFC3339Nano},
}

const cursorTypeNames = "smallint, integer, bigint, numeric, date, timestamp or timestamptz"

// cursorValue is one parsed value of the cursor column.
type cursorValue struct {
	text   string
	number *big.Rat
	time   time.Time
}

// cursorTracker keeps the largest cursor value read in this run.
type cursorTracker struct {
	index  int    // position of the cursor column in the result
	oid    uint32 // its type
	kind   cursorKind
	layout string

	max    cursorValue
	hasMax bool
}

func newCursorTracker(index int, oid uint32) *cursorTracker {
	t := cursorTypes[oid]
	return &cursorTracker{index: index, oid: oid, kind: t.kind, layout: t.layout}
}

// parse reads a cursor value in the text form the source writes. ok is
// false for text that has no place in the order, such as infinity, NaN or
// a year outside 1 to 9999.
func (c *cursorTracker) parse(text string) (cursorValue, bool) {
	switch c.kind {
	case cursorNumber:
		n, ok := new(big.Rat).SetString(text)
		if !ok {
			return cursorValue{}, false
		}
		return cursorValue{text: text, number: n}, true
	default:
		t, err := time.Parse(c.layout, text)
		if err != nil {
			return cursorValue{}, false
		}
		return cursorValue{text: text, time: t}, true
	}
}

func (c *cursorTracker) less(a, b cursorValue) bool {
	if c.kind == cursorNumber {
		return a.number.Cmp(b.number) < 0
	}
	return a.time.Before(b.time)
}

// observe records one row's cursor value. Values that parse cannot order
// do not move the cursor; such rows are read again by every incremental
// run (+infinity) or only by full scans.
func (c *cursorTracker) observe(text string) {
	v, ok := c.parse(text)
	if !ok {
		return
	}
	if !c.hasMax || c.less(c.max, v) {
		c.max = v
		c.hasMax = true
	}
}

// start sets the stored cursor as the value to beat, so that a run that
// reads no newer row keeps it.
func (c *cursorTracker) start(stored string) error {
	v, ok := c.parse(stored)
	if !ok {
		return fmt.Errorf("the stored cursor %q is not a valid %s value; run once with --full to replace it", stored, cursorTypes[c.oid].sqlType)
	}
	c.max = v
	c.hasMax = true
	return nil
}

// condition returns the WHERE condition of an incremental read, with its
// parameters in text form.
func (c *cursorTracker) condition(quotedColumn string, stored string, overlap time.Duration) (string, []string) {
	sqlType := cursorTypes[c.oid].sqlType
	if c.kind == cursorTime && overlap > 0 {
		// The server computes cursor - overlap in the column's own type,
		// so that timestamp and date cursors need no time zone.
		return fmt.Sprintf("%s >= CAST($1 AS %s) - CAST($2 AS interval)", quotedColumn, sqlType),
			[]string{stored, fmt.Sprintf("%d microseconds", overlap.Microseconds())}
	}
	return fmt.Sprintf("%s >= CAST($1 AS %s)", quotedColumn, sqlType), []string{stored}
}

// value returns the cursor to store, or "" when no value was seen.
func (c *cursorTracker) value() string {
	if !c.hasMax {
		return ""
	}
	return c.max.text
}
