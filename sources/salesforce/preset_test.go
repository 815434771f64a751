package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/atlas-sync/atlas-sync/config"
	"github.com/atlas-sync/atlas-sync/mapping"
)

// corpusAccount is an Account.csv in Data Export's layout: every value
// quoted, LF line endings, multi-line BillingStreet and Description, a
// custom field and one row in the recycle bin.
const corpusAccount = "../../testdata/salesforce/Account.csv"

func TestPresetMappingDefaults(t *testing.T) {
	preset := PresetMapping()
	if preset.ExternalID != "Id" || preset.Name != "Name" {
		t.Errorf("external_id %q, name %q, want Id and Name", preset.ExternalID, preset.Name)
	}
	if preset.TrimSpace == nil || !*preset.TrimSpace {
		t.Errorf("trim_space = %v, want true", preset.TrimSpace)
	}
	for key, f := range preset.CustomFields {
		if f.Type == "" || f.Empty != "leave" {
			t.Errorf("custom field %s: type %q, empty %q, want a type and leave", key, f.Type, f.Empty)
		}
	}
	if got := preset.Fields["domain"]; got.Column != "Website" || got.Type != "text" || got.Empty != "leave" {
		t.Errorf("domain = %+v, want Website as text, empty leave", got)
	}
	wantTypes := map[string]string{
		"account_type": "text", "annual_revenue": "decimal", "billing_address": "address",
		"description": "text", "employees": "number", "industry": "text", "phone": "text",
		"shipping_address": "address",
	}
	got := make(map[string]string)
	for key, f := range preset.CustomFields {
		got[key] = f.Type
	}
	if !reflect.DeepEqual(got, wantTypes) {
		t.Errorf("custom field types = %v, want %v", got, wantTypes)
	}
}

func TestPresetMappingPassesConfigValidation(t *testing.T) {
	raw := []byte(`
atlas:
  token: test-token
jobs:
  - name: salesforce
    source:
      type: salesforce
      path: exports
`)
	cfg, err := config.Parse(raw, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("parse a salesforce job without mapping: %v", err)
	}
	cfg.Jobs[0].Mapping = MergeMapping(PresetMapping(), cfg.Jobs[0].Mapping)
	if err := cfg.Validate(); err != nil {
		t.Errorf("the merged preset does not validate: %v", err)
	}
	if !reflect.DeepEqual(cfg.Jobs[0].Mapping, PresetMapping()) {
		t.Errorf("an empty job mapping merged with the preset = %+v, want the preset", cfg.Jobs[0].Mapping)
	}
}

func TestMergeMappingKeyByKey(t *testing.T) {
	preset := PresetMapping()
	trimOff := false
	user := config.Mapping{
		Name:      "Legal_Name__c",
		TrimSpace: &trimOff,
		Fields:    map[string]config.Field{"domain": {Column: "Domain__c"}},
		CustomFields: map[string]config.Field{
			"industry":         {Column: "Industry", Type: "list"},
			"priority":         {Column: "CustomerPriority__c"},
			"shipping_address": {Column: RemoveColumn},
		},
	}
	merged := MergeMapping(preset, user)

	if merged.ExternalID != "Id" {
		t.Errorf("external_id = %q, want the preset's Id", merged.ExternalID)
	}
	if merged.Name != "Legal_Name__c" {
		t.Errorf("name = %q, want the override", merged.Name)
	}
	if merged.TrimSpace == nil || *merged.TrimSpace {
		t.Errorf("trim_space = %v, want false", merged.TrimSpace)
	}
	if got := merged.Fields["domain"]; got.Column != "Domain__c" || got.Type != "text" || got.Empty != "leave" {
		t.Errorf("domain = %+v, want Domain__c with defaults", got)
	}
	if got := merged.CustomFields["industry"]; got.Type != "list" || got.Empty != "leave" {
		t.Errorf("industry = %+v, want the list override with empty leave", got)
	}
	if got := merged.CustomFields["priority"]; got.Column != "CustomerPriority__c" || got.Type != "text" {
		t.Errorf("priority = %+v, want the added key as text", got)
	}
	if _, ok := merged.CustomFields["shipping_address"]; ok {
		t.Error("shipping_address is still mapped, want it removed by column -")
	}
	if got := merged.CustomFields["annual_revenue"]; got.Column != "AnnualRevenue" || got.Type != "decimal" {
		t.Errorf("annual_revenue = %+v, want the preset's entry", got)
	}

	if !reflect.DeepEqual(preset, PresetMapping()) {
		t.Error("MergeMapping changed the preset it was given")
	}
	if _, ok := user.CustomFields["annual_revenue"]; ok || user.CustomFields["priority"].Type != "" {
		t.Error("MergeMapping changed the user mapping it was given")
	}
}

func TestMergeMappingOverridesExternalID(t *testing.T) {
	merged := MergeMapping(PresetMapping(), config.Mapping{ExternalID: "Legacy_Key__c"})
	if merged.ExternalID != "Legacy_Key__c" {
		t.Errorf("external_id = %q, want Legacy_Key__c", merged.ExternalID)
	}
	if len(merged.CustomFields) != len(PresetMapping().CustomFields) {
		t.Errorf("custom fields = %d, want the preset's %d", len(merged.CustomFields), len(PresetMapping().CustomFields))
	}
}

func TestPresetColumnsAreThoseThePresetReads(t *testing.T) {
	columns := PresetColumns()
	if slices.Contains(columns, "Id") {
		t.Error("PresetColumns contains Id, which must not be filled")
	}
	for _, want := range []string{"Name", "Website", "Industry", "AnnualRevenue", "NumberOfEmployees", "Type", "Phone", "Description",
		"BillingStreet", "BillingCity", "BillingState", "BillingPostalCode", "BillingCountry",
		"ShippingStreet", "ShippingCity", "ShippingState", "ShippingPostalCode", "ShippingCountry"} {
		if !slices.Contains(columns, want) {
			t.Errorf("PresetColumns lacks %s", want)
		}
	}
	if _, err := mapping.New(PresetMapping(), append([]string{"Id"}, columns...)); err != nil {
		t.Errorf("the preset does not resolve against Id and PresetColumns: %v", err)
	}
}

func TestIsAccountObject(t *testing.T) {
	for object, want := range map[string]bool{
		"": true, "Account.csv": true, "account.CSV": true, "Account": true,
		"Contact.csv": false, "Accounts.csv": false, "Account__c.csv": false,
	} {
		if got := IsAccountObject(object); got != want {
			t.Errorf("IsAccountObject(%q) = %v, want %v", object, got, want)
		}
	}
}

// mapCorpus maps every record of the Data Export sample with m and
// returns the bodies by externalId, and the skip reasons. The sample has no
// Shipping columns, so the source fills in the preset's columns as the CLI
// configures it.
func mapCorpus(t *testing.T, m config.Mapping) (map[string]map[string]any, []string) {
	t.Helper()
	src, err := Open(context.Background(), Options{Path: corpusAccount, FillMissing: PresetColumns()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer src.Close()
	mapper, err := mapping.New(m, src.Columns())
	if err != nil {
		t.Fatalf("mapping.New: %v", err)
	}

	bodies := make(map[string]map[string]any)
	var skipped []string
	for {
		rec, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return bodies, skipped
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if rec.Skip != "" {
			skipped = append(skipped, rec.Position+" "+rec.Skip)
			continue
		}
		payload, err := mapper.Map(rec)
		if err != nil {
			t.Fatalf("Map %s: %v", rec.Position, err)
		}
		var body map[string]any
		if err := json.Unmarshal(payload.Body, &body); err != nil {
			t.Fatalf("body of %s is not JSON: %v", rec.Position, err)
		}
		bodies[payload.ExternalID] = body
	}
}

func TestPresetMapsDataExportSample(t *testing.T) {
	bodies, skipped := mapCorpus(t, PresetMapping())

	if len(bodies) != 2 {
		t.Fatalf("mapped %d accounts, want 2", len(bodies))
	}
	wantSkipped := []string{corpusAccount + ":6 " + SkipDeleted}
	if !reflect.DeepEqual(skipped, wantSkipped) {
		t.Errorf("skipped = %q, want %q", skipped, wantSkipped)
	}

	larkspur := bodies["0015g00000A1bCdAAJ"]
	if larkspur == nil {
		t.Fatalf("no body for 0015g00000A1bCdAAJ; have %v", slices.Collect(maps.Keys(bodies)))
	}
	if got := larkspur["name"]; got != "Larkspur Medical Supply" {
		t.Errorf("name = %v", got)
	}
	if got := larkspur["domain"]; got != "www.larkspur-med.example" {
		t.Errorf("domain = %v", got)
	}
	custom := larkspur["customFields"].(map[string]any)
	wantCustom := map[string]any{
		"account_type":   "Customer - Direct",
		"annual_revenue": 43000000.0,
		"description":    "Regional distributor.\nTwo warehouses.",
		"employees":      310.0,
		"industry":       "Healthcare",
		"phone":          "(503) 555-0142",
		"billing_address": map[string]any{
			"street1": "77 Orchard Ave\nBuilding C", "city": "Portland", "state": "OR",
			"zipCode": "97201", "country": "United States",
		},
	}
	if !reflect.DeepEqual(custom, wantCustom) {
		t.Errorf("customFields = %#v\nwant %#v", custom, wantCustom)
	}

	quillfeather := bodies["0015g00000A1bCeAAJ"]
	quillCustom := quillfeather["customFields"].(map[string]any)
	for _, key := range []string{"annual_revenue", "phone", "description"} {
		if _, ok := quillCustom[key]; ok {
			t.Errorf("Quillfeather %s = %v, want it left out because the cell is empty", key, quillCustom[key])
		}
	}
}

func TestPresetExtensionReadsDatesAndDatetimes(t *testing.T) {
	m := MergeMapping(PresetMapping(), config.Mapping{CustomFields: map[string]config.Field{
		"sla_expires":    {Column: "SLAExpirationDate__c", Type: "date"},
		"customer_since": {Column: "CreatedDate", Type: "date"},
		"priority":       {Column: "CustomerPriority__c"},
	}})
	bodies, _ := mapCorpus(t, m)

	custom := bodies["0015g00000A1bCdAAJ"]["customFields"].(map[string]any)
	if got := custom["sla_expires"]; got != "2027-06-30" {
		t.Errorf("sla_expires = %v, want 2027-06-30", got)
	}
	if got := custom["customer_since"]; got != "2024-05-02" {
		t.Errorf("customer_since from 2024-05-02T17:21:09.000Z = %v, want 2024-05-02", got)
	}
	if got := custom["priority"]; got != "High" {
		t.Errorf("priority = %v, want High", got)
	}
	if _, ok := bodies["0015g00000A1bCeAAJ"]["customFields"].(map[string]any)["sla_expires"]; ok {
		t.Error("Quillfeather sla_expires is set, want it left out for an empty cell")
	}
}

func TestPresetNeedsFilledColumns(t *testing.T) {
	src, err := Open(context.Background(), Options{Path: corpusAccount})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer src.Close()
	if _, err := mapping.New(PresetMapping(), src.Columns()); err == nil {
		t.Error("the preset resolved against a file without Shipping columns and without FillMissing, want an error")
	}
}

func TestConfigRequiresMappingForOtherObjects(t *testing.T) {
	raw := []byte(`
atlas:
  token: test-token
jobs:
  - name: contacts
    source:
      type: salesforce
      path: exports
      object: Contact.csv
`)
	_, err := config.Parse(raw, func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), "jobs[0].mapping.external_id: missing; the built-in preset maps the Account object only") {
		t.Errorf("error = %v, want external_id required for Contact.csv", err)
	}
}
