package mapping

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/sources"
	csvsource "github.com/atlas-sync/atlas-sync/sources/csv"
)

// csvFuzzMapping reads every field type the columns of the seeds provide.
func csvFuzzMapping() config.Mapping {
	trim := true
	return config.Mapping{
		ExternalID: "id",
		Name:       "name",
		TrimSpace:  &trim,
		Fields:     map[string]config.Field{"domain": {Column: "web", Type: "text", Empty: "leave"}},
		CustomFields: map[string]config.Field{
			"seats":   {Column: "n", Type: "number", Empty: "clear"},
			"arr":     {Column: "dec", Type: "decimal", Empty: "leave"},
			"renewal": {Column: "day", Type: "date", Layout: "01/02/2006", Empty: "leave"},
			"tags":    {Column: "tags", Type: "multi", Separator: ";", Empty: "clear"},
			"active":  {Column: "flag", Type: "boolean", Empty: "leave"},
			"site":    {Column: "web", Type: "url", Empty: "leave"},
			"hq":      {Type: "address", City: "city", Country: "country", Empty: "leave"},
		},
	}
}

// FuzzCSVWithMapping reads arbitrary bytes as a CSV file and maps every
// record, as a run does. Nothing may panic or loop; every failure must be
// a *sources.RowError at a record's position (or an Open error naming the
// file, or a mapping error naming a missing column); every payload must
// be valid JSON carrying the record's externalId.
func FuzzCSVWithMapping(f *testing.F) {
	header := "id,name,web,n,dec,day,tags,flag,city,country\n"
	f.Add([]byte(header + "A-1,Acme,acme.example,12,1250.50,03/31/2027,a;b,yes,Berlin,DE\n"))
	f.Add([]byte(header + "A-2,\"Kōbō \"\"R\"\"\",,x,1e999,02/30/2027,;;,maybe,,\n"))
	f.Add([]byte(header + ",NoID,,,,,,,,\nA-3,\"open\n"))
	f.Add([]byte("\xef\xbb\xbf" + header + "A-4,M\xfcller,,,,,,,,\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.csv")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		src, err := csvsource.Open(context.Background(), csvsource.Options{Path: path, Name: "f.csv"})
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("Open error %q does not name the file", err)
			}
			return
		}
		defer src.Close()
		mapper, err := New(csvFuzzMapping(), src.Columns())
		if err != nil {
			return // a mapped column is missing from the fuzzed header
		}

		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatal("more records than bytes")
			}
			rec, err := src.Next(context.Background())
			if errors.Is(err, io.EOF) {
				return
			}
			if sources.IsRowError(err) {
				continue
			}
			if err != nil {
				t.Fatalf("fatal error reading a file: %v", err)
			}
			payload, err := mapper.Map(rec)
			if err != nil {
				var rowErr *sources.RowError
				if !errors.As(err, &rowErr) || rowErr.Position != rec.Position {
					t.Fatalf("Map error %v is not a RowError at %s", err, rec.Position)
				}
				continue
			}
			var body map[string]any
			if err := json.Unmarshal(payload.Body, &body); err != nil {
				t.Fatalf("payload at %s is not JSON: %v\n%s", rec.Position, err, payload.Body)
			}
			if body["externalId"] != payload.ExternalID || payload.ExternalID == "" {
				t.Fatalf("payload externalId %v, Payload.ExternalID %q", body["externalId"], payload.ExternalID)
			}
		}
	})
}
