package mapping

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/sources"
	csvsource "github.com/atlas-sync/atlas-sync/sources/csv"
)

// crmMapping maps the columns of crm_accounts_messy.csv.
func crmMapping() config.Mapping {
	return config.Mapping{
		ExternalID: "account_id",
		Name:       "company_name",
		Fields:     map[string]config.Field{"domain": {Column: "website"}},
		CustomFields: map[string]config.Field{
			"industry":       {Column: "industry"},
			"annual_revenue": {Column: "annual_revenue", Type: "decimal"},
			"employees":      {Column: "employees", Type: "number"},
			"renewal_date":   {Column: "renewal_date", Type: "date", Layout: "01/02/2006"},
			"address":        {Type: "address", Street1: "street", City: "city", Country: "country"},
			"notes":          {Column: "notes"},
		},
	}
}

// mapFile reads a whole file through the CSV source and the mapping and
// returns the payloads by externalId and the row errors in file order.
func mapFile(t *testing.T, opts csvsource.Options, m config.Mapping) (map[string]Payload, []string, []*sources.RowError) {
	t.Helper()
	ctx := context.Background()
	src, err := csvsource.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	mapper, err := New(m, src.Columns())
	if err != nil {
		t.Fatal(err)
	}

	payloads := make(map[string]Payload)
	var order []string
	var rowErrors []*sources.RowError
	for {
		rec, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return payloads, order, rowErrors
		}
		if err == nil {
			var payload Payload
			payload, err = mapper.Map(rec)
			if err == nil {
				payloads[payload.ExternalID] = payload
				order = append(order, payload.ExternalID)
				continue
			}
		}
		var rowErr *sources.RowError
		if !errors.As(err, &rowErr) {
			t.Fatalf("fatal error: %v", err)
		}
		rowErrors = append(rowErrors, rowErr)
	}
}

func decodeBody(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var decoded map[string]any
	if err := json.Unmarshal(body, &decoded); err != nil {
		t.Fatalf("body %s is not JSON: %v", body, err)
	}
	return decoded
}

func TestCRMExportPayloads(t *testing.T) {
	payloads, order, rowErrors := mapFile(t, csvsource.Options{
		Path: "../testdata/csv/crm_accounts_messy.csv",
		Name: "crm_accounts_messy.csv",
	}, crmMapping())

	wantOrder := []string{"CRM-0001", "CRM-0002", "CRM-0003", "CRM-0005", "CRM-0007"}
	if strings.Join(order, ",") != strings.Join(wantOrder, ",") {
		t.Fatalf("payloads for %v, want %v", order, wantOrder)
	}

	if len(rowErrors) != 2 {
		t.Fatalf("got %d row errors, want 2: %v", len(rowErrors), rowErrors)
	}
	missing := rowErrors[0]
	if missing.Position != "crm_accounts_messy.csv:7" {
		t.Errorf("first row error at %s, want crm_accounts_messy.csv:7", missing.Position)
	}
	if missing.Column != "account_id" {
		t.Errorf("first row error column %q, want account_id", missing.Column)
	}
	if !strings.Contains(missing.Error(), "every account needs an externalId") {
		t.Errorf("first row error %q does not report the missing externalId", missing)
	}
	badDate := rowErrors[1]
	if badDate.Position != "crm_accounts_messy.csv:9" {
		t.Errorf("second row error at %s, want crm_accounts_messy.csv:9", badDate.Position)
	}
	if badDate.Column != "renewal_date" {
		t.Errorf("second row error column %q, want renewal_date", badDate.Column)
	}
	if !strings.Contains(badDate.Error(), `invalid date "2027-02-30" for layout 01/02/2006`) {
		t.Errorf("second row error %q does not report the invalid date", badDate)
	}

	const golden = `{"customFields":{"address":{"city":"Leeds","country":"GB","street1":"12 Quay Road"},` +
		`"annual_revenue":1250000.5,"employees":120,"industry":"Manufacturing","notes":"Key account",` +
		`"renewal_date":"2027-03-31"},"domain":"northwind-fab.example","externalId":"CRM-0001",` +
		`"name":"Northwind Fabrication"}`
	if got := string(payloads["CRM-0001"].Body); got != golden {
		t.Errorf("CRM-0001 body:\n got %s\nwant %s", got, golden)
	}

	crm2 := decodeBody(t, payloads["CRM-0002"].Body)
	custom2 := crm2["customFields"].(map[string]any)
	if _, ok := custom2["annual_revenue"]; ok {
		t.Errorf("CRM-0002 sends annual_revenue %v, want it left out", custom2["annual_revenue"])
	}
	street := custom2["address"].(map[string]any)["street1"]
	if street != "400 Market St\nSuite 12" {
		t.Errorf("CRM-0002 street1 = %q, want the line break kept as LF", street)
	}
	if notes := custom2["notes"]; notes != "Prefers email.\nNo calls before 10am." {
		t.Errorf("CRM-0002 notes = %q", notes)
	}

	crm3 := decodeBody(t, payloads["CRM-0003"].Body)
	if name := crm3["name"]; name != "Café Lumière" {
		t.Errorf("CRM-0003 name = %q", name)
	}
	custom3 := crm3["customFields"].(map[string]any)
	for _, key := range []string{"renewal_date", "notes"} {
		if value, ok := custom3[key]; ok {
			t.Errorf("CRM-0003 sends empty %s as %q, want it left out", key, value)
		}
	}

	if name := decodeBody(t, payloads["CRM-0005"].Body)["name"]; name != `Granite Peak "GP" Holdings` {
		t.Errorf("CRM-0005 name = %q", name)
	}
	if !strings.Contains(string(payloads["CRM-0005"].Body), `"annual_revenue":5600000000,`) {
		t.Errorf("CRM-0005 body %s does not carry annual_revenue 5600000000", payloads["CRM-0005"].Body)
	}
	if name := decodeBody(t, payloads["CRM-0007"].Body)["name"]; name != "Kōbō Robotics" {
		t.Errorf("CRM-0007 name = %q", name)
	}
}

func TestCRMExportTrimsName(t *testing.T) {
	// Map CRM-0006 without its invalid date to see its name.
	m := crmMapping()
	delete(m.CustomFields, "renewal_date")
	payloads, _, _ := mapFile(t, csvsource.Options{Path: "../testdata/csv/crm_accounts_messy.csv"}, m)
	if name := decodeBody(t, payloads["CRM-0006"].Body)["name"]; name != "Tidewater Logistics" {
		t.Errorf("CRM-0006 name = %q, want the trailing space trimmed", name)
	}

	untrimmed := false
	m.TrimSpace = &untrimmed
	payloads, _, _ = mapFile(t, csvsource.Options{Path: "../testdata/csv/crm_accounts_messy.csv"}, m)
	if name := decodeBody(t, payloads["CRM-0006"].Body)["name"]; name != "Tidewater Logistics " {
		t.Errorf("CRM-0006 name with trim_space false = %q, want the trailing space kept", name)
	}
}

func TestEUExportPayloads(t *testing.T) {
	m := config.Mapping{
		ExternalID: "Kundennummer",
		Name:       "Firma",
		CustomFields: map[string]config.Field{
			"industry": {Column: "Branche"},
			"revenue":  {Column: "Umsatz", Type: "decimal"},
			"address":  {Type: "address", City: "Ort"},
		},
	}
	opts := csvsource.Options{Path: "../testdata/csv/eu_accounts_semicolon_cp1252.csv", Delimiter: ';', Encoding: "windows-1252"}
	payloads, order, rowErrors := mapFile(t, opts, m)
	if len(rowErrors) != 0 {
		t.Fatalf("row errors: %v", rowErrors)
	}
	if strings.Join(order, ",") != "DE-100,DE-101,DE-102" {
		t.Fatalf("payloads for %v, want DE-100, DE-101, DE-102", order)
	}
	if name := decodeBody(t, payloads["DE-101"].Body)["name"]; name != "Bäckerei Groß; Filiale Nord" {
		t.Errorf("DE-101 name = %q", name)
	}
	const want102 = `{"customFields":{"address":{"city":"Straßburg"},"industry":"Energie","revenue":430000},` +
		`"externalId":"DE-102","name":"Énergie Verte SARL"}`
	if got := string(payloads["DE-102"].Body); got != want102 {
		t.Errorf("DE-102 body:\n got %s\nwant %s", got, want102)
	}

	opts.Encoding = ""
	payloads, _, rowErrors = mapFile(t, opts, m)
	if len(payloads) != 0 {
		t.Errorf("read as UTF-8, %d payloads were produced, want none", len(payloads))
	}
	if len(rowErrors) != 3 {
		t.Fatalf("read as UTF-8, got %d row errors, want 3", len(rowErrors))
	}
	for _, rowErr := range rowErrors {
		if !strings.Contains(rowErr.Error(), "invalid UTF-8") {
			t.Errorf("row error %q is not an encoding error", rowErr)
		}
	}
}
