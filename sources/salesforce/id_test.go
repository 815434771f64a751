package salesforce

import (
	"strings"
	"testing"
)

func TestCaseSafeIDKnownPairs(t *testing.T) {
	// Suffixes computed by hand: one bit per upper-case letter in each
	// 5-character chunk, bit 0 for the chunk's first character.
	cases := []struct{ in, want string }{
		{"001A0000006Vm9r", "001A0000006Vm9rIAC"}, // chunks 001A0, 00000, 6Vm9r: bits 8, 0, 2
		{"003D000000yUbCD", "003D000000yUbCDIA0"}, // last chunk yUbCD: bits 2+8+16 = 26 = '0'
		{"0015g00000A1bCd", "0015g00000A1bCdAAJ"}, // A1bCd: bits 1+8 = 9 = 'J'
		{"AAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAA555"},
		{"aaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaAAA"},
		{"000000000000000", "000000000000000AAA"},
	}
	for _, c := range cases {
		got, err := CaseSafeID(c.in)
		if err != nil {
			t.Errorf("CaseSafeID(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("CaseSafeID(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCaseSafeIDKeepsValid18(t *testing.T) {
	for _, id := range []string{"001A0000006Vm9rIAC", "003D000000yUbCDIA0", "0015g00000A1bCdAAJ"} {
		got, err := CaseSafeID(id)
		if err != nil {
			t.Errorf("CaseSafeID(%q): %v", id, err)
			continue
		}
		if got != id {
			t.Errorf("CaseSafeID(%q) = %q, want it unchanged", id, got)
		}
	}
}

func TestCaseSafeIDRestoresCase(t *testing.T) {
	cases := []struct{ in, want string }{
		{"001A0000006VM9RIAC", "001A0000006Vm9rIAC"},
		{"001a0000006vm9riac", "001A0000006Vm9rIAC"},
		{"003d000000yubcdia0", "003D000000yUbCDIA0"},
	}
	for _, c := range cases {
		got, err := CaseSafeID(c.in)
		if err != nil {
			t.Errorf("CaseSafeID(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("CaseSafeID(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCaseSafeIDFifteenAndEighteenAgree(t *testing.T) {
	short := "0015g00000bK7mZ"
	fromShort, err := CaseSafeID(short)
	if err != nil {
		t.Fatal(err)
	}
	fromLong, err := CaseSafeID(fromShort)
	if err != nil {
		t.Fatal(err)
	}
	if fromShort != fromLong {
		t.Errorf("15-character form gives %q, 18-character form gives %q", fromShort, fromLong)
	}
	if !strings.HasPrefix(fromShort, short) {
		t.Errorf("%q does not start with %q", fromShort, short)
	}
}

func TestCaseSafeIDRejectsInvalid(t *testing.T) {
	cases := []struct{ in, problem string }{
		{"", "15 or 18 letters and digits"},
		{"001A0000006Vm9", "15 or 18 letters and digits"},
		{"001A0000006Vm9rI", "15 or 18 letters and digits"},
		{"001A0000006Vm9-", "15 or 18 letters and digits"},
		{"001A0000006Vm9rIA9", "checksum character '9'"},
		{"000000000000000BAA", "a digit, as upper case"},
		{"ACC-0001", "15 or 18 letters and digits"},
	}
	for _, c := range cases {
		got, err := CaseSafeID(c.in)
		if err == nil {
			t.Errorf("CaseSafeID(%q) = %q, want an error", c.in, got)
			continue
		}
		if !strings.Contains(err.Error(), c.problem) {
			t.Errorf("CaseSafeID(%q) error = %q, want it to mention %q", c.in, err, c.problem)
		}
	}
}
