package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/robfig/cron/v3"
)

// FieldError is one invalid setting: the YAML key, the bad value and how to
// fix it.
type FieldError struct {
	Key     string // YAML path, e.g. jobs[0].mapping.custom_fields.arr.type
	Value   string // the offending value as written, "" when missing
	Problem string // what is wrong and what to do
}

func (e *FieldError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Key, e.Problem)
	}
	return fmt.Sprintf("%s: invalid value %q: %s", e.Key, e.Value, e.Problem)
}

// Field types a mapping accepts.
var fieldTypes = []string{"text", "number", "decimal", "date", "list", "multi", "url", "address", "boolean", "agent", "customer", "account", "ticket"}

var jobNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

type validator struct {
	problems []error
}

func (v *validator) add(key, value, problem string) {
	v.problems = append(v.problems, &FieldError{Key: key, Value: value, Problem: problem})
}

// Validate checks every setting and returns all problems joined, each a
// *FieldError.
func (c *Config) Validate() error {
	v := &validator{}
	c.validateAtlas(v)
	c.validateState(v)
	c.validateDaemon(v)
	c.validateLog(v)

	if len(c.Jobs) == 0 {
		v.add("jobs", "", "no jobs are configured; add at least one job with a name, a source and a mapping")
	}
	names := make(map[string]int)
	for i := range c.Jobs {
		job := &c.Jobs[i]
		prefix := fmt.Sprintf("jobs[%d]", i)
		if first, dup := names[job.Name]; dup && job.Name != "" {
			v.add(prefix+".name", job.Name, fmt.Sprintf("the same name is used by jobs[%d]; job names must be unique", first))
		}
		names[job.Name] = i
		job.validate(v, prefix, c.Daemon.TimeZone)
	}

	if len(v.problems) == 0 {
		return nil
	}
	return errors.Join(v.problems...)
}

func (c *Config) validateAtlas(v *validator) {
	a := &c.Atlas
	u, err := url.Parse(a.BaseURL)
	switch {
	case err != nil || u.Host == "":
		v.add("atlas.base_url", a.BaseURL, "not an absolute URL; write it like https://api.atlas.so")
	case u.Scheme != "https" && u.Scheme != "http":
		v.add("atlas.base_url", a.BaseURL, "the scheme must be https")
	case u.Scheme == "http" && !IsLoopbackHost(u.Hostname()) && !a.AllowInsecureHTTP:
		v.add("atlas.base_url", a.BaseURL, "plain http would send the token in clear text; use https, or set atlas.allow_insecure_http: true if you accept that")
	case u.User != nil:
		v.add("atlas.base_url", "", "must not contain credentials; put the token in atlas.token or atlas.token_file")
	}

	switch {
	case a.Token != "" && a.TokenFile != "":
		v.add("atlas.token", "", "both token and token_file are set; keep one")
	case a.Token == "" && a.TokenFile == "":
		v.add("atlas.token", "", "missing or empty; set atlas.token (for example ${ATLAS_API_TOKEN}, with that variable exported and not empty) or atlas.token_file")
	case strings.ContainsAny(a.Token, " \t\r\n"):
		v.add("atlas.token", "", "contains white space; check the variable or file it comes from")
	}

	if a.RequestsPerSecond <= 0 {
		v.add("atlas.requests_per_second", fmt.Sprint(a.RequestsPerSecond), "must be greater than 0")
	}
	if a.Burst < 1 {
		v.add("atlas.burst", fmt.Sprint(a.Burst), "must be at least 1")
	}
	if a.Workers < 1 || a.Workers > 256 {
		v.add("atlas.workers", fmt.Sprint(a.Workers), "must be between 1 and 256")
	}
	positive(v, "atlas.timeout", a.Timeout)
	if a.MaxRetries < 0 {
		v.add("atlas.max_retries", fmt.Sprint(a.MaxRetries), "must be 0 or more")
	}
	positive(v, "atlas.retry_base_delay", a.RetryBaseDelay)
	positive(v, "atlas.retry_max_delay", a.RetryMaxDelay)
	if a.RetryMaxDelay < a.RetryBaseDelay {
		v.add("atlas.retry_max_delay", a.RetryMaxDelay.D().String(), "must not be shorter than atlas.retry_base_delay")
	}
	positive(v, "atlas.rate_limit_patience", a.RateLimitPatience)
}

func (c *Config) validateState(v *validator) {
	if c.State.BatchSize < 1 || c.State.BatchSize > 10000 {
		v.add("state.batch_size", fmt.Sprint(c.State.BatchSize), "must be between 1 and 10000")
	}
	positive(v, "state.flush_interval", c.State.FlushInterval)
}

func (c *Config) validateDaemon(v *validator) {
	d := &c.Daemon
	if d.Listen != "off" {
		if _, port, err := net.SplitHostPort(d.Listen); err != nil || port == "" {
			v.add("daemon.listen", d.Listen, `write it as host:port, for example 127.0.0.1:9464, or "off"`)
		}
	}
	if _, err := time.LoadLocation(d.TimeZone); err != nil {
		v.add("daemon.time_zone", d.TimeZone, "unknown time zone; use an IANA name such as Europe/Berlin, UTC or Local")
	}
	positive(v, "daemon.shutdown_grace", d.ShutdownGrace)
}

func (c *Config) validateLog(v *validator) {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", c.Log.Level, "use debug, info, warn or error")
	}
	switch c.Log.Format {
	case "auto", "json", "console":
	default:
		v.add("log.format", c.Log.Format, "use auto, json or console")
	}
	if c.Log.ProgressInterval < 0 {
		v.add("log.progress_interval", c.Log.ProgressInterval.D().String(), "must be 0 (off) or positive")
	}
}

func (j *Job) validate(v *validator, prefix, defaultZone string) {
	if !jobNamePattern.MatchString(j.Name) {
		v.add(prefix+".name", j.Name, "use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit")
	}
	if j.Schedule != "" {
		if err := ValidateSchedule(j.Schedule); err != nil {
			v.add(prefix+".schedule", j.Schedule, err.Error())
		}
	}
	if j.MaxRequests < 0 {
		v.add(prefix+".max_requests", fmt.Sprint(j.MaxRequests), "must be 0 (no limit) or positive")
	}
	if j.MaxDuration < 0 {
		v.add(prefix+".max_duration", j.MaxDuration.D().String(), "must be 0 (no limit) or positive")
	}
	j.Source.validate(v, prefix+".source")
	j.Mapping.validate(v, prefix+".mapping", j.Source.Type)
	if j.Source.Type == "salesforce" && j.Mapping.ExternalID == "" && !isAccountObject(j.Source.Object) {
		v.add(prefix+".mapping.external_id", "", fmt.Sprintf("missing; the built-in preset maps the Account object only, so a job reading %s needs a mapping with external_id (usually Id)", j.Source.Object))
	}
}

// isAccountObject reports whether a salesforce source's object is Account,
// which the built-in preset maps: "Account.csv" or "Account", in any case.
func isAccountObject(object string) bool {
	return strings.EqualFold(object, "Account.csv") || strings.EqualFold(object, "Account")
}

// ValidateSchedule checks a cron spec the way the daemon parses it: five
// fields or a descriptor, with an optional CRON_TZ= or TZ= prefix.
func ValidateSchedule(spec string) error {
	trimmed := strings.TrimSpace(spec)
	if strings.HasPrefix(trimmed, "CRON_TZ=") || strings.HasPrefix(trimmed, "TZ=") {
		_, rest, _ := strings.Cut(trimmed, " ")
		if strings.TrimSpace(rest) == "" {
			return errors.New("the time zone prefix has no schedule after it; write it like \"CRON_TZ=Europe/Berlin 0 6 * * *\"")
		}
	}
	if _, err := cron.ParseStandard(trimmed); err != nil {
		return fmt.Errorf("%v; use five fields (minute hour day-of-month month day-of-week), @hourly, @daily or \"@every 15m\"", err)
	}
	return nil
}

func (s *Source) validate(v *validator, prefix string) {
	// Keys that belong to one source type only; set for another type they
	// are a mistake that would otherwise be ignored silently.
	typeKeys := map[string][]string{
		"csv":        {"path", "delimiter", "encoding"},
		"salesforce": {"path", "encoding", "object"},
		"postgres":   {"dsn", "dsn_file", "table", "query", "cursor_column", "overlap", "full_every", "statement_timeout"},
	}
	set := map[string]bool{
		"path": s.Path != "", "delimiter": s.Delimiter != "", "encoding": s.Encoding != "",
		"dsn": s.DSN != "" && s.DSNFile == "", "dsn_file": s.DSNFile != "", "table": s.Table != "", "query": s.Query != "",
		"cursor_column": s.CursorColumn != "", "overlap": s.Overlap != 0 && s.CursorColumn != "",
		"full_every": s.FullEvery != nil && s.CursorColumn != "", "statement_timeout": s.StatementTimeout != 0,
		"object": s.Object != "",
	}

	allowed, known := typeKeys[s.Type]
	if !known {
		v.add(prefix+".type", s.Type, "unknown source type; use csv, postgres or salesforce")
		return
	}
	allowedSet := make(map[string]bool, len(allowed))
	for _, k := range allowed {
		allowedSet[k] = true
	}
	var misplaced []string
	for key, isSet := range set {
		if isSet && !allowedSet[key] {
			misplaced = append(misplaced, key)
		}
	}
	sort.Strings(misplaced)
	for _, key := range misplaced {
		v.add(prefix+"."+key, "", fmt.Sprintf("does not apply to a %s source; remove it", s.Type))
	}

	switch s.Type {
	case "csv", "salesforce":
		if s.Path == "" {
			v.add(prefix+".path", "", "missing; set the file, directory or glob to read")
		}
	case "postgres":
		s.validatePostgres(v, prefix)
	}
	if s.Type == "csv" && utf8.RuneCountInString(s.Delimiter) != 1 {
		v.add(prefix+".delimiter", s.Delimiter, "must be exactly one character, for example \",\" or \";\"")
	}
	if s.Type == "csv" && (s.Delimiter == "\"" || s.Delimiter == "\n" || s.Delimiter == "\r") {
		v.add(prefix+".delimiter", s.Delimiter, "cannot be a quote or a line break")
	}
}

func (s *Source) validatePostgres(v *validator, prefix string) {
	switch {
	case s.DSN == "" && s.DSNFile == "":
		v.add(prefix+".dsn", "", "missing; set dsn (for example ${DATABASE_URL}) or dsn_file")
	case s.DSN != "" && s.DSNFile != "":
		v.add(prefix+".dsn", "", "both dsn and dsn_file are set; keep one")
	case looksLikeBrokenURL(s.DSN):
		// The value is not shown: it may hold a password.
		v.add(prefix+".dsn", "", "a URL DSN must start with postgres:// or postgresql:// (the // is missing), for example postgres://user@127.0.0.1:5432/crm")
	}
	switch {
	case s.Table == "" && s.Query == "":
		v.add(prefix+".table", "", "missing; set table (schema.table) or query")
	case s.Table != "" && s.Query != "":
		v.add(prefix+".query", "", "both table and query are set; keep one")
	case s.Query != "" && strings.TrimSpace(s.Query) == "":
		v.add(prefix+".query", "", "contains only white space; write a SELECT")
	case s.Table != "" && strings.TrimSpace(s.Table) != s.Table:
		v.add(prefix+".table", s.Table, "has white space around it; table names are exact, so remove it")
	}
	if s.Overlap < 0 {
		v.add(prefix+".overlap", s.Overlap.D().String(), "must be 0 or positive")
	}
	if s.FullEvery != nil && *s.FullEvery < 0 {
		v.add(prefix+".full_every", fmt.Sprint(*s.FullEvery), "must be 0 (never) or positive")
	}
	if s.StatementTimeout <= 0 {
		v.add(prefix+".statement_timeout", s.StatementTimeout.D().String(), "must be a positive duration such as 30s or 5m")
	}
}

// looksLikeBrokenURL reports a DSN that starts like a URL but lacks the
// "//" after the scheme, which libpq-style parsers read as a key=value
// string and then connect to the default socket as the current user.
func looksLikeBrokenURL(dsn string) bool {
	lower := strings.ToLower(strings.TrimSpace(dsn))
	for _, scheme := range []string{"postgres:", "postgresql:"} {
		if strings.HasPrefix(lower, scheme) && !strings.HasPrefix(lower, scheme+"//") {
			return true
		}
	}
	return false
}

func (m *Mapping) validate(v *validator, prefix, sourceType string) {
	// A salesforce job reading Account without a mapping uses the built-in
	// preset, which the CLI merges in when it builds the job. Job.validate
	// requires external_id for other Salesforce objects, and every other
	// source needs it.
	if m.ExternalID == "" && sourceType != "salesforce" {
		v.add(prefix+".external_id", "", "missing; name the column that holds the account's key in the CRM")
	}
	for _, key := range sortedFieldKeys(m.Fields) {
		switch key {
		case "externalId", "name", "customFields":
			v.add(prefix+".fields."+key, "", "is set by mapping.external_id, mapping.name or mapping.custom_fields; remove it from fields")
			continue
		}
		field := m.Fields[key]
		field.validate(v, prefix+".fields."+key)
	}
	for _, key := range sortedFieldKeys(m.CustomFields) {
		field := m.CustomFields[key]
		field.validate(v, prefix+".custom_fields."+key)
	}
}

// applyDefaults fills in a field's type, empty policy and separator.
func (f *Field) applyDefaults() {
	if f.Type == "" {
		f.Type = "text"
	}
	if f.Empty == "" {
		f.Empty = "leave"
	}
	if f.Type == "multi" && f.Separator == "" {
		f.Separator = ";"
	}
}

func sortedFieldKeys(fields map[string]Field) []string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (f Field) validate(v *validator, prefix string) {
	knownType := false
	for _, t := range fieldTypes {
		knownType = knownType || t == f.Type
	}
	if !knownType {
		v.add(prefix+".type", f.Type, "unknown type; use one of "+strings.Join(fieldTypes, ", "))
	}

	hasAddressColumn := f.Street1 != "" || f.Street2 != "" || f.City != "" || f.State != "" || f.ZipCode != "" || f.Country != ""
	if f.Type == "address" {
		if !hasAddressColumn {
			v.add(prefix, "", "an address needs at least one of street1, street2, city, state, zip_code and country")
		}
		if f.Column != "" {
			v.add(prefix+".column", f.Column, "an address reads street1, street2, city, state, zip_code and country; remove column")
		}
	} else {
		if f.Column == "" {
			v.add(prefix+".column", "", "missing; name the source column")
		}
		if hasAddressColumn {
			v.add(prefix+".type", f.Type, "address columns are set, so the type must be address")
		}
	}

	switch f.Empty {
	case "leave", "clear":
	default:
		v.add(prefix+".empty", f.Empty, "use leave (keep Atlas' value) or clear (overwrite it with an empty value)")
	}
	if f.Layout != "" && f.Type != "date" {
		v.add(prefix+".layout", f.Layout, "applies to date fields only")
	}
	if f.Type == "date" && f.Layout != "" {
		reference := time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)
		if parsed, err := time.Parse(f.Layout, reference.Format(f.Layout)); err != nil || parsed.Year() != 2006 || parsed.Month() != 1 || parsed.Day() != 2 {
			v.add(prefix+".layout", f.Layout, "a date layout must contain year, month and day in Go's reference form, for example 01/02/2006 or 2006-01-02")
		}
	}
	if f.Separator != "" && f.Type != "multi" {
		v.add(prefix+".separator", f.Separator, "applies to multi fields only")
	}
	if f.TitleColumn != "" && f.Type != "url" {
		v.add(prefix+".title_column", f.TitleColumn, "applies to url fields only")
	}
}

func positive(v *validator, key string, d Duration) {
	if d <= 0 {
		v.add(key, d.D().String(), "must be a positive duration such as 500ms, 30s or 5m")
	}
}

// IsLoopbackHost reports whether host names this machine: localhost or a
// loopback IP address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
