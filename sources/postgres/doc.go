// Package postgres reads accounts from a PostgreSQL table or read-only query,
// streaming the result through a server-side cursor in one READ ONLY,
// REPEATABLE READ transaction, so that a run sees one snapshot and holds at
// most one fetch batch in memory. It owns the connection, the SQL it sends,
// the text form of each value and the incremental cursor; mapping columns
// to Atlas fields is left to its callers.
//
// # Values
//
// Every value reaches the record as text that loses nothing. The server
// writes most types in its own text form; the source changes only these:
//
//	type                 Value
//	boolean              "true" or "false"
//	real, double         the fewest digits that parse back to the same float,
//	                     plain from 1e-7 to 1e21 and with an exponent outside
//	                     ("1e+300"); NaN and ±Infinity as the server writes them
//	timestamptz          RFC 3339 in UTC with up to nine fraction digits, "2024-03-01T09:30:00.5Z"
//	timestamp            "2024-03-01T09:30:00.5": the wall-clock time as stored, no zone
//	array (text[], …)    Value.List with each element converted as above;
//	                     NULL elements are dropped, nested arrays are flattened
//	NULL                 Value{Null: true}
//
// numeric stays exact ("12345678901234567.89"), date is "YYYY-MM-DD", uuid
// the lower-case 8-4-4-4-12 form, json and jsonb the document text, citext,
// enum and domain values their text. Timestamps outside the years 1 to 9999,
// dates BC and ±infinity keep the server's text ("infinity", "0044-03-15
// BC"), which a date mapping rejects as a row error.
//
// # Incremental reads
//
// With a cursor column, a run that is not a full scan reads only the rows
// whose cursor value is at least the stored cursor minus the overlap. See
// Options for the rules.
package postgres
