package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FieldDef defines one Atlas custom field.
type FieldDef struct {
	// Type is one of text, number, decimal, date, list, multi, url,
	// address, agent, customer, account, ticket.
	Type string `json:"type"`
	// Options are the allowed values of list and multi fields.
	Options []string `json:"options,omitempty"`
}

// fieldTypes are the custom field types of Atlas' SDKs.
var fieldTypes = []string{"text", "number", "decimal", "date", "list", "multi", "url", "address", "agent", "customer", "account", "ticket"}

var addressKeys = []string{"street1", "street2", "city", "state", "zipCode", "country"}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ValidateFieldDefs checks that every definition has a known type and that
// list and multi fields have options. It returns every problem found.
func ValidateFieldDefs(defs map[string]FieldDef) error {
	var problems []error
	for _, key := range slices.Sorted(maps.Keys(defs)) {
		def := defs[key]
		switch {
		case key == "":
			problems = append(problems, errors.New("custom field with an empty key"))
		case !slices.Contains(fieldTypes, def.Type):
			problems = append(problems, fmt.Errorf("custom field %q: unknown type %q, expected one of %s", key, def.Type, strings.Join(fieldTypes, ", ")))
		case (def.Type == "list" || def.Type == "multi") && len(def.Options) == 0:
			problems = append(problems, fmt.Errorf("custom field %q: type %s needs options", key, def.Type))
		}
	}
	return errors.Join(problems...)
}

// validationError becomes a 422 response.
type validationError struct{ message string }

func (e *validationError) Error() string { return e.message }

func invalid(format string, args ...any) error {
	return &validationError{message: fmt.Sprintf(format, args...)}
}

// validateCustomFields checks a decoded customFields object and returns it
// with numbers converted to float64. A null value means "keep" and an empty
// string means "clear"; both are accepted for every type.
func validateCustomFields(defs map[string]FieldDef, raw any) (map[string]any, error) {
	if raw == nil {
		return nil, nil
	}
	fields, ok := raw.(map[string]any)
	if !ok {
		return nil, invalid("customFields must be an object keyed by custom field key, got %s", jsonType(raw))
	}
	out := make(map[string]any, len(fields))
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		value := fields[key]
		var err error
		if defs == nil {
			err = validateGeneric(key, value)
		} else {
			err = validateTyped(defs, key, value)
		}
		if err != nil {
			return nil, err
		}
		out[key] = normalize(value)
	}
	return out, nil
}

// validateGeneric accepts what some custom field type could hold: scalars,
// arrays of strings and objects of scalars (url, address).
func validateGeneric(key string, value any) error {
	switch v := value.(type) {
	case nil, string, json.Number, bool:
		return nil
	case []any:
		for i, item := range v {
			if _, ok := item.(string); !ok {
				return invalid("customFields.%s[%d]: expected a string, got %s", key, i, jsonType(item))
			}
		}
		return nil
	case map[string]any:
		for _, inner := range slices.Sorted(maps.Keys(v)) {
			switch v[inner].(type) {
			case nil, string, json.Number, bool:
			default:
				return invalid("customFields.%s.%s: expected a scalar, got %s", key, inner, jsonType(v[inner]))
			}
		}
		return nil
	default:
		return invalid("customFields.%s: unsupported value of type %s", key, jsonType(value))
	}
}

func validateTyped(defs map[string]FieldDef, key string, value any) error {
	def, ok := defs[key]
	if !ok {
		return invalid("customFields.%s: no custom field with key %q is defined", key, key)
	}
	if value == nil || value == "" {
		return nil
	}
	switch def.Type {
	case "text":
		return expectString(key, def.Type, value)
	case "number":
		n, ok := value.(json.Number)
		if !ok {
			return invalid("customFields.%s: expected an integer for a number field, got %s", key, jsonType(value))
		}
		if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
			return invalid("customFields.%s: expected an integer for a number field, got %s", key, n)
		}
		return nil
	case "decimal":
		if _, ok := value.(json.Number); !ok {
			return invalid("customFields.%s: expected a number for a decimal field, got %s", key, jsonType(value))
		}
		return nil
	case "date":
		s, ok := value.(string)
		if _, err := time.Parse(time.DateOnly, s); !ok || err != nil || len(s) != len(time.DateOnly) {
			return invalid("customFields.%s: expected a date as YYYY-MM-DD, got %s", key, describe(value))
		}
		return nil
	case "list":
		s, ok := value.(string)
		if !ok || !slices.Contains(def.Options, s) {
			return invalid("customFields.%s: expected one of %q, got %s", key, def.Options, describe(value))
		}
		return nil
	case "multi":
		return validateMulti(key, def, value)
	case "url":
		return validateObject(key, def.Type, value, []string{"url", "title"}, "url")
	case "address":
		return validateObject(key, def.Type, value, addressKeys, "")
	case "agent", "customer", "account", "ticket":
		s, ok := value.(string)
		if !ok || !uuidPattern.MatchString(s) {
			return invalid("customFields.%s: expected the UUID of an Atlas %s, got %s", key, def.Type, describe(value))
		}
		return nil
	default:
		return invalid("customFields.%s: the field is defined with unknown type %q", key, def.Type)
	}
}

func expectString(key, fieldType string, value any) error {
	if _, ok := value.(string); !ok {
		return invalid("customFields.%s: expected a string for a %s field, got %s", key, fieldType, jsonType(value))
	}
	return nil
}

func validateMulti(key string, def FieldDef, value any) error {
	items, ok := value.([]any)
	if !ok {
		return invalid("customFields.%s: expected an array of strings for a multi field, got %s", key, jsonType(value))
	}
	for i, item := range items {
		s, ok := item.(string)
		if !ok || !slices.Contains(def.Options, s) {
			return invalid("customFields.%s[%d]: expected one of %q, got %s", key, i, def.Options, describe(item))
		}
	}
	return nil
}

// validateObject checks a url or address value: an object whose keys are
// among allowed, with string or null values, and with required set when
// required is not "".
func validateObject(key, fieldType string, value any, allowed []string, required string) error {
	obj, ok := value.(map[string]any)
	if !ok {
		return invalid("customFields.%s: expected an object for a %s field, got %s", key, fieldType, jsonType(value))
	}
	for _, inner := range slices.Sorted(maps.Keys(obj)) {
		if !slices.Contains(allowed, inner) {
			return invalid("customFields.%s: unknown key %q in a %s value, expected %s", key, inner, fieldType, strings.Join(allowed, ", "))
		}
		if _, ok := obj[inner].(string); !ok && obj[inner] != nil {
			return invalid("customFields.%s.%s: expected a string, got %s", key, inner, jsonType(obj[inner]))
		}
	}
	if required != "" {
		if s, _ := obj[required].(string); s == "" {
			return invalid("customFields.%s.%s: required in a %s value", key, required, fieldType)
		}
	}
	return nil
}

// normalize converts json.Number to float64 throughout a decoded value, so
// that stored values compare like values from json.Unmarshal.
func normalize(value any) any {
	switch v := value.(type) {
	case json.Number:
		f, _ := v.Float64() // Already a valid JSON number.
		return f
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			out[i] = normalize(item)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, item := range v {
			out[k] = normalize(item)
		}
		return out
	default:
		return value
	}
}

func jsonType(value any) string {
	switch value.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("%T", value)
	}
}

// describe quotes a string value and names the type of any other value.
func describe(value any) string {
	if s, ok := value.(string); ok {
		return strconv.Quote(s)
	}
	return jsonType(value)
}
