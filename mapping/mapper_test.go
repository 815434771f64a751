package mapping

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/sources"
)

var crmColumns = []string{"account_id", "company_name", "website", "industry", "annual_revenue", "employees", "renewal_date", "street", "city", "country", "notes"}

func crmRecord(values ...string) sources.Record {
	rec := sources.Record{Position: "crm.csv:2"}
	for _, v := range values {
		rec.Values = append(rec.Values, sources.Value{Text: v})
	}
	return rec
}

func northwind() sources.Record {
	return crmRecord("CRM-0001", "Northwind Fabrication", "northwind-fab.example", "Manufacturing",
		"1250000.50", "120", "03/31/2027", "12 Quay Road", "Leeds", "GB", "Key account")
}

func mustNew(t testing.TB, m config.Mapping, columns []string) *Mapper {
	t.Helper()
	mapper, err := New(m, columns)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return mapper
}

func mustMap(t testing.TB, mapper *Mapper, rec sources.Record) Payload {
	t.Helper()
	payload, err := mapper.Map(rec)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	return payload
}

func TestNewReportsEveryProblem(t *testing.T) {
	m := config.Mapping{
		ExternalID: "Account_ID",
		Fields: map[string]config.Field{
			"customFields": {Column: "notes"},
			"website":      {Column: "website", Separator: ","},
		},
		CustomFields: map[string]config.Field{
			"arr":     {Column: "arr", Type: "decimal"},
			"kind":    {Column: "industry", Type: "enum"},
			"renewal": {Column: "renewal_date", Type: "date", Layout: "31/12"},
			"policy":  {Column: "notes", Empty: "nil"},
			"home":    {Column: "website", Type: "url", TitleColumn: "title"},
			"where":   {Type: "address"},
			"street":  {Column: "street", Street1: "street"},
			"plan":    {Column: "notes", Path: "plan..tier"},
			"addr":    {Type: "address", City: "city", Column: "street"},
			"missing": {Type: "text"},
		},
	}
	_, err := New(m, crmColumns)
	if err == nil {
		t.Fatal("New accepted an invalid mapping")
	}

	wantKeys := map[string]string{
		"mapping.external_id":                     `did you mean "account_id"?`,
		"mapping.fields.customFields":             "remove it from fields",
		"mapping.fields.website.separator":        "applies to multi fields only",
		"mapping.custom_fields.arr.column":        `the source has "account_id", "company_name"`,
		"mapping.custom_fields.kind.type":         "unknown type",
		"mapping.custom_fields.renewal.layout":    "year, month and day",
		"mapping.custom_fields.policy.empty":      "use leave",
		"mapping.custom_fields.home.title_column": "not found in the source",
		"mapping.custom_fields.where":             "an address needs at least one",
		"mapping.custom_fields.street.type":       "must be address",
		"mapping.custom_fields.plan.path":         "contains an empty key",
		"mapping.custom_fields.addr.column":       "remove column",
		"mapping.custom_fields.missing.column":    "missing",
	}
	var fieldErrors []*config.FieldError
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fieldErr *config.FieldError
		if !errors.As(e, &fieldErr) {
			t.Fatalf("problem %v is a %T, not a *config.FieldError", e, e)
		}
		fieldErrors = append(fieldErrors, fieldErr)
	}
	for key, want := range wantKeys {
		found := false
		for _, fieldErr := range fieldErrors {
			if fieldErr.Key == key {
				found = true
				if !strings.Contains(fieldErr.Error(), want) {
					t.Errorf("%s: %q does not contain %q", key, fieldErr, want)
				}
			}
		}
		if !found {
			t.Errorf("no problem reported for %s", key)
		}
	}
	if len(fieldErrors) != len(wantKeys) {
		t.Errorf("got %d problems, want %d:\n%v", len(fieldErrors), len(wantKeys), err)
	}
}

func TestNewRejectsAmbiguousColumn(t *testing.T) {
	_, err := New(config.Mapping{ExternalID: "id"}, []string{"id", "name", "id"})
	if err == nil || !strings.Contains(err.Error(), "more than one column") {
		t.Fatalf("New = %v, want an error about the duplicate column", err)
	}
}

func TestColumnsListsEachColumnOnce(t *testing.T) {
	mapper := mustNew(t, crmMapping(), crmColumns)
	want := []string{"account_id", "company_name", "website", "city", "country", "street", "annual_revenue", "employees", "industry", "notes", "renewal_date"}
	if got := mapper.Columns(); !reflect.DeepEqual(got, want) {
		t.Errorf("Columns() = %q, want %q", got, want)
	}
}

func TestMapTopLevelFieldTypes(t *testing.T) {
	m := config.Mapping{
		ExternalID: "account_id",
		Fields: map[string]config.Field{
			"website":   {Column: "website", Type: "url"},
			"employees": {Column: "employees", Type: "number"},
			"notes":     {Column: "notes", Empty: "clear"},
		},
	}
	mapper := mustNew(t, m, crmColumns)
	rec := crmRecord("CRM-9", "", "acme.example", "", "", " 42 ", "", "", "", "", "")
	got := string(mustMap(t, mapper, rec).Body)
	want := `{"employees":42,"externalId":"CRM-9","notes":"","website":{"url":"https://acme.example"}}`
	if got != want {
		t.Errorf("body:\n got %s\nwant %s", got, want)
	}
}

func TestMapRowErrors(t *testing.T) {
	mapper := mustNew(t, crmMapping(), crmColumns)

	tests := []struct {
		name   string
		rec    sources.Record
		column string
		want   string
	}{
		{
			name:   "missing externalId",
			rec:    crmRecord(" ", "Orphan", "", "", "", "", "", "", "", "", ""),
			column: "account_id",
			want:   "crm.csv:2: column \"account_id\": the value is empty, but every account needs an externalId (externalId)",
		},
		{
			name:   "null externalId",
			rec:    sources.Record{Position: "db id=1", Values: make([]sources.Value, len(crmColumns))},
			column: "account_id",
			want:   "needs an externalId",
		},
		{
			name:   "invalid number names the column and field",
			rec:    crmRecord("CRM-1", "", "", "", "", "12.5", "", "", "", "", ""),
			column: "employees",
			want:   `crm.csv:2: column "employees": invalid number "12.5": it has a fractional part; use type decimal for such values (custom field employees)`,
		},
		{
			name:   "short record",
			rec:    crmRecord("CRM-1", "x"),
			column: "",
			want:   "the record has 2 values, but the mapping reads column 11",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mapper.Map(tt.rec)
			var rowErr *sources.RowError
			if !errors.As(err, &rowErr) {
				t.Fatalf("Map = %v, want a *sources.RowError", err)
			}
			if rowErr.Position != tt.rec.Position {
				t.Errorf("Position = %q, want %q", rowErr.Position, tt.rec.Position)
			}
			if rowErr.Column != tt.column {
				t.Errorf("Column = %q, want %q", rowErr.Column, tt.column)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestMapListInExternalID(t *testing.T) {
	mapper := mustNew(t, config.Mapping{ExternalID: "id"}, []string{"id"})
	_, err := mapper.Map(sources.Record{Position: "p", Values: []sources.Value{{List: []string{"a", "b"}}}})
	if err == nil || !strings.Contains(err.Error(), "list of 2 values") {
		t.Fatalf("Map = %v, want an error about the list", err)
	}
}

func TestMapOmitsEmptyCustomFields(t *testing.T) {
	mapper := mustNew(t, crmMapping(), crmColumns)
	got := string(mustMap(t, mapper, crmRecord("CRM-1", "", "", "", "", "", "", "", "", "", "")).Body)
	if want := `{"externalId":"CRM-1"}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
}

func TestMapHashIsOfBody(t *testing.T) {
	payload := mustMap(t, mustNew(t, crmMapping(), crmColumns), northwind())
	sum := sha256.Sum256(payload.Body)
	if !bytes.Equal(payload.Hash[:], sum[:16]) {
		t.Errorf("Hash = %x, want the first 16 bytes of %x", payload.Hash, sum)
	}
	if payload.ExternalID != "CRM-0001" {
		t.Errorf("ExternalID = %q, want CRM-0001", payload.ExternalID)
	}
}

func TestMapBodyIsOwnedByCaller(t *testing.T) {
	mapper := mustNew(t, crmMapping(), crmColumns)
	first := mustMap(t, mapper, northwind())
	kept := string(first.Body)
	for i := 0; i < 10; i++ {
		mustMap(t, mapper, crmRecord(fmt.Sprintf("CRM-%d", i), "Other", "", "", "", "", "", "", "", "", ""))
	}
	if string(first.Body) != kept {
		t.Errorf("a later Map changed an earlier body:\n got %s\nwant %s", first.Body, kept)
	}
}

func TestHashStableAcrossYAMLKeyOrder(t *testing.T) {
	yamlA := `
external_id: account_id
name: company_name
fields:
  domain: website
custom_fields:
  industry: industry
  annual_revenue: {column: annual_revenue, type: decimal}
  employees: {column: employees, type: number}
  address: {type: address, street1: street, city: city, country: country}
`
	yamlB := `
custom_fields:
  address: {country: country, city: city, street1: street, type: address}
  employees: {type: number, column: employees}
  annual_revenue: {type: decimal, column: annual_revenue}
  industry: industry
fields:
  domain: website
name: company_name
external_id: account_id
`
	var a, b config.Mapping
	if err := yaml.Unmarshal([]byte(yamlA), &a); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(yamlB), &b); err != nil {
		t.Fatal(err)
	}
	// The same columns in another order in the source must not matter either.
	reversed := make([]string, len(crmColumns))
	for i, c := range crmColumns {
		reversed[len(crmColumns)-1-i] = c
	}
	rec := northwind()
	reversedRec := sources.Record{Position: rec.Position}
	for i := len(rec.Values) - 1; i >= 0; i-- {
		reversedRec.Values = append(reversedRec.Values, rec.Values[i])
	}

	payloadA := mustMap(t, mustNew(t, a, crmColumns), rec)
	payloadB := mustMap(t, mustNew(t, b, reversed), reversedRec)
	if !bytes.Equal(payloadA.Body, payloadB.Body) {
		t.Errorf("bodies differ:\n%s\n%s", payloadA.Body, payloadB.Body)
	}
	if payloadA.Hash != payloadB.Hash {
		t.Errorf("hashes differ: %x and %x", payloadA.Hash, payloadB.Hash)
	}
}

func TestHashFollowsValues(t *testing.T) {
	mapper := mustNew(t, crmMapping(), crmColumns)
	base := mustMap(t, mapper, northwind())

	same := northwind()
	same.Values[4].Text = "1250000.500" // the same decimal
	same.Values[5].Text = "0120"        // the same number
	same.Values[1].Text = " Northwind Fabrication\t"
	if got := mustMap(t, mapper, same); got.Hash != base.Hash {
		t.Errorf("equal values gave another hash:\n%s\n%s", base.Body, got.Body)
	}

	for i := range crmColumns {
		changed := northwind()
		switch crmColumns[i] {
		case "annual_revenue":
			changed.Values[i].Text = "1250000.51"
		case "employees":
			changed.Values[i].Text = "121"
		case "renewal_date":
			changed.Values[i].Text = "04/01/2027"
		default:
			changed.Values[i].Text += "x"
		}
		if got := mustMap(t, mapper, changed); got.Hash == base.Hash {
			t.Errorf("changing column %s left the hash unchanged", crmColumns[i])
		}
	}
}

func TestDecimalOnePointZeroHashesLikeOne(t *testing.T) {
	mapper := mustNew(t, config.Mapping{ExternalID: "id", CustomFields: map[string]config.Field{"d": {Column: "d", Type: "decimal"}}}, []string{"id", "d"})
	one := mustMap(t, mapper, crmRecord("1", "1"))
	onePointZero := mustMap(t, mapper, crmRecord("1", "1.0"))
	if one.Hash != onePointZero.Hash {
		t.Errorf("1 and 1.0 hash differently: %s and %s", one.Body, onePointZero.Body)
	}
}

func TestMapIsSafeForConcurrentUse(t *testing.T) {
	mapper := mustNew(t, crmMapping(), crmColumns)
	want := mustMap(t, mapper, northwind())

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				payload, err := mapper.Map(northwind())
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(payload.Body, want.Body) {
					errs <- fmt.Errorf("body %s, want %s", payload.Body, want.Body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
