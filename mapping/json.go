package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string, escaped as encoding/json escapes
// it with HTML escaping off. '"', '\\' and control characters are escaped
// (\b, \f, \n, \r and \t by name, the rest as \u00XX). U+2028 and U+2029
// become \u2028 and \u2029, and each invalid UTF-8 byte becomes \ufffd.
// Everything else is written as is.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) && plainASCII(load64(s, i)) {
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}

		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// Byte-wise masks for plainASCII.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainASCII reports whether all eight bytes of w are ASCII that a JSON
// string holds as is: none is below 0x20, '"', '\\' or 0x80 and above. The
// tests are the classic "has a zero byte" and "has a byte less than n"
// word tricks, exact for the question whether any byte matches.
func plainASCII(w uint64) bool {
	control := (w - ones*0x20) &^ w
	quote := w ^ (ones * '"')
	backslash := w ^ (ones * '\\')
	special := control | (quote-ones)&^quote | (backslash-ones)&^backslash | w
	return special&highs == 0
}

// load64 returns the eight bytes of s from i as a little-endian word. The
// compiler turns it into one load.
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// selectPath decodes doc as JSON and returns the value at path, one object
// key per element: a string's text, a number's literal, "true" or "false",
// or for an array its elements as text with isList set. A missing key or
// null gives text "".
func selectPath(doc string, path []string) (text string, list []string, isList bool, err error) {
	decoder := json.NewDecoder(strings.NewReader(doc))
	decoder.UseNumber()
	var value any
	if err := decoder.Decode(&value); err != nil {
		return "", nil, false, fmt.Errorf("the column does not contain a JSON document: %v", err)
	}
	if _, err := decoder.Token(); !errors.Is(err, io.EOF) {
		return "", nil, false, errors.New("the column contains data after its JSON document")
	}

	for depth, key := range path {
		switch node := value.(type) {
		case nil:
			return "", nil, false, nil
		case map[string]any:
			value = node[key]
		default:
			return "", nil, false, fmt.Errorf("path %s: %s is %s, not an object", strings.Join(path, "."), describePath(path[:depth]), jsonKind(node))
		}
	}

	switch node := value.(type) {
	case nil:
		return "", nil, false, nil
	case []any:
		list = make([]string, 0, len(node))
		for _, element := range node {
			if element == nil {
				continue
			}
			item, ok := scalarText(element)
			if !ok {
				return "", nil, false, fmt.Errorf("path %s: the array contains %s; only strings, numbers and booleans can be mapped", strings.Join(path, "."), jsonKind(element))
			}
			list = append(list, item)
		}
		return "", list, true, nil
	default:
		item, ok := scalarText(node)
		if !ok {
			return "", nil, false, fmt.Errorf("path %s selects %s; select a string, number, boolean or array inside it", strings.Join(path, "."), jsonKind(node))
		}
		return item, nil, false, nil
	}
}

func scalarText(value any) (string, bool) {
	switch v := value.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

func describePath(path []string) string {
	if len(path) == 0 {
		return "the document"
	}
	return strings.Join(path, ".")
}

func jsonKind(value any) string {
	switch value.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}
