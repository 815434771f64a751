// Package mapping turns a source record into the body of an Atlas account
// upsert: it resolves the configured columns, converts each value to the
// shape Atlas expects for its type, applies the empty-value policy, and
// writes canonical JSON with its hash. It reads no files and sends nothing.
//
// # Body
//
// The body is a JSON object with externalId, name, the top-level fields of
// mapping.fields under their own keys, and customFields:
//
//	{"customFields":{"employees":120},"domain":"acme.example","externalId":"CRM-1","name":"Acme"}
//
// The body is canonical, so that its hash changes only when the data does.
// Keys are sorted by their UTF-8 bytes at every level, there is no white
// space, strings are escaped as encoding/json escapes them with HTML
// escaping off, and numbers are written in one form ("1.0" becomes 1,
// "0012.50" becomes 12.5). Text is not Unicode-normalised: the body carries
// exactly the characters the source has, so a composed "é" and a decomposed
// "é" are different values. An object or list that ends up empty under the
// leave policy is left out.
//
// # Values
//
// With mapping.trim_space (default true), white space around every text
// value is removed before conversion (strings.TrimSpace, so Unicode white
// space too), and a value that is only white space counts as empty. Parts of
// a multi value are always trimmed. Line breaks inside a value are kept.
//
//	type      accepted input                                 JSON value
//	text      any text                                       string
//	list      any text (one option)                          string
//	number    [+-]digits, optionally .0… or an exponent      integer (int64 range)
//	decimal   [+-]digits[.digits][e[+-]digits]               number, exact, no trailing zeros
//	date      Layout (default 2006-01-02) or RFC 3339        string YYYY-MM-DD, the date as written
//	multi     text split on Separator (default ";"), or      array of strings, empty parts dropped
//	          a list value (a PostgreSQL array)
//	url       URL with a host; "https://" is prefixed        {"title": …, "url": …}, title optional
//	          when the value has no "scheme://"
//	address   street1, street2, city, state, zip_code and    {"city", "country", "state", "street1",
//	          country columns, each optional                  "street2", "zipCode"}, empty parts left out
//	boolean   true/false, yes/no, y/n, t/f, 1/0, any case    true or false
//	agent, customer, account, ticket
//	          a UUID, any case                               string, lower case
//
// Decimals are converted by string arithmetic, never through float64, so
// that 1250000.50 and 0.1 reach Atlas exactly. A field with Path reads a JSON
// document from its column and converts the value at the dot-separated path
// instead: a string gives its text, a number its literal, a boolean
// true or false, and an array of scalars a list for multi fields. A missing
// path or null is an empty value. Keys that contain a dot cannot be selected.
//
// # Empty values
//
// A NULL, an empty cell or an empty list is an empty value. Atlas keeps its
// stored value when a property is left out or null, and overwrites it when
// the property is an empty string. So the two policies send:
//
//	type                        empty: leave (default)    empty: clear
//	multi                       key left out              []
//	every other type            key left out              ""
//
// The "" for number, decimal, date, boolean, url, address and UUID fields
// relies on Atlas treating an empty string as "clear" for those types too.
//
// The externalId must not be empty: such a record is a *sources.RowError.
// An empty name is left out, so Atlas keeps the name it has.
package mapping
