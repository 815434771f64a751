// Package salesforce reads one object, Account by default, from Salesforce
// exports: Data Export archives (one or several ZIP files), Bulk API 2.0
// query results and Data Loader extracts. It owns choosing the newest
// complete export, reading the object's CSV inside it, and Salesforce's
// conventions (18-character IDs, deleted rows, header spelling), and it
// provides the preset mapping of the Account object. Parsing CSV is left
// to the csv source, and converting values to Atlas types to the mapping.
//
// # Values
//
// Header names are field API names (Name, BillingCity, CustomerPriority__c,
// Owner.Name). A standard Account field written in another case (NAME) is
// renamed to its API spelling. Id, and every other column whose name ends in
// Id and that holds a 15- or 18-character ID, are rewritten in the
// 18-character case-safe form, so an account keeps one externalId whichever
// export wrote it. Custom lookup fields end in __c and keep their value. A
// row whose IsDeleted is true or 1 is skipped (Data Export can include the
// recycle bin). Everything else passes through as text: empty cells are
// empty, and dates (2027-06-30), datetimes (2024-05-02T17:21:09.000Z),
// checkboxes and multi-line text are converted or kept by the mapping.
// Encodings are those of the csv source: UTF-8, ISO-8859-1, Windows-1252
// and the other WHATWG encoding labels, such as shift_jis or utf-16le.
package salesforce
