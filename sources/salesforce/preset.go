package salesforce

import (
	"maps"
	"slices"
	"strings"

	"github.com/atlas-sync/atlas-sync/config"
)

// RemoveColumn, written as the column of a mapping entry ("shipping_address:
// -"), removes that key of the preset in MergeMapping.
const RemoveColumn = "-"

// PresetMapping returns the built-in mapping of the standard Account object.
// Id is the externalId and Name the name. Website goes to the top-level
// domain property as written. Salesforce stores a URL or a bare host there,
// and a text field accepts any value, so a malformed Website never makes a
// row error. The custom fields, whose keys an
// Atlas admin creates with these types, are:
//
//	key               type     Account field
//	account_type      text     Type
//	annual_revenue    decimal  AnnualRevenue
//	billing_address   address  BillingStreet, BillingCity, BillingState, BillingPostalCode, BillingCountry
//	description       text     Description
//	employees         number   NumberOfEmployees
//	industry          text     Industry
//	phone             text     Phone
//	shipping_address  address  ShippingStreet, ShippingCity, ShippingState, ShippingPostalCode, ShippingCountry
//
// Type and Industry are picklists in Salesforce but text here, because an
// Atlas list field rejects any value that is not one of its options. Every
// entry leaves the Atlas value alone when the export cell is empty. Each
// call returns a new value that the caller may change.
func PresetMapping() config.Mapping {
	trim := true
	return withDefaults(config.Mapping{
		ExternalID: "Id",
		Name:       "Name",
		TrimSpace:  &trim,
		Fields: map[string]config.Field{
			"domain": {Column: "Website"},
		},
		CustomFields: map[string]config.Field{
			"account_type":     {Column: "Type"},
			"annual_revenue":   {Column: "AnnualRevenue", Type: "decimal"},
			"billing_address":  address("Billing"),
			"description":      {Column: "Description"},
			"employees":        {Column: "NumberOfEmployees", Type: "number"},
			"industry":         {Column: "Industry"},
			"phone":            {Column: "Phone"},
			"shipping_address": address("Shipping"),
		},
	})
}

// address maps the compound address field whose columns start with prefix
// (Billing or Shipping).
func address(prefix string) config.Field {
	return config.Field{
		Type:    "address",
		Street1: prefix + "Street",
		City:    prefix + "City",
		State:   prefix + "State",
		ZipCode: prefix + "PostalCode",
		Country: prefix + "Country",
	}
}

// PresetColumns returns the columns that PresetMapping reads, except Id.
// Exports made with Bulk API 2.0 or Data Loader contain only the fields
// their query selects, so the source adds these columns as empty when a file
// lacks them, and the preset's fields are then left out of the upsert. Id
// is not among them: without it no account has an externalId.
func PresetColumns() []string {
	preset := PresetMapping()
	columns := []string{preset.Name}
	add := func(f config.Field) {
		for _, column := range []string{f.Column, f.Street1, f.Street2, f.City, f.State, f.ZipCode, f.Country} {
			if column != "" {
				columns = append(columns, column)
			}
		}
	}
	for _, key := range sortedKeys(preset.Fields) {
		add(preset.Fields[key])
	}
	for _, key := range sortedKeys(preset.CustomFields) {
		add(preset.CustomFields[key])
	}
	return columns
}

// MergeMapping returns preset extended and overridden by user, key by key.
// A non-empty external_id or name replaces the preset's, and so does
// trim_space when set. Each key of fields and custom_fields replaces the
// preset's entry of that key as a whole, or adds a new one. An entry whose
// column is RemoveColumn ("-") removes the key. An empty user mapping
// returns the preset as is. Unset types and empty policies of the result
// get config's defaults (text, leave). Neither argument is changed.
func MergeMapping(preset, user config.Mapping) config.Mapping {
	merged := config.Mapping{
		ExternalID:   preset.ExternalID,
		Name:         preset.Name,
		TrimSpace:    preset.TrimSpace,
		Fields:       maps.Clone(preset.Fields),
		CustomFields: maps.Clone(preset.CustomFields),
	}
	if user.ExternalID != "" {
		merged.ExternalID = user.ExternalID
	}
	if user.Name != "" {
		merged.Name = user.Name
	}
	if user.TrimSpace != nil {
		trim := *user.TrimSpace
		merged.TrimSpace = &trim
	}
	merged.Fields = overlay(merged.Fields, user.Fields)
	merged.CustomFields = overlay(merged.CustomFields, user.CustomFields)
	return withDefaults(merged)
}

// overlay applies the entries of user to base, which it may change.
func overlay(base, user map[string]config.Field) map[string]config.Field {
	if base == nil {
		base = make(map[string]config.Field, len(user))
	}
	for key, field := range user {
		if field.Column == RemoveColumn {
			delete(base, key)
			continue
		}
		base[key] = field
	}
	if len(base) == 0 {
		return nil
	}
	return base
}

// IsAccountObject reports whether object, as configured in source.object,
// names the Account object that PresetMapping covers: "Account.csv" or
// "Account" in any case.
func IsAccountObject(object string) bool {
	return strings.EqualFold(objectFileName(object), "Account.csv")
}

// objectFileName adds ".csv" to an object name given without it.
func objectFileName(object string) string {
	object = strings.TrimSpace(object)
	if object == "" {
		return config.DefaultSalesforceObject
	}
	if !strings.HasSuffix(strings.ToLower(object), ".csv") {
		return object + ".csv"
	}
	return object
}

// withDefaults fills in each field's type, empty policy and separator the
// way config.Load does for a mapping it reads.
func withDefaults(m config.Mapping) config.Mapping {
	for _, fields := range []map[string]config.Field{m.Fields, m.CustomFields} {
		for key, f := range fields {
			if f.Type == "" {
				f.Type = "text"
			}
			if f.Empty == "" {
				f.Empty = "leave"
			}
			if f.Type == "multi" && f.Separator == "" {
				f.Separator = ";"
			}
			fields[key] = f
		}
	}
	if m.TrimSpace == nil {
		trim := true
		m.TrimSpace = &trim
	}
	return m
}

func sortedKeys(fields map[string]config.Field) []string {
	return slices.Sorted(maps.Keys(fields))
}
