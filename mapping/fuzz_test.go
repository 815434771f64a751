package mapping

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/sources"
)

// FuzzConvert maps one value with one field type and checks that Map never
// panics, that every error is a *sources.RowError at the record's position,
// and that every body is valid JSON whose text values decode to the input.
func FuzzConvert(f *testing.F) {
	for _, seed := range [][2]string{
		{"text", " Kōbō \"R\"\n"}, {"number", "-0012.000"}, {"number", "9223372036854775808"},
		{"decimal", "1250000.50"}, {"decimal", "-.5e-3"}, {"date", "2027-02-30"}, {"date", "2027-03-31T10:00:00.000Z"},
		{"multi", "a;;b ; c"}, {"url", "northwind-fab.example"}, {"boolean", "Yes"},
		{"agent", "3F2504E0-4F89-41D3-9A0C-0305E82C3301"}, {"list", "\xff"},
	} {
		f.Add(seed[0], seed[1])
	}

	types := map[string]bool{}
	for name := range kindsByType {
		types[name] = true
	}

	f.Fuzz(func(t *testing.T, typeName, value string) {
		if !types[typeName] || typeName == "address" {
			return
		}
		m := config.Mapping{ExternalID: "id", CustomFields: map[string]config.Field{"f": {Column: "v", Type: typeName}}}
		mapper, err := New(m, []string{"id", "v"})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		payload, err := mapper.Map(sources.Record{Position: "f.csv:2", Values: []sources.Value{{Text: "1"}, {Text: value}}})
		if err != nil {
			var rowErr *sources.RowError
			if !errors.As(err, &rowErr) || rowErr.Position != "f.csv:2" || rowErr.Column != "v" {
				t.Fatalf("error %#v is not a RowError at f.csv:2, column v", err)
			}
			return
		}
		if !json.Valid(payload.Body) {
			t.Fatalf("body %q is not valid JSON", payload.Body)
		}
		var body struct {
			CustomFields map[string]json.RawMessage `json:"customFields"`
		}
		if err := json.Unmarshal(payload.Body, &body); err != nil {
			t.Fatal(err)
		}
		raw, present := body.CustomFields["f"]
		trimmed := strings.TrimSpace(value)
		if present == (trimmed == "") && typeName != "multi" {
			t.Fatalf("value %q: field present %v", value, present)
		}
		if !present {
			return
		}

		switch typeName {
		case "text", "list":
			var decoded string
			if err := json.Unmarshal(raw, &decoded); err != nil {
				t.Fatal(err)
			}
			if utf8.ValidString(trimmed) && decoded != trimmed {
				t.Fatalf("text %q decoded as %q", trimmed, decoded)
			}
		case "decimal", "number":
			// The canonical form is a fixed point: converting it again
			// gives the same bytes.
			again, err := appendDecimal(nil, string(raw))
			if err != nil || string(again) != string(raw) {
				t.Fatalf("%s %q gave %s, which converts again to %s (%v)", typeName, value, raw, again, err)
			}
		}
	})
}
