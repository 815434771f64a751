package salesforce

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// week1IDs are the accounts of the 2026-11-16 export that are not deleted.
var week1IDs = []string{
	"0015g00000Ab1QxAAJ", "0015g00000bK7mZAAS", "0015g00000QrST9AAN", "0015g00000zz3pqAAA",
	"0015g00000Bc2ReAAJ", "0015g00000kD8wYAAS", "0015g00000x1y2ZAAQ", "0015g00000De4TiAAJ",
	"0015g00000Hj5uKAAR",
}

func TestOpenDataExportSampleFile(t *testing.T) {
	results := openAll(t, Options{Path: corpusAccount})

	if len(results) != 3 {
		t.Fatalf("read %d records, want 3: %+v", len(results), results)
	}
	wantPositions := []string{corpusAccount + ":2", corpusAccount + ":5", corpusAccount + ":6"}
	for i, r := range results {
		if r.position != wantPositions[i] {
			t.Errorf("record %d position = %q, want %q", i, r.position, wantPositions[i])
		}
	}
	if got := results[0].values["BillingStreet"]; got != "77 Orchard Ave\nBuilding C" {
		t.Errorf("BillingStreet = %q, want the line break kept", got)
	}
	if got := results[0].values["Description"]; got != "Regional distributor.\nTwo warehouses." {
		t.Errorf("Description = %q, want the line break kept", got)
	}
	if got := results[2].skip; got != SkipDeleted {
		t.Errorf("deleted row skip = %q, want %q", got, SkipDeleted)
	}
	if got := accounts(results); !reflect.DeepEqual(got, []string{"0015g00000A1bCdAAJ", "0015g00000A1bCeAAJ"}) {
		t.Errorf("accounts = %q", got)
	}
}

func TestOpenSplitExportDirectory(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, dir, week1Time, week1Parts(t)...)

	results := openAll(t, Options{Path: dir})

	if got := accounts(results); !reflect.DeepEqual(got, week1IDs) {
		t.Errorf("accounts = %q\nwant %q", got, week1IDs)
	}
	deleted := results[6]
	if deleted.skip != SkipDeleted {
		t.Errorf("record 7 skip = %q, want %q", deleted.skip, SkipDeleted)
	}
	if want := exportPrefix + "_2.ZIP:Account.csv:12"; deleted.position != want {
		t.Errorf("deleted row position = %q, want %q", deleted.position, want)
	}
	if got := results[1].values["Description"]; got != "Freight forwarder.\nTwo depots: Leeds and Hull.\n\"Priority\" lane customer." {
		t.Errorf("multi-line Description = %q", got)
	}
	if got := results[4].values["BillingStreet"]; got != "Unit 4, Mill Yard\n12 Weaver Lane" {
		t.Errorf("multi-line BillingStreet = %q", got)
	}
	if got := results[8].values["ParentId"]; got != "0015g00000zz3pqAAA" {
		t.Errorf("ParentId = %q, want the parent's 18-character Id", got)
	}
}

func TestOpenLogsFilesRead(t *testing.T) {
	dir := t.TempDir()
	paths := writeExport(t, dir, week1Time, week1Parts(t)...)
	core, logs := observer.New(zapcore.InfoLevel)

	openAll(t, Options{Path: dir, Logger: zap.New(core)})

	entries := logs.FilterMessage("reading Salesforce export").All()
	if len(entries) != 1 {
		t.Fatalf("logged %d lines about the export, want 1: %v", len(entries), logs.All())
	}
	fields := entries[0].ContextMap()
	if got := fields["export"]; got != exportPrefix+" (2 parts)" {
		t.Errorf("export = %v", got)
	}
	if got, ok := fields["files"].([]interface{}); !ok || len(got) != 2 || got[0] != paths[0] || got[1] != paths[1] {
		t.Errorf("files = %v, want %q", fields["files"], paths)
	}
	if got, ok := fields["inputs"].([]interface{}); !ok || len(got) != 1 || got[0] != exportPrefix+"_2.ZIP:Account.csv" {
		t.Errorf("inputs = %v", fields["inputs"])
	}
}

func TestOpenPicksNewestExport(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, filepath.Join(dir, "2026-11-16"), week1Time, week1Parts(t)...)
	writeExport(t, filepath.Join(dir, "2026-11-23"), week2Time, week2Parts(t)...)

	results := openAll(t, Options{Path: dir})

	ids := accounts(results)
	if len(ids) != 9 || !slices.Contains(ids, "0015g00000Fg6VlAAJ") {
		t.Errorf("accounts = %q, want the 9 of the newer export, with 0015g00000Fg6VlAAJ", ids)
	}
	if want := exportPrefix + "_1.ZIP:Account.csv:2"; results[0].position != want {
		t.Errorf("first position = %q, want %q", results[0].position, want)
	}
}

func TestOpenSkipsIncompleteExports(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, filepath.Join(dir, "2026-11-16"), week1Time, week1Parts(t)...)

	// Newer, but part 2 is missing.
	gap := filepath.Join(dir, "2026-11-23")
	week2 := week2Parts(t)
	writeArchive(t, filepath.Join(gap, exportPrefix+"_1.ZIP"), week2Time, week2[0]...)
	writeArchive(t, filepath.Join(gap, exportPrefix+"_3.ZIP"), week2Time, week2[1]...)

	// Newest, but part 2 was cut off during the download.
	truncated := filepath.Join(dir, "2026-11-30")
	newest := week2Time.Add(7 * 24 * time.Hour)
	paths := writeExport(t, truncated, newest, week2...)
	cutOff(t, paths[1], newest)

	core, logs := observer.New(zapcore.InfoLevel)
	results := openAll(t, Options{Path: dir, Logger: zap.New(core)})

	if got := accounts(results); !reflect.DeepEqual(got, week1IDs) {
		t.Errorf("accounts = %q, want the complete export of 2026-11-16", got)
	}
	warnings := logs.FilterMessage("incomplete Salesforce export skipped").All()
	if len(warnings) != 2 {
		t.Fatalf("logged %d skipped exports, want 2: %v", len(warnings), logs.All())
	}
	reasons := []string{warnings[0].ContextMap()["reason"].(string), warnings[1].ContextMap()["reason"].(string)}
	if !strings.Contains(reasons[0], "2026-11-30") || !strings.Contains(reasons[0], "part 2 ("+exportPrefix+"_2.ZIP) is not a readable ZIP archive") {
		t.Errorf("first reason = %q, want the truncated part 2 of 2026-11-30", reasons[0])
	}
	if !strings.Contains(reasons[1], "2026-11-23") || !strings.Contains(reasons[1], "part 2 is missing") {
		t.Errorf("second reason = %q, want the missing part 2 of 2026-11-23", reasons[1])
	}
}

// cutOff truncates the file at path to half its size, as an interrupted
// download leaves it.
func cutOff(t *testing.T, path string, modTime time.Time) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, info.Size()/2); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, modTime, modTime); err != nil {
		t.Fatal(err)
	}
}

func TestOpenNoCompleteExport(t *testing.T) {
	dir := t.TempDir()
	week2 := week2Parts(t)
	writeArchive(t, filepath.Join(dir, exportPrefix+"_2.ZIP"), week2Time, week2[1]...)

	_, err := Open(context.Background(), Options{Path: dir})
	if err == nil || !strings.Contains(err.Error(), "no complete Salesforce export") || !strings.Contains(err.Error(), "part 1 is missing") {
		t.Errorf("error = %v, want no complete export because part 1 is missing", err)
	}
}

func TestOpenNewestExportWithoutObject(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, filepath.Join(dir, "old"), week1Time, week1Parts(t)...)
	writeExport(t, filepath.Join(dir, "new"), week2Time, []entry{fixture(t, "Contact.csv", "export-2026-11-23/Contact.csv")})

	_, err := Open(context.Background(), Options{Path: dir})
	if err == nil || !strings.Contains(err.Error(), "contains no Account.csv") {
		t.Errorf("error = %v, want the newest export to lack Account.csv instead of reading the older one", err)
	}
}

func TestOpenEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Options{Path: dir})
	if err == nil || !strings.Contains(err.Error(), "no Salesforce export in") {
		t.Errorf("error = %v, want no Salesforce export", err)
	}
}

func TestOpenGroupsBrowserRenamedDownloads(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, dir, week1Time, week1Parts(t)...)
	week2 := week2Parts(t)
	writeArchive(t, filepath.Join(dir, exportPrefix+"_1 (1).ZIP"), week2Time, week2[0]...)
	writeArchive(t, filepath.Join(dir, exportPrefix+"_2 (1).ZIP"), week2Time, week2[1]...)

	results := openAll(t, Options{Path: dir})

	if ids := accounts(results); !slices.Contains(ids, "0015g00000Fg6VlAAJ") {
		t.Errorf("accounts = %q, want the export renamed with (1)", ids)
	}
	if want := exportPrefix + "_1 (1).ZIP:Account.csv:2"; results[0].position != want {
		t.Errorf("position = %q, want %q", results[0].position, want)
	}
}

func TestOpenObjectInSeveralParts(t *testing.T) {
	dir := t.TempDir()
	header := "\"Id\",\"IsDeleted\",\"Name\"\n"
	writeExport(t, dir, week1Time,
		[]entry{{name: "Account.csv", content: header + "\"001A0000006Vm9r\",\"false\",\"First Part Ltd\"\n"}},
		[]entry{{name: "Contact.csv", content: "\"Id\"\n"}},
		[]entry{{name: "Account.csv", content: header + "\"003D000000yUbCD\",\"false\",\"Third Part Ltd\"\n"}},
	)

	results := openAll(t, Options{Path: dir})

	if got := accounts(results); !reflect.DeepEqual(got, []string{"001A0000006Vm9rIAC", "003D000000yUbCDIA0"}) {
		t.Errorf("accounts = %q", got)
	}
	if want := exportPrefix + "_3.ZIP:Account.csv:2"; results[1].position != want {
		t.Errorf("position = %q, want %q", results[1].position, want)
	}
}

func TestOpenRejectsDifferentHeaders(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, dir, week1Time,
		[]entry{{name: "Account.csv", content: "Id,Name\n001A0000006Vm9r,A\n"}},
		[]entry{{name: "Account.csv", content: "Id,Name,Phone\n003D000000yUbCD,B,1\n"}},
	)

	_, err := Open(context.Background(), Options{Path: dir})
	if err == nil || !strings.Contains(err.Error(), "has a different header row") {
		t.Errorf("error = %v, want a header mismatch", err)
	}
}

func TestOpenSingleArchive(t *testing.T) {
	dir := t.TempDir()
	paths := writeExport(t, dir, week1Time, week1Parts(t)...)

	results := openAll(t, Options{Path: paths[1]})
	if got := accounts(results); !reflect.DeepEqual(got, week1IDs) {
		t.Errorf("accounts = %q", got)
	}

	_, err := Open(context.Background(), Options{Path: paths[0]})
	if err == nil || !strings.Contains(err.Error(), "contains no Account.csv") || !strings.Contains(err.Error(), "set source.path to their directory") {
		t.Errorf("error = %v, want a hint to read the directory", err)
	}
}

func TestOpenConfiguredObject(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, dir, week1Time, week1Parts(t)...)

	results := openAll(t, Options{Path: dir, Object: "contact"})
	if got := accounts(results); !reflect.DeepEqual(got, []string{"0035g00000Lm7NpAAJ"}) {
		t.Errorf("ids = %q, want the one contact", got)
	}
	if got := results[0].values["AccountId"]; got != "0015g00000Ab1QxAAJ" {
		t.Errorf("AccountId = %q", got)
	}
}

func TestOpenGlobReadsEveryCSV(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "result-1.csv"), "\"Id\",\"Name\"\n\"001A0000006Vm9r\",\"First\"\n")
	writeFile(t, filepath.Join(dir, "result-2.csv"), "\"Id\",\"Name\"\n\"003D000000yUbCD\",\"Second\"\n")

	pattern := filepath.Join(dir, "result-*.csv")
	results := openAll(t, Options{Path: pattern})

	if got := accounts(results); !reflect.DeepEqual(got, []string{"001A0000006Vm9rIAC", "003D000000yUbCDIA0"}) {
		t.Errorf("accounts = %q", got)
	}
	if want := filepath.Join(dir, "result-2.csv") + ":2"; results[1].position != want {
		t.Errorf("position = %q, want %q", results[1].position, want)
	}
}

func TestOpenGlobOfArchives(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, filepath.Join(dir, "a"), week1Time, week1Parts(t)...)
	writeExport(t, filepath.Join(dir, "b"), week2Time, week2Parts(t)...)

	results := openAll(t, Options{Path: filepath.Join(dir, "*", "WE_*.ZIP")})
	if ids := accounts(results); !slices.Contains(ids, "0015g00000Fg6VlAAJ") {
		t.Errorf("accounts = %q, want the newer export", ids)
	}
}

func TestOpenGlobErrors(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, dir, week1Time, week1Parts(t)...)
	writeFile(t, filepath.Join(dir, "WE_notes.csv"), "Id\n")

	_, err := Open(context.Background(), Options{Path: filepath.Join(dir, "WE_*")})
	if err == nil || !strings.Contains(err.Error(), "matches both ZIP archives") {
		t.Errorf("error = %v, want mixed matches rejected", err)
	}
	_, err = Open(context.Background(), Options{Path: filepath.Join(dir, "nothing-*.csv")})
	if err == nil || !strings.Contains(err.Error(), "no files match") {
		t.Errorf("error = %v, want no matches", err)
	}
}

func TestOpenLatin1Export(t *testing.T) {
	path := filepath.Join(testdata, "latin1", "Account.csv")
	results := openAll(t, Options{Path: path, Encoding: "latin-1"})

	if len(results) != 2 {
		t.Fatalf("read %d records, want 2: %+v", len(results), results)
	}
	want := map[string]string{
		"Name":           "Müller & Söhne Feinmechanik",
		"BillingStreet":  "Straße des 17. Juni 135",
		"BillingCountry": "Deutschland",
		"Description":    "Präzisionsteile für Uhrmacher.\nGegründet 1952.",
	}
	for column, value := range want {
		if got := results[0].values[column]; got != value {
			t.Errorf("%s = %q, want %q", column, got, value)
		}
	}
	if got := results[1].values["Name"]; got != "Société Générale de Cafés" {
		t.Errorf("Name = %q", got)
	}
	if results[1].position != path+":4" {
		t.Errorf("position = %q, want line 4 after a two-line Description", results[1].position)
	}
}

func TestOpenLatin1AsUTF8IsRowError(t *testing.T) {
	results := openAll(t, Options{Path: filepath.Join(testdata, "latin1", "Account.csv")})
	for _, r := range results {
		if r.err == "" || !strings.Contains(r.err, "invalid UTF-8") {
			t.Errorf("record %s: %+v, want an invalid UTF-8 row error", r.position, r)
		}
	}
}

func TestOpenLatin1InsideArchive(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, dir, week1Time, []entry{fixture(t, "Account.csv", "latin1/Account.csv")})

	results := openAll(t, Options{Path: dir, Encoding: "iso-8859-1"})
	if len(results) != 2 || results[0].values["Name"] != "Müller & Söhne Feinmechanik" {
		t.Errorf("results = %+v, want the decoded name", results)
	}
}

func TestNextConvertsIDs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Account.csv")
	writeFile(t, path, "Id,IsDeleted,Name,ParentId,OwnerId,Owner.Id,JigsawCompanyId,Partner__c,Website\n"+
		"001A0000006Vm9r,0,A,003D000000yUbCD,0055g00000Hq3Rt,0055g00000Hq3Rt,ABCDEFGHIJKLMNO,003D000000yUbCD,www.example.com\n"+
		"001a0000006vm9riac,1,B,,,,,,\n"+
		" 001A0000006Vm9r ,FALSE,C,not-an-id,,,,,\n")

	results := openAll(t, Options{Path: path})

	first := results[0].values
	want := map[string]string{
		"Id":              "001A0000006Vm9rIAC",
		"ParentId":        "003D000000yUbCDIA0",
		"OwnerId":         "0055g00000Hq3RtAAJ",
		"Owner.Id":        "0055g00000Hq3RtAAJ",
		"JigsawCompanyId": "ABCDEFGHIJKLMNO",
		"Partner__c":      "003D000000yUbCD",
		"Website":         "www.example.com",
	}
	for column, value := range want {
		if got := first[column]; got != value {
			t.Errorf("%s = %q, want %q", column, got, value)
		}
	}
	if results[1].skip != SkipDeleted || results[1].values["Id"] != "001a0000006vm9riac" {
		t.Errorf("second record = %+v, want it skipped with its Id as written", results[1])
	}
	if got := results[2].values["Id"]; got != "001A0000006Vm9rIAC" {
		t.Errorf("Id with spaces = %q", got)
	}
	if got := results[2].values["ParentId"]; got != "not-an-id" {
		t.Errorf("ParentId = %q, want a value that is no ID kept", got)
	}
}

func TestNextRowErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Account.csv")
	writeFile(t, path, "Id,IsDeleted,Name\n"+
		"ACC-1,false,Bad Id\n"+
		"001A0000006Vm9r,maybe,Bad flag\n"+
		",false,No Id\n"+
		"003D000000yUbCD,false,Good\n")

	results := openAll(t, Options{Path: path})

	if len(results) != 4 {
		t.Fatalf("read %d results, want 4: %+v", len(results), results)
	}
	if r := results[0]; r.column != "Id" || r.position != path+":2" || !strings.Contains(r.err, `invalid ID "ACC-1"`) {
		t.Errorf("first = %+v, want an invalid Id row error at line 2", r)
	}
	if r := results[1]; r.column != "IsDeleted" || !strings.Contains(r.err, `invalid boolean "maybe"`) {
		t.Errorf("second = %+v, want an invalid IsDeleted row error", r)
	}
	if r := results[2]; r.err != "" || r.values["Id"] != "" {
		t.Errorf("third = %+v, want the empty Id passed on for the mapping to reject", r)
	}
	if r := results[3]; r.values["Id"] != "003D000000yUbCDIA0" {
		t.Errorf("fourth = %+v, want it read after the errors", r)
	}
}

func TestOpenFillsMissingColumns(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bulk-results.csv")
	writeFile(t, path, "\"Id\",\"Name\",\"Industry\"\n\"001A0000006Vm9rIAC\",\"Bulk Query Co\",\"Energy\"\n")
	core, logs := observer.New(zapcore.InfoLevel)

	src, err := Open(context.Background(), Options{Path: path, FillMissing: []string{"Name", "Industry", "Phone", "BillingCity"}, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	if got, want := src.Columns(), []string{"Id", "Name", "Industry", "Phone", "BillingCity"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Columns = %q, want %q", got, want)
	}
	results := readAll(t, src)
	if len(results) != 1 {
		t.Fatalf("read %d records, want 1", len(results))
	}
	if got := results[0].values; got["Industry"] != "Energy" || got["Phone"] != "" || got["BillingCity"] != "" {
		t.Errorf("values = %q, want Energy and empty filled columns", got)
	}
	added := logs.FilterMessage("Salesforce export lacks columns; the fields that read them are left out").All()
	if len(added) != 1 {
		t.Fatalf("logged %d lines about filled columns, want 1", len(added))
	}
}

func TestOpenRenamesStandardFieldsInOtherCase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "extract.csv")
	writeFile(t, path, "\"ID\",\"ISDELETED\",\"NAME\",\"PARENTID\",\"CUSTOMERPRIORITY__C\"\n\"001A0000006Vm9r\",\"true\",\"Upper Case Co\",\"\",\"High\"\n")

	src, err := Open(context.Background(), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	if got, want := src.Columns(), []string{"Id", "IsDeleted", "Name", "ParentId", "CUSTOMERPRIORITY__C"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Columns = %q, want %q", got, want)
	}
	results := readAll(t, src)
	if len(results) != 1 || results[0].skip != SkipDeleted {
		t.Errorf("results = %+v, want the ISDELETED row skipped", results)
	}
}

func TestSourceCloseTwiceAndNextAfterClose(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, dir, week1Time, week1Parts(t)...)
	src, err := Open(context.Background(), Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Next(context.Background()); err != nil {
		t.Fatalf("Next: %v", err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := src.Next(context.Background()); err == nil {
		t.Error("Next after Close returned no error")
	}
}

func TestOpenMissingPath(t *testing.T) {
	_, err := Open(context.Background(), Options{Path: filepath.Join(t.TempDir(), "missing")})
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("error = %v, want not found", err)
	}
	if _, err := Open(context.Background(), Options{}); err == nil || !strings.Contains(err.Error(), "missing path") {
		t.Errorf("error = %v, want missing path", err)
	}
}

func unwrapAll(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenObjectInArchiveFolder(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, dir, week1Time, []entry{{name: "data/Account.csv", content: "Id,Name\n001A0000006Vm9r,Folder Co\n"}})

	results := openAll(t, Options{Path: dir})

	if len(results) != 1 || results[0].values["Id"] != "001A0000006Vm9rIAC" {
		t.Fatalf("results = %+v, want the one account", results)
	}
	if want := exportPrefix + "_1.ZIP:data/Account.csv:2"; results[0].position != want {
		t.Errorf("position = %q, want %q", results[0].position, want)
	}
}

func TestOpenWindows1252File(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Account.csv")
	// 0xE9 is é in both single-byte encodings; 0x80 is € only in
	// Windows-1252.
	writeFile(t, path, "\"Id\",\"Name\"\r\n\"001A0000006Vm9r\",\"Caf\xe9 \x80 Trading\"\r\n")

	results := openAll(t, Options{Path: path, Encoding: "windows-1252"})

	if len(results) != 1 || results[0].values["Name"] != "Café € Trading" {
		t.Errorf("results = %+v, want the name Café € Trading", results)
	}
}
