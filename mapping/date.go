package mapping

import "strings"

// digitsLayout is a date layout made only of the elements 2006, 01 and 02
// and single separator bytes, such as "01/02/2006" or "2006-01-02". For
// those layouts appendDate reads a value of the exact shape without
// time.Parse. Any other value, including every invalid one, goes through
// time.Parse, so the output and the errors stay those of time.Parse.
type digitsLayout struct {
	// pattern has the layout's length: 'Y', 'M' and 'D' mark the digits
	// of year, month and day, any other byte is a separator that the
	// value must repeat.
	pattern string
}

// dateSeparators are the bytes a digitsLayout may contain between its
// elements. time.Parse reads each of them as a literal in these layouts,
// because a '.' is followed by 01, 02 or 2006 there, never by the zeros of
// a fractional second. A layout's space matches one space or more in
// time.Parse, so the fast path takes only values with exactly one.
const dateSeparators = "-/. "

// newDigitsLayout returns the digitsLayout for layout, or nil when the
// layout has other elements (month names, two-digit years, times).
func newDigitsLayout(layout string) *digitsLayout {
	pattern := make([]byte, 0, len(layout))
	var years, months, days int
	for i := 0; i < len(layout); {
		rest := layout[i:]
		switch {
		case len(rest) >= 4 && rest[:4] == "2006":
			pattern = append(pattern, "YYYY"...)
			years++
			i += 4
		case len(rest) >= 2 && rest[:2] == "01":
			pattern = append(pattern, "MM"...)
			months++
			i += 2
		case len(rest) >= 2 && rest[:2] == "02":
			pattern = append(pattern, "DD"...)
			days++
			i += 2
		case strings.IndexByte(dateSeparators, rest[0]) >= 0:
			pattern = append(pattern, rest[0])
			i++
		default:
			return nil
		}
	}
	if years != 1 || months != 1 || days != 1 {
		return nil
	}
	return &digitsLayout{pattern: string(pattern)}
}

// appendDate writes s as a quoted "YYYY-MM-DD" and reports true when s has
// exactly the layout's shape and names a valid date. Otherwise it returns
// buf unchanged and false.
func (l *digitsLayout) appendDate(buf []byte, s string) ([]byte, bool) {
	if len(s) != len(l.pattern) {
		return buf, false
	}
	var year, month, day [4]byte
	var y, m, d int
	for i := 0; i < len(s); i++ {
		c, p := s[i], l.pattern[i]
		switch p {
		case 'Y', 'M', 'D':
			if c < '0' || c > '9' {
				return buf, false
			}
		default:
			if c != p {
				return buf, false
			}
			continue
		}
		switch p {
		case 'Y':
			year[y] = c
			y++
		case 'M':
			month[m] = c
			m++
		default:
			day[d] = c
			d++
		}
	}

	yearValue := int(year[0]-'0')*1000 + int(year[1]-'0')*100 + int(year[2]-'0')*10 + int(year[3]-'0')
	monthValue := int(month[0]-'0')*10 + int(month[1]-'0')
	dayValue := int(day[0]-'0')*10 + int(day[1]-'0')
	if monthValue < 1 || monthValue > 12 || dayValue < 1 || dayValue > daysIn(monthValue, yearValue) {
		return buf, false
	}

	buf = append(buf, '"')
	buf = append(buf, year[:]...)
	buf = append(buf, '-', month[0], month[1], '-', day[0], day[1], '"')
	return buf, true
}

// daysIn returns the days of month in year of the proleptic Gregorian
// calendar, as package time counts them.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
