package mapping

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/sources"
)

// convertOne maps value through a custom field "f" configured as cfg (with
// Column "v") and returns the JSON text of the field, or "" when the body
// leaves it out.
func convertOne(t *testing.T, cfg config.Field, value sources.Value) (string, error) {
	t.Helper()
	if cfg.Type != "address" {
		cfg.Column = "v"
	}
	m := config.Mapping{ExternalID: "id", CustomFields: map[string]config.Field{"f": cfg}}
	mapper, err := New(m, []string{"id", "v", "title"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	payload, err := mapper.Map(sources.Record{Position: "t.csv:2", Values: []sources.Value{{Text: "1"}, value, {Text: "Home"}}})
	if err != nil {
		return "", err
	}
	var body struct {
		CustomFields map[string]json.RawMessage `json:"customFields"`
	}
	if err := json.Unmarshal(payload.Body, &body); err != nil {
		t.Fatalf("body %s is not JSON: %v", payload.Body, err)
	}
	return string(body.CustomFields["f"]), nil
}

func TestConvertTypes(t *testing.T) {
	tests := []struct {
		name  string
		field config.Field
		value sources.Value
		want  string // JSON of the field, "" when left out
		err   string // substring of the expected error
	}{
		{name: "text", field: config.Field{}, value: sources.Value{Text: "  Acme <&> \"Q\"\n "}, want: `"Acme <&> \"Q\""`},
		{name: "text inner line break kept", field: config.Field{}, value: sources.Value{Text: "a\r\nb"}, want: `"a\r\nb"`},
		{name: "text null", field: config.Field{}, value: sources.Value{Null: true}, want: ""},
		{name: "text white space only", field: config.Field{}, value: sources.Value{Text: " \t "}, want: ""},
		{name: "text rejects a list", field: config.Field{}, value: sources.Value{List: []string{"a"}}, err: "use type multi"},
		{name: "list", field: config.Field{Type: "list"}, value: sources.Value{Text: " Gold "}, want: `"Gold"`},

		{name: "number", field: config.Field{Type: "number"}, value: sources.Value{Text: "120"}, want: `120`},
		{name: "number sign and zeros", field: config.Field{Type: "number"}, value: sources.Value{Text: "+007"}, want: `7`},
		{name: "number negative", field: config.Field{Type: "number"}, value: sources.Value{Text: "-42"}, want: `-42`},
		{name: "number minus zero", field: config.Field{Type: "number"}, value: sources.Value{Text: "-0"}, want: `0`},
		{name: "number with zero fraction", field: config.Field{Type: "number"}, value: sources.Value{Text: "12.0"}, want: `12`},
		{name: "number with exponent", field: config.Field{Type: "number"}, value: sources.Value{Text: "1.2e3"}, want: `1200`},
		{name: "number max int64", field: config.Field{Type: "number"}, value: sources.Value{Text: "9223372036854775807"}, want: `9223372036854775807`},
		{name: "number min int64", field: config.Field{Type: "number"}, value: sources.Value{Text: "-9223372036854775808"}, want: `-9223372036854775808`},
		{name: "number above int64", field: config.Field{Type: "number"}, value: sources.Value{Text: "9223372036854775808"}, err: "out of range"},
		{name: "number below int64", field: config.Field{Type: "number"}, value: sources.Value{Text: "-9223372036854775809"}, err: "out of range"},
		{name: "number twenty digits", field: config.Field{Type: "number"}, value: sources.Value{Text: "99999999999999999999"}, err: "out of range"},
		{name: "number huge exponent", field: config.Field{Type: "number"}, value: sources.Value{Text: "1e999999999999"}, err: "out of range"},
		{name: "number with fraction", field: config.Field{Type: "number"}, value: sources.Value{Text: "12.5"}, err: "fractional part"},
		{name: "number with separator", field: config.Field{Type: "number"}, value: sources.Value{Text: "1,200"}, err: "without thousands separators"},
		{name: "number text", field: config.Field{Type: "number"}, value: sources.Value{Text: "twelve"}, err: `invalid number "twelve"`},
		{name: "number sign only", field: config.Field{Type: "number"}, value: sources.Value{Text: "-"}, err: "invalid number"},

		{name: "decimal trailing zero", field: config.Field{Type: "decimal"}, value: sources.Value{Text: "1250000.50"}, want: `1250000.5`},
		{name: "decimal one point zero", field: config.Field{Type: "decimal"}, value: sources.Value{Text: "1.0"}, want: `1`},
		{name: "decimal leading zeros", field: config.Field{Type: "decimal"}, value: sources.Value{Text: "0012.500"}, want: `12.5`},
		{name: "decimal small", field: config.Field{Type: "decimal"}, value: sources.Value{Text: "-.05"}, want: `-0.05`},
		{name: "decimal point last", field: config.Field{Type: "decimal"}, value: sources.Value{Text: "5."}, want: `5`},
		{name: "decimal zero", field: config.Field{Type: "decimal"}, value: sources.Value{Text: "-0.000"}, want: `0`},
		{name: "decimal exact beyond float64", field: config.Field{Type: "decimal"}, value: sources.Value{Text: "12345678901234567890.123456789"}, want: `12345678901234567890.123456789`},
		{name: "decimal exponent", field: config.Field{Type: "decimal"}, value: sources.Value{Text: "1.5E3"}, want: `1500`},
		{name: "decimal negative exponent", field: config.Field{Type: "decimal"}, value: sources.Value{Text: "15e-3"}, want: `0.015`},
		{name: "decimal exponent too large", field: config.Field{Type: "decimal"}, value: sources.Value{Text: "1e1001"}, err: "out of range"},
		{name: "decimal comma", field: config.Field{Type: "decimal"}, value: sources.Value{Text: "12,5"}, err: "decimal comma"},
		{name: "decimal NaN", field: config.Field{Type: "decimal"}, value: sources.Value{Text: "NaN"}, err: `invalid decimal "NaN"`},
		{name: "decimal exponent without digits", field: config.Field{Type: "decimal"}, value: sources.Value{Text: "1e"}, err: "invalid decimal"},

		{name: "date default layout", field: config.Field{Type: "date"}, value: sources.Value{Text: "2027-03-31"}, want: `"2027-03-31"`},
		{name: "date custom layout", field: config.Field{Type: "date", Layout: "01/02/2006"}, value: sources.Value{Text: "03/31/2027"}, want: `"2027-03-31"`},
		{name: "date RFC 3339", field: config.Field{Type: "date", Layout: "01/02/2006"}, value: sources.Value{Text: "2027-03-31T23:30:00+02:00"}, want: `"2027-03-31"`},
		{name: "date milliseconds Z", field: config.Field{Type: "date"}, value: sources.Value{Text: "2027-03-31T10:00:00.000Z"}, want: `"2027-03-31"`},
		{name: "date PostgreSQL timestamp", field: config.Field{Type: "date"}, value: sources.Value{Text: "2027-03-31 10:00:00"}, want: `"2027-03-31"`},
		{name: "date leap day", field: config.Field{Type: "date"}, value: sources.Value{Text: "2028-02-29"}, want: `"2028-02-29"`},
		{name: "date February 30", field: config.Field{Type: "date"}, value: sources.Value{Text: "2027-02-30"}, err: `invalid date "2027-02-30" for layout 2006-01-02: day out of range`},
		{name: "date wrong layout", field: config.Field{Type: "date", Layout: "01/02/2006"}, value: sources.Value{Text: "2027-02-30"}, err: `invalid date "2027-02-30" for layout 01/02/2006`},
		{name: "date not leap year", field: config.Field{Type: "date"}, value: sources.Value{Text: "2027-02-29"}, err: "day out of range"},

		{name: "multi", field: config.Field{Type: "multi"}, value: sources.Value{Text: " a; b ;;c; "}, want: `["a","b","c"]`},
		{name: "multi separator", field: config.Field{Type: "multi", Separator: "|"}, value: sources.Value{Text: "a;x|b"}, want: `["a;x","b"]`},
		{name: "multi list value", field: config.Field{Type: "multi"}, value: sources.Value{List: []string{" a ", "", "b"}}, want: `["a","b"]`},
		{name: "multi only separators", field: config.Field{Type: "multi"}, value: sources.Value{Text: " ; ; "}, want: ""},
		{name: "multi empty list", field: config.Field{Type: "multi"}, value: sources.Value{List: []string{}}, want: ""},

		{name: "url bare domain", field: config.Field{Type: "url"}, value: sources.Value{Text: "northwind-fab.example"}, want: `{"url":"https://northwind-fab.example"}`},
		{name: "url with scheme", field: config.Field{Type: "url"}, value: sources.Value{Text: "http://a.example/x?q=1&r=2"}, want: `{"url":"http://a.example/x?q=1&r=2"}`},
		{name: "url with port", field: config.Field{Type: "url"}, value: sources.Value{Text: "localhost:8080/x"}, want: `{"url":"https://localhost:8080/x"}`},
		{name: "url title", field: config.Field{Type: "url", TitleColumn: "title"}, value: sources.Value{Text: "a.example"}, want: `{"title":"Home","url":"https://a.example"}`},
		{name: "url with space", field: config.Field{Type: "url"}, value: sources.Value{Text: "a.example/x y"}, err: "white space"},
		{name: "url without host", field: config.Field{Type: "url"}, value: sources.Value{Text: "https:///path"}, err: "no host name"},
		{name: "url invalid", field: config.Field{Type: "url"}, value: sources.Value{Text: "http://[::1"}, err: "invalid url"},

		{name: "boolean true", field: config.Field{Type: "boolean"}, value: sources.Value{Text: "Yes"}, want: `true`},
		{name: "boolean one", field: config.Field{Type: "boolean"}, value: sources.Value{Text: "1"}, want: `true`},
		{name: "boolean t", field: config.Field{Type: "boolean"}, value: sources.Value{Text: "t"}, want: `true`},
		{name: "boolean false", field: config.Field{Type: "boolean"}, value: sources.Value{Text: "FALSE"}, want: `false`},
		{name: "boolean zero", field: config.Field{Type: "boolean"}, value: sources.Value{Text: "0"}, want: `false`},
		{name: "boolean invalid", field: config.Field{Type: "boolean"}, value: sources.Value{Text: "maybe"}, err: `invalid boolean "maybe"`},

		{name: "agent", field: config.Field{Type: "agent"}, value: sources.Value{Text: "3F2504E0-4F89-41D3-9A0C-0305E82C3301"}, want: `"3f2504e0-4f89-41d3-9a0c-0305e82c3301"`},
		{name: "customer", field: config.Field{Type: "customer"}, value: sources.Value{Text: "3f2504e0-4f89-41d3-9a0c-0305e82c3301"}, want: `"3f2504e0-4f89-41d3-9a0c-0305e82c3301"`},
		{name: "account invalid", field: config.Field{Type: "account"}, value: sources.Value{Text: "3f2504e0-4f89-41d3-9a0c-0305e82c330"}, err: "invalid account id"},
		{name: "ticket invalid hex", field: config.Field{Type: "ticket"}, value: sources.Value{Text: "3f2504e0-4f89-41d3-9a0c-0305e82c330g"}, err: "invalid ticket id"},
		{name: "ticket without hyphens", field: config.Field{Type: "ticket"}, value: sources.Value{Text: "3f2504e04f8941d39a0c0305e82c3301abcd"}, err: "invalid ticket id"},

		{name: "path string", field: config.Field{Path: "plan.tier"}, value: sources.Value{Text: `{"plan":{"tier":" Gold "}}`}, want: `"Gold"`},
		{name: "path number", field: config.Field{Type: "decimal", Path: "arr"}, value: sources.Value{Text: `{"arr":1250000.50}`}, want: `1250000.5`},
		{name: "path big number stays exact", field: config.Field{Type: "number", Path: "n"}, value: sources.Value{Text: `{"n":9007199254740993}`}, want: `9007199254740993`},
		{name: "path boolean", field: config.Field{Type: "boolean", Path: "vip"}, value: sources.Value{Text: `{"vip":true}`}, want: `true`},
		{name: "path array for multi", field: config.Field{Type: "multi", Path: "tags"}, value: sources.Value{Text: `{"tags":["a"," b",null,3]}`}, want: `["a","b","3"]`},
		{name: "path missing", field: config.Field{Path: "plan.tier"}, value: sources.Value{Text: `{"plan":{}}`}, want: ""},
		{name: "path null", field: config.Field{Path: "plan.tier"}, value: sources.Value{Text: `{"plan":null}`}, want: ""},
		{name: "path through a string", field: config.Field{Path: "plan.tier"}, value: sources.Value{Text: `{"plan":"gold"}`}, err: "plan is a string, not an object"},
		{name: "path selects an object", field: config.Field{Path: "plan"}, value: sources.Value{Text: `{"plan":{"tier":1}}`}, err: "selects an object"},
		{name: "path array for text", field: config.Field{Path: "tags"}, value: sources.Value{Text: `{"tags":["a"]}`}, err: "use type multi"},
		{name: "path invalid JSON", field: config.Field{Path: "plan"}, value: sources.Value{Text: `{plan`}, err: "does not contain a JSON document"},
		{name: "path trailing data", field: config.Field{Path: "plan"}, value: sources.Value{Text: `{"plan":1} x`}, err: "data after its JSON document"},

		{name: "address", field: config.Field{Type: "address", Street1: "v", City: "title"}, value: sources.Value{Text: " 1 Main St "}, want: `{"city":"Home","street1":"1 Main St"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := convertOne(t, tt.field, tt.value)
			if tt.err != "" {
				if err == nil {
					t.Fatalf("got %s, want an error containing %q", got, tt.err)
				}
				if !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %q does not contain %q", err, tt.err)
				}
				var rowErr *sources.RowError
				if !errors.As(err, &rowErr) {
					t.Fatalf("error %T is not a *sources.RowError", err)
				}
				if rowErr.Position != "t.csv:2" || rowErr.Column != "v" {
					t.Errorf("RowError position %q column %q, want t.csv:2 and v", rowErr.Position, rowErr.Column)
				}
				if !strings.Contains(err.Error(), "(custom field f)") {
					t.Errorf("error %q does not name the custom field", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestEmptyPolicy(t *testing.T) {
	types := map[string]string{
		"text": `""`, "list": `""`, "number": `""`, "decimal": `""`, "date": `""`, "multi": `[]`,
		"url": `""`, "boolean": `""`, "agent": `""`, "customer": `""`, "account": `""`, "ticket": `""`,
	}
	for typeName, cleared := range types {
		for _, value := range []sources.Value{{Text: ""}, {Null: true}, {Text: "  "}} {
			got, err := convertOne(t, config.Field{Type: typeName}, value)
			if err != nil {
				t.Fatalf("%s leave %+v: %v", typeName, value, err)
			}
			if got != "" {
				t.Errorf("%s leave %+v = %s, want the key left out", typeName, value, got)
			}
			got, err = convertOne(t, config.Field{Type: typeName, Empty: "clear"}, value)
			if err != nil {
				t.Fatalf("%s clear %+v: %v", typeName, value, err)
			}
			if got != cleared {
				t.Errorf("%s clear %+v = %s, want %s", typeName, value, got, cleared)
			}
		}
	}

	address := config.Field{Type: "address", Street1: "v", Empty: "clear"}
	if got, _ := convertOne(t, address, sources.Value{Text: " "}); got != `""` {
		t.Errorf("empty address with clear = %s, want \"\"", got)
	}
	address.Empty = ""
	if got, _ := convertOne(t, address, sources.Value{Null: true}); got != "" {
		t.Errorf("empty address with leave = %s, want the key left out", got)
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	inputs := []string{
		"", "plain", `q"uo\te`, "<a href='x'>&amp;</a>", "tab\tnl\nret\rbs\bff\f",
		"\x00\x01\x1f\x7f", "é Kōbō 𝄞", "line\u2028para\u2029", "bad\xffutf8\xe2\x82",
	}
	for _, s := range inputs {
		if got, want := string(appendString(nil, s)), encodeJSON(t, s); got != want {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestAppendStringWordPath puts each byte that needs escaping, and
// non-ASCII text, at every position of strings up to 40 bytes long, so
// that it falls inside and after the eight-byte words that appendString
// skips at once.
func TestAppendStringWordPath(t *testing.T) {
	specials := []string{"\"", "\\", "\x00", "\x1f", "\n", "\x7f", "é", "\u2028", "\xff", "!", "#", "[", "]", " "}
	for length := 0; length <= 40; length++ {
		for at := 0; at <= length; at++ {
			for _, special := range specials {
				s := strings.Repeat("a", at) + special + strings.Repeat("Z", length-at)
				if got, want := string(appendString(nil, s)), encodeJSON(t, s); got != want {
					t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
				}
			}
		}
	}
}

func TestPlainASCIIEveryByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
		for at := 0; at < 8; at++ {
			word := []byte("abcdefgh")
			word[at] = byte(c)
			if got := plainASCII(load64(string(word), 0)); got != want {
				t.Errorf("plainASCII with byte 0x%02x at %d = %v, want %v", c, at, got, want)
			}
		}
	}
}

// encodeJSON is the reference: encoding/json with HTML escaping off.
func encodeJSON(t testing.TB, s string) string {
	var out strings.Builder
	encoder := json.NewEncoder(&out)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(out.String(), "\n")
}
