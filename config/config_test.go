package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) Environment {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

const minimal = `
atlas:
  token: ${TOKEN}
jobs:
  - name: crm
    source: {type: csv, path: accounts.csv}
    mapping:
      external_id: Id
      name: Name
      fields: {domain: Website}
      custom_fields:
        arr: {column: AnnualRevenue, type: decimal}
        renewal: {column: RenewalDate, type: date, layout: "01/02/2006"}
`

func TestParseAppliesDefaults(t *testing.T) {
	cfg, err := Parse([]byte(minimal), env(map[string]string{"TOKEN": "secret-token"}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.Atlas.Token != "secret-token" {
		t.Errorf("token = %q, want the expanded variable", cfg.Atlas.Token)
	}
	if cfg.Atlas.BaseURL != DefaultBaseURL {
		t.Errorf("base_url = %q, want %q", cfg.Atlas.BaseURL, DefaultBaseURL)
	}
	if cfg.Atlas.RequestsPerSecond != 5 || cfg.Atlas.Burst != 5 || cfg.Atlas.Workers != 4 {
		t.Errorf("rate settings = %v/%d/%d, want 5/5/4", cfg.Atlas.RequestsPerSecond, cfg.Atlas.Burst, cfg.Atlas.Workers)
	}
	if cfg.Atlas.Timeout.D() != 30*time.Second {
		t.Errorf("timeout = %s, want 30s", cfg.Atlas.Timeout.D())
	}
	if cfg.Atlas.MaxRetries != DefaultMaxRetries {
		t.Errorf("max_retries = %d, want %d", cfg.Atlas.MaxRetries, DefaultMaxRetries)
	}
	job := cfg.Jobs[0]
	if job.Source.Delimiter != "," {
		t.Errorf("delimiter = %q, want ,", job.Source.Delimiter)
	}
	if got := job.Mapping.Fields["domain"]; got.Column != "Website" || got.Type != "text" || got.Empty != "leave" {
		t.Errorf("fields.domain = %+v, want column Website, type text, empty leave", got)
	}
	if got := job.Mapping.CustomFields["renewal"]; got.Layout != "01/02/2006" || got.Type != "date" {
		t.Errorf("custom_fields.renewal = %+v", got)
	}
	if job.Mapping.TrimSpace == nil || !*job.Mapping.TrimSpace {
		t.Errorf("trim_space default should be true")
	}
}

func TestParseExplicitZeroRetriesKept(t *testing.T) {
	raw := strings.Replace(minimal, "  token: ${TOKEN}", "  token: ${TOKEN}\n  max_retries: 0", 1)
	cfg, err := Parse([]byte(raw), env(map[string]string{"TOKEN": "t"}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.Atlas.MaxRetries != 0 {
		t.Errorf("max_retries = %d, want the explicit 0", cfg.Atlas.MaxRetries)
	}
}

func TestParseRejectsInvalidValues(t *testing.T) {
	tests := []struct {
		name    string
		atlas   string // extra lines under atlas:
		job     string // replaces the source line of the job
		wantKey string
	}{
		{name: "burst zero", atlas: "  burst: 0", wantKey: "atlas.burst"},
		{name: "negative rate", atlas: "  requests_per_second: -1", wantKey: "atlas.requests_per_second"},
		{name: "zero workers", atlas: "  workers: 0", wantKey: "atlas.workers"},
		{name: "http remote", atlas: "  base_url: http://atlas.example.com", wantKey: "atlas.base_url"},
		{name: "bad duration", atlas: "  timeout: 10 parsecs", wantKey: "10 parsecs"},
		{name: "unknown key", atlas: "  tokne: x", wantKey: "tokne"},
		{name: "unknown source", job: "    source: {type: ftp, path: x}", wantKey: "jobs[0].source.type"},
		{name: "misplaced key", job: "    source: {type: csv, path: x, table: t}", wantKey: "jobs[0].source.table"},
		{name: "long delimiter", job: "    source: {type: csv, path: x, delimiter: ';;'}", wantKey: "jobs[0].source.delimiter"},
		{name: "bad cron", job: "    schedule: '61 * * * *'\n    source: {type: csv, path: x}", wantKey: "jobs[0].schedule"},
		{name: "cron tz alone", job: "    schedule: 'CRON_TZ=Europe/Berlin'\n    source: {type: csv, path: x}", wantKey: "jobs[0].schedule"},
		{name: "postgres without dsn", job: "    source: {type: postgres, table: public.accounts}", wantKey: "jobs[0].source.dsn"},
		{name: "postgres dsn without slashes", job: "    source: {type: postgres, table: public.accounts, dsn: 'postgres:pw@127.0.0.1/crm'}", wantKey: "the // is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := minimal
			if tt.atlas != "" {
				raw = strings.Replace(raw, "  token: ${TOKEN}", "  token: ${TOKEN}\n"+tt.atlas, 1)
			}
			if tt.job != "" {
				raw = strings.Replace(raw, "    source: {type: csv, path: accounts.csv}", tt.job, 1)
			}
			_, err := Parse([]byte(raw), env(map[string]string{"TOKEN": "t"}))
			if err == nil {
				t.Fatalf("Parse accepted the config, want an error naming %s", tt.wantKey)
			}
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("error %q does not name %s", err, tt.wantKey)
			}
		})
	}
}

func TestParseMappingErrors(t *testing.T) {
	raw := strings.Replace(minimal, "        arr: {column: AnnualRevenue, type: decimal}",
		"        arr: {column: AnnualRevenue, type: money}\n        seats: {type: number}\n        hq: {type: address}\n        when: {column: D, type: date, layout: \"15:04\"}\n        odd: {column: X, colum: Y}", 1)
	_, err := Parse([]byte(raw), env(map[string]string{"TOKEN": "t"}))
	if err == nil {
		t.Fatal("Parse accepted invalid mappings")
	}
	if strings.Contains(err.Error(), "colum") {
		// The unknown key is reported by the decoder before validation.
		if !strings.Contains(err.Error(), "custom_fields.odd.colum") {
			t.Errorf("error %q does not name the unknown key colum", err)
		}
		raw = strings.Replace(raw, ", colum: Y", "", 1)
		_, err = Parse([]byte(raw), env(map[string]string{"TOKEN": "t"}))
	}
	for _, key := range []string{
		"jobs[0].mapping.custom_fields.arr.type",
		"jobs[0].mapping.custom_fields.seats.column",
		"jobs[0].mapping.custom_fields.hq",
		"jobs[0].mapping.custom_fields.when.layout",
	} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
	var fieldErr *FieldError
	if !errors.As(err, &fieldErr) {
		t.Errorf("error is not a *FieldError: %T", err)
	}
}

func TestExpandUnsetVariable(t *testing.T) {
	_, err := Parse([]byte(minimal), env(nil))
	if err == nil || !strings.Contains(err.Error(), "TOKEN is not set") {
		t.Fatalf("err = %v, want a message that TOKEN is not set", err)
	}
}

func TestExpandDollarEscape(t *testing.T) {
	got, err := expand([]byte("a: $${X} b: ${Y} c: $5"), env(map[string]string{"Y": "y"}))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "a: ${X} b: y c: $5" {
		t.Errorf("expand = %q", got)
	}
}

func TestExpandSkipsComments(t *testing.T) {
	raw := "a: ${Y} # uses ${UNSET}\n# token: ${UNSET}\nb: \"x # ${Y}\"\nc: 'it''s ${Y}'\n"
	got, err := expand([]byte(raw), env(map[string]string{"Y": "y"}))
	if err != nil {
		t.Fatalf("expand: %v", err)
	}
	want := "a: y # uses ${UNSET}\n# token: ${UNSET}\nb: \"x # y\"\nc: 'it''s y'\n"
	if string(got) != want {
		t.Errorf("expand =\n%s\nwant\n%s", got, want)
	}
}

func TestLoadResolvesFilesAndToken(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	raw := strings.Replace(minimal, "  token: ${TOKEN}", "  token_file: token", 1)
	path := filepath.Join(dir, "atlas-sync.yaml")
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Atlas.Token != "file-token" {
		t.Errorf("token = %q, want the trimmed file content", cfg.Atlas.Token)
	}
	if want := filepath.Join(dir, "accounts.csv"); cfg.Jobs[0].Source.Path != want {
		t.Errorf("source path = %q, want %q", cfg.Jobs[0].Source.Path, want)
	}
	if want := filepath.Join(dir, DefaultStatePath); cfg.State.Path != want {
		t.Errorf("state path = %q, want %q", cfg.State.Path, want)
	}
}

func TestErrorsNeverContainToken(t *testing.T) {
	raw := strings.Replace(minimal, "  token: ${TOKEN}", "  token: ${TOKEN}\n  burst: -3", 1)
	_, err := Parse([]byte(raw), env(map[string]string{"TOKEN": "tok en-with-space"}))
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "tok en") {
		t.Errorf("error leaks the token: %v", err)
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	path := filepath.Join("..", "config.example.yaml")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("config.example.yaml not found: %v", err)
	}
	vars := map[string]string{"ATLAS_API_TOKEN": "t", "DATABASE_URL": "postgres://u@127.0.0.1/db"}
	if _, err := Load(path, env(vars)); err != nil {
		t.Fatalf("config.example.yaml does not load: %v", err)
	}
}

func TestDecodeErrorsNameKeyAndFix(t *testing.T) {
	raw := strings.Replace(minimal, "  token: ${TOKEN}", "  token: ${TOKEN}\n  workers: four\n  request_per_second: 3", 1)
	raw = strings.Replace(raw, "      external_id: Id", "      externl_id: Id", 1)
	_, err := Parse([]byte(raw), env(map[string]string{"TOKEN": "t"}))
	if err == nil {
		t.Fatal("Parse accepted unknown keys and a wrong type")
	}
	for _, want := range []string{
		`atlas.workers (line 4): invalid value "four": expected a whole number`,
		"atlas.request_per_second (line 5): unknown key; did you mean requests_per_second?",
		"jobs[0].mapping.externl_id (line 10): unknown key; did you mean external_id?",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "config.Atlas") {
		t.Errorf("error names a Go type:\n%v", err)
	}
}

func TestDecodeErrorInFieldNamesKey(t *testing.T) {
	raw := strings.Replace(minimal, "        arr: {column: AnnualRevenue, type: decimal}", "        arr: {colum: AnnualRevenue, type: decimal}", 1)
	_, err := Parse([]byte(raw), env(map[string]string{"TOKEN": "t"}))
	if err == nil {
		t.Fatal("Parse accepted an unknown field key")
	}
	if !strings.Contains(err.Error(), "jobs[0].mapping.custom_fields.arr.colum") || !strings.Contains(err.Error(), "did you mean column?") {
		t.Errorf("error does not name the key and the fix:\n%v", err)
	}
}

func TestLoadForInspectionIgnoresSecrets(t *testing.T) {
	dir := t.TempDir()
	raw := strings.Replace(minimal, "  token: ${TOKEN}", "  base_url: ${BASE_URL}\n  token_file: ${CREDENTIALS_DIRECTORY}/atlas-token", 1)
	path := filepath.Join(dir, "atlas-sync.yaml")
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, env(nil)); err == nil {
		t.Fatal("Load accepted unset variables")
	}
	cfg, err := LoadForInspection(path, env(nil))
	if err != nil {
		t.Fatalf("LoadForInspection: %v", err)
	}
	if want := filepath.Join(dir, DefaultStatePath); cfg.State.Path != want {
		t.Errorf("state path = %q, want %q", cfg.State.Path, want)
	}
	if cfg.Jobs[0].Name != "crm" {
		t.Errorf("jobs = %+v, want crm", cfg.Jobs)
	}

	// Other problems still count.
	bad := strings.Replace(raw, "jobs:", "state:\n  batch_size: -1\njobs:", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadForInspection(path, env(nil)); err == nil || !strings.Contains(err.Error(), "state.batch_size") {
		t.Errorf("err = %v, want state.batch_size named", err)
	}
}
