package mapping

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DefaultDateLayout is the date layout used when a field sets none.
const DefaultDateLayout = "2006-01-02"

// timestampLayouts are accepted for every date field after its own layout.
// time.Parse accepts fractional seconds after the seconds field even when
// the layout has none, so these also read "2027-03-31T10:00:00.000Z".
var timestampLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05"}

// appendDate writes s as "YYYY-MM-DD". A timestamp gives the calendar date
// as written, without conversion to another time zone.
func appendDate(buf []byte, s, layout string) ([]byte, error) {
	t, err := time.Parse(layout, s)
	if err != nil {
		for _, alternative := range timestampLayouts {
			if parsed, altErr := time.Parse(alternative, s); altErr == nil {
				t, err = parsed, nil
				break
			}
		}
	}
	if err != nil {
		// time.ParseError.Message is set for a value of the right shape
		// with an out-of-range element, such as ": day out of range".
		reason := ""
		if parseErr, ok := err.(*time.ParseError); ok {
			reason = parseErr.Message
		}
		return buf, fmt.Errorf("invalid date %q for layout %s%s", s, layout, reason)
	}

	buf = append(buf, '"')
	buf = t.AppendFormat(buf, DefaultDateLayout)
	return append(buf, '"'), nil
}

// appendMulti writes a JSON array of the non-empty, trimmed parts of text
// split on separator, or of list when isList is set.
func appendMulti(buf []byte, text string, list []string, isList bool, separator string) ([]byte, bool, error) {
	mark := len(buf)
	buf = append(buf, '[')
	count := 0
	add := func(part string) {
		part = strings.TrimSpace(part)
		if part == "" {
			return
		}
		if count > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, part)
		count++
	}

	if isList {
		for _, part := range list {
			add(part)
		}
	} else {
		rest := text
		for {
			i := strings.Index(rest, separator)
			if i < 0 {
				add(rest)
				break
			}
			add(rest[:i])
			rest = rest[i+len(separator):]
		}
	}
	if count == 0 {
		return buf[:mark], false, nil
	}
	return append(buf, ']'), true, nil
}

// appendURLObject writes {"title":…,"url":…}, without title when it is
// empty. A value without "scheme://" gets "https://" in front, because CRM
// exports often hold bare domains such as "acme.example".
func appendURLObject(buf []byte, text, title string) ([]byte, error) {
	if strings.ContainsAny(text, " \t\r\n") {
		return buf, fmt.Errorf("invalid url %q: it contains white space; percent-encode it as %%20", text)
	}
	full := text
	if !hasScheme(text) {
		full = "https://" + text
	}
	parsed, err := url.Parse(full)
	if err != nil {
		return buf, fmt.Errorf("invalid url %q: %v", text, unwrapURLError(err))
	}
	if parsed.Host == "" {
		return buf, fmt.Errorf("invalid url %q: it has no host name; write it like https://example.com/path", text)
	}

	buf = append(buf, '{')
	if title != "" {
		buf = append(buf, `"title":`...)
		buf = appendString(buf, title)
		buf = append(buf, ',')
	}
	buf = append(buf, `"url":`...)
	buf = appendString(buf, full)
	return append(buf, '}'), nil
}

// hasScheme reports whether s starts with "scheme://", the scheme being a
// letter followed by letters, digits, '+', '-' or '.' (RFC 3986).
func hasScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return strings.HasPrefix(s[i:], "://")
		default:
			return false
		}
	}
	return false
}

// unwrapURLError drops url.Error's "parse <url>:" prefix, because the
// message quotes the value already.
func unwrapURLError(err error) error {
	if urlErr, ok := err.(*url.Error); ok {
		return urlErr.Err
	}
	return err
}

// appendBoolean accepts true/false, yes/no, y/n, t/f (PostgreSQL's text
// form) and 1/0, in any case.
func appendBoolean(buf []byte, s string) ([]byte, error) {
	for _, word := range []string{"true", "yes", "y", "t", "1"} {
		if strings.EqualFold(s, word) {
			return append(buf, "true"...), nil
		}
	}
	for _, word := range []string{"false", "no", "n", "f", "0"} {
		if strings.EqualFold(s, word) {
			return append(buf, "false"...), nil
		}
	}
	return buf, fmt.Errorf("invalid boolean %q: use true or false, yes or no, or 1 or 0", s)
}

// appendUUID writes s, a UUID in the 8-4-4-4-12 hex form, in lower case so
// that "ABC…" and "abc…" hash alike.
func appendUUID(buf []byte, s, typeName string) ([]byte, error) {
	if !isUUID(s) {
		return buf, fmt.Errorf("invalid %s id %q: expected the UUID of the Atlas %s, such as 3f2504e0-4f89-41d3-9a0c-0305e82c3301", typeName, s, typeName)
	}
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'F' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return append(buf, '"'), nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			isHex := c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
			if !isHex {
				return false
			}
		}
	}
	return true
}
