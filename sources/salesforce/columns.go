package salesforce

import "strings"

// standardFields are API names of standard Account fields, among them every
// field the preset reads and every standard ID field.
var standardFields = []string{
	"Id", "IsDeleted", "MasterRecordId", "Name", "Type", "RecordTypeId", "ParentId",
	"BillingStreet", "BillingCity", "BillingState", "BillingStateCode", "BillingPostalCode",
	"BillingCountry", "BillingCountryCode", "BillingLatitude", "BillingLongitude", "BillingGeocodeAccuracy",
	"ShippingStreet", "ShippingCity", "ShippingState", "ShippingStateCode", "ShippingPostalCode",
	"ShippingCountry", "ShippingCountryCode", "ShippingLatitude", "ShippingLongitude", "ShippingGeocodeAccuracy",
	"Phone", "Fax", "AccountNumber", "Website", "PhotoUrl", "Sic", "Industry", "AnnualRevenue",
	"NumberOfEmployees", "Ownership", "TickerSymbol", "Description", "Rating", "Site", "CurrencyIsoCode",
	"OwnerId", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp",
	"LastActivityDate", "LastViewedDate", "LastReferencedDate", "Jigsaw", "JigsawCompanyId",
	"CleanStatus", "AccountSource", "DunsNumber", "Tradestyle", "NaicsCode", "NaicsDesc",
	"YearStarted", "SicDesc", "DandbCompanyId", "OperatingHoursId",
}

// notIDFields end in "Id" but hold no record ID: JigsawCompanyId is a
// Data.com company key of up to 20 characters.
var notIDFields = map[string]bool{"JigsawCompanyId": true}

// canonicalColumns returns header with each name that matches a standard
// field in another case ("NAME", "billingcity") spelled as its API name,
// so that the preset and the Id handling find it.
//
// NOTE: which export tools change the case of header names has not been
// checked here. Matching is case-insensitive so that either form works. A
// renamed column that would then appear twice keeps its spelling.
func canonicalColumns(header []string) []string {
	out := make([]string, len(header))
	present := make(map[string]bool, len(header))
	for _, name := range header {
		present[name] = true
	}
	for i, name := range header {
		out[i] = name
		for _, field := range standardFields {
			if name != field && strings.EqualFold(name, field) && !present[field] {
				out[i] = field
				present[field] = true
				break
			}
		}
	}
	return out
}

// isReferenceColumn reports whether a column other than Id holds record
// IDs: a standard or relationship column whose name ends in "Id" (ParentId,
// OwnerId, Owner.Id). Custom lookup fields end in "__c" like every custom
// field, so they are not recognised and keep their value as exported.
func isReferenceColumn(name string) bool {
	return len(name) > 2 && strings.HasSuffix(name, "Id") && !notIDFields[name]
}
