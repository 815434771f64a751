package mapping

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestDigitsLayoutRecognizesLayouts(t *testing.T) {
	cases := map[string]string{
		"2006-01-02": "YYYY-MM-DD",
		"01/02/2006": "MM/DD/YYYY",
		"02.01.2006": "DD.MM.YYYY",
		"20060102":   "YYYYMMDD",
		"02 01 2006": "DD MM YYYY",
	}
	for layout, want := range cases {
		l := newDigitsLayout(layout)
		if l == nil || l.pattern != want {
			t.Errorf("newDigitsLayout(%q) = %+v, want pattern %q", layout, l, want)
		}
	}
	for _, layout := range []string{"02/01/06", "Jan 2, 2006", "2006-1-2", "2006-01-02T15:04:05", "2006-01", "2006-01-02-01", "2006_01_02", ""} {
		if l := newDigitsLayout(layout); l != nil {
			t.Errorf("newDigitsLayout(%q) = %+v, want nil", layout, l)
		}
	}
}

// TestDigitsLayoutMatchesTimeParse checks that every value the fast path
// accepts gives the bytes of appendDate's time.Parse path, and that the
// fast path accepts every valid date of the layout's shape.
func TestDigitsLayoutMatchesTimeParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, layout := range []string{"2006-01-02", "01/02/2006", "02.01.2006", "20060102", "02 01 2006"} {
		digits := newDigitsLayout(layout)
		check := func(value string) {
			fast, ok := digits.appendDate(nil, value)
			slow, err := appendDate(nil, value, layout)
			if ok && (err != nil || string(fast) != string(slow)) {
				t.Errorf("layout %s, value %q: fast path %s, time.Parse path %s (%v)", layout, value, fast, slow, err)
			}
			if !ok && err == nil && len(value) == len(layout) && string(slow) != "" && isShapedLike(value, digits.pattern) {
				t.Errorf("layout %s, value %q: the fast path rejected a valid date (%s)", layout, value, slow)
			}
		}
		format := func(y, m, d int) string {
			return string(mustAppendLayout(layout, y, m, d))
		}
		for _, y := range []int{0, 1, 4, 99, 100, 400, 1900, 1999, 2000, 2024, 2027, 2100, 9999} {
			for m := 0; m <= 13; m++ {
				for d := 0; d <= 32; d++ {
					check(format(y, m, d))
				}
			}
		}
		for range 20000 {
			value := []byte(format(rng.IntN(10000), rng.IntN(100), rng.IntN(100)))
			if rng.IntN(4) == 0 {
				value[rng.IntN(len(value))] = "0123456789-/. Ax"[rng.IntN(16)]
			}
			check(string(value))
		}
		for _, value := range []string{"", "2027-03-31T10:00:00Z", " 2027-03-31", "2027-03-31 ", "+027-03-31", "2027-3-31", "2027-03-31\n"} {
			check(value)
		}
	}
}

// mustAppendLayout writes year, month and day into layout's digit
// positions without checking the values, which may be out of range.
func mustAppendLayout(layout string, year, month, day int) []byte {
	pattern := newDigitsLayout(layout).pattern
	digits := map[byte]string{'Y': fmt.Sprintf("%04d", year), 'M': fmt.Sprintf("%02d", month), 'D': fmt.Sprintf("%02d", day)}
	out := make([]byte, len(pattern))
	next := map[byte]int{}
	for i := 0; i < len(pattern); i++ {
		p := pattern[i]
		if s, ok := digits[p]; ok {
			out[i] = s[next[p]]
			next[p]++
			continue
		}
		out[i] = p
	}
	return out
}

// isShapedLike reports whether value has a digit where pattern has Y, M
// or D and the pattern's byte everywhere else.
func isShapedLike(value, pattern string) bool {
	if len(value) != len(pattern) {
		return false
	}
	for i := 0; i < len(value); i++ {
		switch pattern[i] {
		case 'Y', 'M', 'D':
			if value[i] < '0' || value[i] > '9' {
				return false
			}
		default:
			if value[i] != pattern[i] {
				return false
			}
		}
	}
	return true
}
