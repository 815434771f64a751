package csv

import (
	"fmt"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
)

// acceptedEncodings is the hint shown when an encoding name is unknown.
const acceptedEncodings = "utf-8 (the default), latin-1 (iso-8859-1), windows-1252 (cp1252), " +
	"or another WHATWG encoding label such as iso-8859-15, windows-1250, shift_jis, gbk or utf-16le"

// lookupEncoding returns the decoder for name, or nil for UTF-8, which the
// source reads natively and validates.
//
// latin-1 and iso-8859-1 mean ISO 8859-1 here, unlike in the WHATWG index,
// which maps them to windows-1252: the two differ in 0x80 to 0x9F, and a
// file declared as ISO 8859-1 is read as that.
func lookupEncoding(name string) (encoding.Encoding, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "utf-8", "utf8":
		return nil, nil
	case "latin-1", "latin1", "iso-8859-1", "iso8859-1", "iso_8859-1":
		return charmap.ISO8859_1, nil
	case "windows-1252", "cp1252":
		return charmap.Windows1252, nil
	}

	enc, err := htmlindex.Get(name)
	if err != nil {
		return nil, fmt.Errorf("unknown encoding %q; use %s", name, acceptedEncodings)
	}
	if canonical, _ := htmlindex.Name(enc); canonical == "utf-8" {
		return nil, nil
	}
	return enc, nil
}
