package salesforce

import (
	"errors"
	"fmt"
	"strings"
)

// checksumAlphabet encodes the five case bits of one 5-character chunk of a
// 15-character ID as one suffix character: bit i is set when character i of
// the chunk is an upper-case letter.
const checksumAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

var errNotID = errors.New("expected a Salesforce ID of 15 or 18 letters and digits")

// CaseSafeID returns the 18-character, case-insensitive form of a Salesforce
// record ID. A 15-character ID gets its 3-character checksum suffix. An
// 18-character ID is returned with an upper-case suffix and with the case of
// its first 15 characters restored from the suffix, so an ID whose case a
// spreadsheet changed maps back to the original record. The result is the
// same whichever form an export wrote.
func CaseSafeID(id string) (string, error) {
	if !isAlphanumeric(id) {
		return "", fmt.Errorf("invalid ID %q: %w", id, errNotID)
	}
	switch len(id) {
	case 15:
		return id + checksum(id), nil
	case 18:
		return restoreCase(id)
	default:
		return "", fmt.Errorf("invalid ID %q: %w", id, errNotID)
	}
}

// checksum computes the suffix of a 15-character ID.
func checksum(id string) string {
	var suffix [3]byte
	for chunk := 0; chunk < 3; chunk++ {
		bits := 0
		for i := 0; i < 5; i++ {
			c := id[chunk*5+i]
			if c >= 'A' && c <= 'Z' {
				bits |= 1 << i
			}
		}
		suffix[chunk] = checksumAlphabet[bits]
	}
	return string(suffix[:])
}

// restoreCase rewrites the first 15 characters of an 18-character ID in the
// case that its suffix records. A suffix bit set on a digit means the ID is
// not a Salesforce ID.
func restoreCase(id string) (string, error) {
	suffix := strings.ToUpper(id[15:])
	out := []byte(id[:15])
	for chunk := 0; chunk < 3; chunk++ {
		bits := strings.IndexByte(checksumAlphabet, suffix[chunk])
		if bits < 0 {
			return "", fmt.Errorf("invalid ID %q: the checksum character %q is not one of A-Z and 0-5", id, id[15+chunk])
		}
		for i := 0; i < 5; i++ {
			k := chunk*5 + i
			upper := bits&(1<<i) != 0
			c := out[k]
			switch {
			case c >= '0' && c <= '9':
				if upper {
					return "", fmt.Errorf("invalid ID %q: the checksum marks character %d, a digit, as upper case", id, k+1)
				}
			case upper:
				out[k] = toUpper(c)
			default:
				out[k] = toLower(c)
			}
		}
	}
	return string(out) + suffix, nil
}

func isAlphanumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func toUpper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

func toLower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c - 'A' + 'a'
	}
	return c
}
