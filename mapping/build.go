package mapping

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/atlas-sync/atlas-sync/config"
)

var kindsByType = map[string]kind{
	"text":     kindText,
	"list":     kindList,
	"number":   kindNumber,
	"decimal":  kindDecimal,
	"date":     kindDate,
	"multi":    kindMulti,
	"url":      kindURL,
	"address":  kindAddress,
	"boolean":  kindBoolean,
	"agent":    kindUUID,
	"customer": kindUUID,
	"account":  kindUUID,
	"ticket":   kindUUID,
}

const typeNames = "text, number, decimal, date, list, multi, url, address, boolean, agent, customer, account or ticket"

// maxListedColumns bounds the columns listed in a "not found" error.
const maxListedColumns = 50

// New checks m against the source's columns and resolves every column name
// to its index. It returns all problems at once, joined, each a
// *config.FieldError whose key starts with "mapping.". Unset types, empty
// policies, separators and layouts get the defaults that config documents,
// so m need not have passed through config.Load.
func New(m config.Mapping, columns []string) (*Mapper, error) {
	b := newBuilder(columns, m.TrimSpace == nil || *m.TrimSpace)
	mapper := &Mapper{}

	if m.ExternalID == "" {
		b.add("mapping.external_id", "", "missing; name the column that holds the account's key in the CRM")
	} else {
		mapper.externalID = b.field("mapping.external_id", "mapping.external_id", "externalId", "externalId", config.Field{Column: m.ExternalID})
		mapper.top = append(mapper.top, topEntry{key: "externalId", keyJSON: keyJSON("externalId"), field: mapper.externalID})
	}
	if m.Name != "" {
		name := b.field("mapping.name", "mapping.name", "name", "name", config.Field{Column: m.Name})
		mapper.top = append(mapper.top, topEntry{key: "name", keyJSON: keyJSON("name"), field: name})
	}

	for _, key := range sortedKeys(m.Fields) {
		prefix := "mapping.fields." + key
		switch key {
		case "":
			b.add("mapping.fields", "", "contains an empty key; name the Atlas property")
			continue
		case "externalId", "name", "customFields":
			b.add(prefix, "", "is set by mapping.external_id, mapping.name or mapping.custom_fields; remove it from fields")
			continue
		}
		f := b.field(prefix, prefix+".column", "field "+key, key, m.Fields[key])
		mapper.top = append(mapper.top, topEntry{key: key, keyJSON: keyJSON(key), field: f})
	}

	for _, key := range sortedKeys(m.CustomFields) {
		if key == "" {
			b.add("mapping.custom_fields", "", "contains an empty key; use the custom field's key in Atlas")
			continue
		}
		f := b.field("mapping.custom_fields."+key, "mapping.custom_fields."+key+".column", "custom field "+key, key, m.CustomFields[key])
		mapper.custom = append(mapper.custom, f)
	}
	if len(mapper.custom) > 0 {
		mapper.top = append(mapper.top, topEntry{key: "customFields", keyJSON: keyJSON("customFields"), customFields: true})
	}

	if len(b.problems) > 0 {
		return nil, errors.Join(b.problems...)
	}
	sort.Slice(mapper.top, func(i, j int) bool {
		return mapper.top[i].key < mapper.top[j].key
	})
	mapper.columns = b.used
	mapper.width = b.width
	return mapper, nil
}

// builder collects the problems found while resolving a mapping.
type builder struct {
	columns   []string
	index     map[string]int  // first position of each column name
	duplicate map[string]bool // names that occur more than once
	trim      bool

	problems []error
	used     []string
	usedSet  map[string]bool
	width    int
}

func newBuilder(columns []string, trim bool) *builder {
	b := &builder{
		columns:   columns,
		index:     make(map[string]int, len(columns)),
		duplicate: make(map[string]bool),
		trim:      trim,
		usedSet:   make(map[string]bool),
	}
	for i, name := range columns {
		if _, seen := b.index[name]; seen {
			b.duplicate[name] = true
			continue
		}
		b.index[name] = i
	}
	return b
}

func (b *builder) add(key, value, problem string) {
	b.problems = append(b.problems, &config.FieldError{Key: key, Value: value, Problem: problem})
}

// column resolves a column name set at key, recording a problem and
// returning -1 when the source has no such column or has it twice.
func (b *builder) column(key, name string) int {
	i, ok := b.index[name]
	if !ok {
		b.add(key, name, b.notFound(name))
		return -1
	}
	if b.duplicate[name] {
		b.add(key, name, "the source has more than one column of this name; rename one in the source or the query")
		return -1
	}
	if !b.usedSet[name] {
		b.usedSet[name] = true
		b.used = append(b.used, name)
	}
	b.width = max(b.width, i+1)
	return i
}

func (b *builder) notFound(name string) string {
	var hint string
	for _, candidate := range b.columns {
		if strings.EqualFold(candidate, strings.TrimSpace(name)) {
			hint = fmt.Sprintf(" (did you mean %q?)", candidate)
			break
		}
	}
	listed := b.columns
	more := ""
	if len(listed) > maxListedColumns {
		more = fmt.Sprintf(" and %d more", len(listed)-maxListedColumns)
		listed = listed[:maxListedColumns]
	}
	quoted := make([]string, len(listed))
	for i, c := range listed {
		quoted[i] = fmt.Sprintf("%q", c)
	}
	return fmt.Sprintf("not found in the source%s; the source has %s%s", hint, strings.Join(quoted, ", "), more)
}

// field resolves one mapping entry. key is its YAML path and columnKey the
// path of its column setting, target names it in row errors, and jsonKey is
// its key in the body.
func (b *builder) field(key, columnKey, target, jsonKey string, cfg config.Field) *field {
	f := &field{
		keyJSON:     keyJSON(jsonKey),
		target:      target,
		typeName:    cfg.Type,
		layout:      cfg.Layout,
		separator:   cfg.Separator,
		trim:        b.trim,
		column:      -1,
		titleColumn: -1,
	}
	if f.typeName == "" {
		f.typeName = "text"
	}
	k, known := kindsByType[f.typeName]
	if !known {
		b.add(key+".type", cfg.Type, "unknown type; use "+typeNames)
	}
	f.kind = k

	switch cfg.Empty {
	case "", "leave":
	case "clear":
		f.clear = true
	default:
		b.add(key+".empty", cfg.Empty, "use leave (keep the value Atlas stores) or clear (overwrite it with an empty value)")
	}

	if known && k == kindAddress {
		b.addressParts(key, f, cfg)
	} else {
		b.singleColumn(key, columnKey, f, cfg)
	}
	b.typeOptions(key, f, cfg)
	return f
}

func (b *builder) singleColumn(key, columnKey string, f *field, cfg config.Field) {
	if cfg.Column == "" {
		b.add(columnKey, "", "missing; name the source column")
	} else {
		f.column = b.column(columnKey, cfg.Column)
		f.columnName = cfg.Column
	}
	if cfg.Street1 != "" || cfg.Street2 != "" || cfg.City != "" || cfg.State != "" || cfg.ZipCode != "" || cfg.Country != "" {
		b.add(key+".type", f.typeName, "address columns are set, so the type must be address")
	}
	if cfg.Path != "" {
		f.path = strings.Split(cfg.Path, ".")
		for _, segment := range f.path {
			if segment == "" {
				b.add(key+".path", cfg.Path, `contains an empty key; write it as dot-separated keys, for example "plan.tier"`)
				break
			}
		}
	}
}

func (b *builder) addressParts(key string, f *field, cfg config.Field) {
	if cfg.Column != "" {
		b.add(key+".column", cfg.Column, "an address reads street1, street2, city, state, zip_code and country; remove column")
	}
	if cfg.Path != "" {
		b.add(key+".path", cfg.Path, "does not apply to an address; remove it")
	}
	// Sorted by JSON key, so that the object is canonical.
	candidates := []struct{ yamlKey, jsonKey, column string }{
		{"city", "city", cfg.City},
		{"country", "country", cfg.Country},
		{"state", "state", cfg.State},
		{"street1", "street1", cfg.Street1},
		{"street2", "street2", cfg.Street2},
		{"zip_code", "zipCode", cfg.ZipCode},
	}
	for _, c := range candidates {
		if c.column == "" {
			continue
		}
		column := b.column(key+"."+c.yamlKey, c.column)
		f.parts = append(f.parts, addressPart{keyJSON: keyJSON(c.jsonKey), column: column, columnName: c.column})
	}
	if len(f.parts) == 0 {
		b.add(key, "", "an address needs at least one of street1, street2, city, state, zip_code and country")
		return
	}
	f.columnName = f.parts[0].columnName
}

// typeOptions checks layout, separator and title_column against the type.
func (b *builder) typeOptions(key string, f *field, cfg config.Field) {
	if f.kind == kindDate {
		if f.layout == "" {
			f.layout = DefaultDateLayout
		}
		if !validDateLayout(f.layout) {
			b.add(key+".layout", f.layout, "a date layout must contain year, month and day in Go's reference form, for example 01/02/2006 or 2006-01-02")
		}
		f.digits = newDigitsLayout(f.layout)
	} else if cfg.Layout != "" {
		b.add(key+".layout", cfg.Layout, "applies to date fields only")
	}

	if f.kind == kindMulti {
		if f.separator == "" {
			f.separator = ";"
		}
	} else if cfg.Separator != "" {
		b.add(key+".separator", cfg.Separator, "applies to multi fields only")
	}

	if f.kind == kindURL {
		if cfg.TitleColumn != "" {
			f.titleColumn = b.column(key+".title_column", cfg.TitleColumn)
			f.titleName = cfg.TitleColumn
		}
	} else if cfg.TitleColumn != "" {
		b.add(key+".title_column", cfg.TitleColumn, "applies to url fields only")
	}
}

// validDateLayout reports whether layout round-trips a date, which it does
// only when it holds a year, a month and a day.
func validDateLayout(layout string) bool {
	reference := time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)
	parsed, err := time.Parse(layout, reference.Format(layout))
	return err == nil && parsed.Year() == 2006 && parsed.Month() == 1 && parsed.Day() == 2
}

func sortedKeys(fields map[string]config.Field) []string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
