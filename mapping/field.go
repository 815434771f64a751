package mapping

import (
	"errors"
	"fmt"
	"strings"

	"github.com/atlas-sync/atlas-sync/sources"
)

// kind is a field type, resolved once by New so that Map switches on a
// small integer.
type kind uint8

const (
	kindText kind = iota
	kindList
	kindNumber
	kindDecimal
	kindDate
	kindMulti
	kindURL
	kindAddress
	kindBoolean
	kindUUID // agent, customer, account and ticket
)

// field is one resolved mapping entry: an Atlas key, the columns it reads
// and how it converts them.
type field struct {
	keyJSON    []byte // `"key":`
	target     string // "custom field revenue", for messages
	kind       kind
	typeName   string
	column     int // index in sources.Record.Values; unused for addresses
	columnName string
	path       []string // keys into a JSON document, or nil
	layout     string
	digits     *digitsLayout // layout without time.Parse; nil for other layouts
	separator  string
	clear      bool // empty policy "clear"
	trim       bool

	titleColumn int // url title, or -1
	titleName   string

	parts []addressPart // sorted by JSON key
}

type addressPart struct {
	keyJSON    []byte
	column     int
	columnName string
}

// columnError is a conversion error caused by a column other than the
// field's main one (an address part or a url title).
type columnError struct {
	column string
	err    error
}

func (e *columnError) Error() string { return e.err.Error() }
func (e *columnError) Unwrap() error { return e.err }

// rowError wraps a conversion error for the engine, naming the column at
// fault and the Atlas key it was converted for.
func (f *field) rowError(position string, err error) *sources.RowError {
	column := f.columnName
	var colErr *columnError
	if errors.As(err, &colErr) {
		column = colErr.column
	}
	return &sources.RowError{
		Position: position,
		Column:   column,
		Err:      fmt.Errorf("%w (%s)", err, f.target),
	}
}

// externalID returns the record's key, which must not be empty.
func (f *field) externalID(values []sources.Value) (string, error) {
	v := values[f.column]
	if v.List != nil {
		return "", fmt.Errorf("the column contains a list of %d values, but an externalId is one text value", len(v.List))
	}
	text := v.Text
	if f.trim {
		text = strings.TrimSpace(text)
	}
	if v.Null || text == "" {
		return "", errors.New("the value is empty, but every account needs an externalId")
	}
	return text, nil
}

// appendMember writes `,"key":value`, or nothing when the value is empty
// and the policy is leave.
func (f *field) appendMember(buf []byte, values []sources.Value) ([]byte, error) {
	mark := len(buf)
	buf = appendKey(buf, f.keyJSON)
	valueStart := len(buf)

	buf, present, err := f.appendValue(buf, values)
	if err != nil {
		return buf[:mark], err
	}
	if present {
		return buf, nil
	}
	if !f.clear {
		return buf[:mark], nil
	}
	return appendClearValue(buf[:valueStart], f.kind), nil
}

// appendClearValue writes the value that makes Atlas overwrite a stored
// value with an empty one: an empty array for multi fields, "" otherwise.
//
// NOTE: Atlas documents that an empty string overwrites a value and null
// keeps it, without naming the field types this covers. Whether number,
// decimal, date, boolean, url, address and UUID fields accept "" is assumed.
func appendClearValue(buf []byte, k kind) []byte {
	if k == kindMulti {
		return append(buf, '[', ']')
	}
	return append(buf, '"', '"')
}

// appendValue writes the converted value. It returns present false, and
// leaves buf as it was, when the value is empty.
func (f *field) appendValue(buf []byte, values []sources.Value) ([]byte, bool, error) {
	if f.kind == kindAddress {
		return f.appendAddress(buf, values)
	}

	text, list, isList, err := f.resolve(values[f.column])
	if err != nil {
		return buf, false, err
	}
	if isList && f.kind != kindMulti {
		return buf, false, fmt.Errorf("the value is a list of %d items, but the field type %s takes one value; use type multi", len(list), f.typeName)
	}
	if !isList && text == "" {
		return buf, false, nil
	}

	switch f.kind {
	case kindText, kindList:
		return appendString(buf, text), true, nil
	case kindNumber:
		buf, err = appendInteger(buf, text)
	case kindDecimal:
		buf, err = appendDecimal(buf, text)
	case kindDate:
		if f.digits != nil {
			if out, ok := f.digits.appendDate(buf, text); ok {
				return out, true, nil
			}
		}
		buf, err = appendDate(buf, text, f.layout)
	case kindMulti:
		return appendMulti(buf, text, list, isList, f.separator)
	case kindURL:
		return f.appendURL(buf, text, values)
	case kindBoolean:
		buf, err = appendBoolean(buf, text)
	case kindUUID:
		buf, err = appendUUID(buf, text, f.typeName)
	default:
		return buf, false, fmt.Errorf("field type %s has no converter", f.typeName)
	}
	return buf, err == nil, err
}

// resolve returns the value's text, or its list for an array column or a
// JSON array at the field's path. An empty value has text "" and isList
// false.
func (f *field) resolve(v sources.Value) (text string, list []string, isList bool, err error) {
	switch {
	case f.path != nil:
		if v.List != nil {
			return "", nil, false, errors.New("the column contains a list, but the field's path needs a JSON document")
		}
		if v.IsEmpty() {
			return "", nil, false, nil
		}
		text, list, isList, err = selectPath(v.Text, f.path)
		if err != nil {
			return "", nil, false, err
		}
	case v.Null:
		return "", nil, false, nil
	case v.List != nil:
		return "", v.List, true, nil
	default:
		text = v.Text
	}
	if f.trim && !isList {
		text = strings.TrimSpace(text)
	}
	return text, list, isList, nil
}

// cellText returns a column's text for address parts and url titles.
func (f *field) cellText(values []sources.Value, column int, columnName string) (string, error) {
	v := values[column]
	if v.List != nil {
		return "", &columnError{column: columnName, err: fmt.Errorf("the column contains a list of %d values, but the field reads one text value from it", len(v.List))}
	}
	if v.Null {
		return "", nil
	}
	if f.trim {
		return strings.TrimSpace(v.Text), nil
	}
	return v.Text, nil
}

func (f *field) appendURL(buf []byte, text string, values []sources.Value) ([]byte, bool, error) {
	title := ""
	if f.titleColumn >= 0 {
		var err error
		title, err = f.cellText(values, f.titleColumn, f.titleName)
		if err != nil {
			return buf, false, err
		}
	}
	buf, err := appendURLObject(buf, text, title)
	return buf, err == nil, err
}

// appendAddress writes the address object from its part columns, leaving
// out empty parts. An address whose parts are all empty is an empty value.
func (f *field) appendAddress(buf []byte, values []sources.Value) ([]byte, bool, error) {
	mark := len(buf)
	buf = append(buf, '{')
	for i := range f.parts {
		part := &f.parts[i]
		text, err := f.cellText(values, part.column, part.columnName)
		if err != nil {
			return buf[:mark], false, err
		}
		if text == "" {
			continue
		}
		buf = appendKey(buf, part.keyJSON)
		buf = appendString(buf, text)
	}
	if len(buf) == mark+1 {
		return buf[:mark], false, nil
	}
	return append(buf, '}'), true, nil
}
