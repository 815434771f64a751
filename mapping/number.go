package mapping

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// maxDecimalPoint bounds the decimal point's distance from the first
// significant digit, so that "1e999999999" cannot expand into a gigabyte
// of zeros. 1000 digits is far beyond any float64 or CRM amount.
const maxDecimalPoint = 1000

var (
	errDecimalSyntax = errors.New("syntax")
	errDecimalRange  = errors.New("range")
)

// parseDecimal parses [+-]digits[.digits][(e|E)[+-]digits], with digits on
// at least one side of the point. It returns the value as significant
// digits, without leading or trailing zeros, appended to scratch, and the
// position of the decimal point: the value is 0.digits × 10^point. Zero has
// no digits and is never negative.
func parseDecimal(s string, scratch []byte) (digits []byte, point int, negative bool, err error) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		negative = s[i] == '-'
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intDigits := s[intStart:i]

	fracDigits := ""
	if i < len(s) && s[i] == '.' {
		i++
		fracStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		fracDigits = s[fracStart:i]
	}
	if intDigits == "" && fracDigits == "" {
		return nil, 0, false, errDecimalSyntax
	}

	exponent := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNegative := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNegative = s[i] == '-'
			i++
		}
		expStart := i
		for ; i < len(s) && isDigit(s[i]); i++ {
			if exponent < 10*maxDecimalPoint { // larger exponents fail the range check anyway
				exponent = exponent*10 + int(s[i]-'0')
			}
		}
		if i == expStart {
			return nil, 0, false, errDecimalSyntax
		}
		if expNegative {
			exponent = -exponent
		}
	}
	if i != len(s) {
		return nil, 0, false, errDecimalSyntax
	}

	digits = append(scratch, intDigits...)
	digits = append(digits, fracDigits...)
	point = len(intDigits) + exponent

	leading := 0
	for leading < len(digits) && digits[leading] == '0' {
		leading++
	}
	digits = digits[leading:]
	point -= leading
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 {
		return nil, 0, false, nil
	}
	if point > maxDecimalPoint || point < -maxDecimalPoint {
		return nil, 0, false, errDecimalRange
	}
	return digits, point, negative, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// appendDecimal writes s as a JSON number in canonical form: no exponent,
// no leading zeros in the integer part, no trailing zeros in the fraction,
// and no fraction at all when it is zero ("1.0" becomes 1).
func appendDecimal(buf []byte, s string) ([]byte, error) {
	var scratch [64]byte
	digits, point, negative, err := parseDecimal(s, scratch[:0])
	switch {
	case errors.Is(err, errDecimalRange):
		return buf, fmt.Errorf("decimal %q is out of range: at most %d digits before or after the decimal point are accepted", s, maxDecimalPoint)
	case err != nil:
		return buf, fmt.Errorf("invalid decimal %q: %s", s, numberHint(s, true))
	}

	if len(digits) == 0 {
		return append(buf, '0'), nil
	}
	if negative {
		buf = append(buf, '-')
	}
	switch {
	case point <= 0:
		buf = append(buf, '0', '.')
		buf = appendZeros(buf, -point)
		buf = append(buf, digits...)
	case point >= len(digits):
		buf = append(buf, digits...)
		buf = appendZeros(buf, point-len(digits))
	default:
		buf = append(buf, digits[:point]...)
		buf = append(buf, '.')
		buf = append(buf, digits[point:]...)
	}
	return buf, nil
}

// appendInteger writes s as a JSON integer in the int64 range. It accepts
// what appendDecimal accepts, as long as the value has no fractional part,
// so "12.0" and "1.2e3" are integers and "12.5" is an error.
func appendInteger(buf []byte, s string) ([]byte, error) {
	var scratch [64]byte
	digits, point, negative, err := parseDecimal(s, scratch[:0])
	switch {
	case errors.Is(err, errDecimalRange):
		return buf, integerRangeError(s)
	case err != nil:
		return buf, fmt.Errorf("invalid number %q: %s", s, numberHint(s, false))
	case len(digits) == 0:
		return append(buf, '0'), nil
	case point < len(digits):
		return buf, fmt.Errorf("invalid number %q: it has a fractional part; use type decimal for such values", s)
	case point > 19: // more digits than any int64
		return buf, integerRangeError(s)
	}

	var magnitude uint64
	for k := 0; k < point; k++ {
		d := uint64(0)
		if k < len(digits) {
			d = uint64(digits[k] - '0')
		}
		if magnitude > (math.MaxUint64-d)/10 {
			return buf, integerRangeError(s)
		}
		magnitude = magnitude*10 + d
	}
	limit := uint64(math.MaxInt64)
	if negative {
		limit++ // -9223372036854775808
	}
	if magnitude > limit {
		return buf, integerRangeError(s)
	}

	if negative {
		buf = append(buf, '-')
	}
	return strconv.AppendUint(buf, magnitude, 10), nil
}

func integerRangeError(s string) error {
	return fmt.Errorf("number %q is out of range: it must be between %d and %d; use type decimal for larger values", s, int64(math.MinInt64), int64(math.MaxInt64))
}

// numberHint describes a valid value and points out the usual mistakes,
// thousands separators and a decimal comma.
func numberHint(s string, decimal bool) string {
	var hint string
	if decimal {
		hint = `use digits with an optional sign, "." as the decimal point and an optional exponent (1.5e3)`
	} else {
		hint = "use digits with an optional sign"
	}
	if strings.ContainsAny(s, ", '_") {
		hint += ", without thousands separators or a decimal comma"
	}
	return hint
}

func appendZeros(buf []byte, n int) []byte {
	for ; n > 0; n-- {
		buf = append(buf, '0')
	}
	return buf
}
