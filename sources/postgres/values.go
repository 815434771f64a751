package postgres

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/atlas-sync/atlas-sync/sources"
)

// Layouts of the values the source writes. The server writes timestamps as
// "2024-03-01 09:30:00.5+00" (DateStyle ISO, TimeZone UTC, both set by the
// source); time.Parse accepts the fraction without a layout element for it.
const (
	serverTimestamptzLayout = "2006-01-02 15:04:05Z07"
	serverTimestampLayout   = "2006-01-02 15:04:05"
	timestampLayout         = "2006-01-02T15:04:05.999999999"
	dateLayout              = "2006-01-02"
)

// column is one result column and how its text is converted.
type column struct {
	name string
	oid  uint32

	// elementOID is the element type of an array column, 0 for others.
	elementOID uint32
	isArray    bool
}

// decode converts the server's text form of one value. raw is nil for
// NULL.
func (c *column) decode(types *pgtype.Map, raw []byte) (sources.Value, error) {
	if raw == nil {
		return sources.Value{Null: true}, nil
	}
	if !c.isArray {
		text, err := convertScalar(c.oid, string(raw))
		return sources.Value{Text: text}, err
	}

	// Every array type but box[] separates its elements with commas, so
	// the text[] parser reads them all. Each element is then converted as
	// a value of the element type.
	var elements pgtype.FlatArray[pgtype.Text]
	if err := types.Scan(pgtype.TextArrayOID, pgtype.TextFormatCode, raw, &elements); err != nil {
		return sources.Value{}, fmt.Errorf("invalid array %q: %w", truncate(string(raw), 80), err)
	}
	list := make([]string, 0, len(elements))
	for _, element := range elements {
		if !element.Valid {
			continue
		}
		text, err := convertScalar(c.elementOID, element.String)
		if err != nil {
			return sources.Value{}, err
		}
		list = append(list, text)
	}
	return sources.Value{List: list}, nil
}

// convertScalar turns the server's text form of a value of type oid into
// the form the package documentation lists.
func convertScalar(oid uint32, text string) (string, error) {
	switch oid {
	case pgtype.BoolOID:
		switch text {
		case "t":
			return "true", nil
		case "f":
			return "false", nil
		}
		return "", fmt.Errorf("invalid boolean %q from the server", text)
	case pgtype.Float4OID:
		return convertFloat(text, 32)
	case pgtype.Float8OID:
		return convertFloat(text, 64)
	case pgtype.TimestamptzOID:
		t, err := time.Parse(serverTimestamptzLayout, text)
		if err != nil {
			// ±infinity, BC and years past 9999 keep the server's form.
			return text, nil
		}
		return t.UTC().Format(time.RFC3339Nano), nil
	case pgtype.TimestampOID:
		t, err := time.Parse(serverTimestampLayout, text)
		if err != nil {
			return text, nil
		}
		return t.Format(timestampLayout), nil
	}
	return text, nil
}

// convertFloat rewrites a float with the fewest digits that parse back to
// the same value, in plain notation from 1e-7 up to 1e21 (the range in which
// JavaScript writes numbers plainly) and in strconv's exponent notation
// outside it ("1e+21", "9.99e-08"). The server
// writes enough digits to start from because the source sets
// extra_float_digits = 3.
func convertFloat(text string, bitSize int) (string, error) {
	f, err := strconv.ParseFloat(text, bitSize)
	if err != nil {
		return "", fmt.Errorf("invalid float %q from the server: %w", text, err)
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return text, nil
	}
	if abs := math.Abs(f); abs == 0 || abs >= 1e-7 && abs < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, bitSize), nil
	}
	return strconv.FormatFloat(f, 'e', -1, bitSize), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
