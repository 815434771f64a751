// Package config loads atlas-sync's YAML configuration: it expands ${VAR}
// references, applies defaults, and validates every setting before anything
// connects to a source or to Atlas. It owns the typed settings and nothing
// that acts on them.
package config

import (
	"time"
)

// Config is the whole configuration file.
type Config struct {
	Atlas  Atlas  `yaml:"atlas"`
	State  State  `yaml:"state"`
	Daemon Daemon `yaml:"daemon"`
	Log    Log    `yaml:"log"`
	Jobs   []Job  `yaml:"jobs"`

	// Path is the file the configuration was read from; relative source
	// and state paths are resolved against its directory.
	Path string `yaml:"-"`
}

// Atlas holds the API connection and the request budget. Atlas limits
// requests per token, so every job shares one rate limit.
type Atlas struct {
	// BaseURL of the API. Default https://api.atlas.so. Must be https
	// unless the host is loopback or AllowInsecureHTTP is set.
	BaseURL string `yaml:"base_url"`

	// Token is the API token. Exactly one of Token and TokenFile is set.
	Token string `yaml:"token"`

	// TokenFile is a file whose content (surrounding whitespace trimmed)
	// is the token; systemd credentials and Kubernetes secrets land here.
	TokenFile string `yaml:"token_file"`

	// RequestsPerSecond is the request rate shared by all workers and
	// jobs. Default 5.
	RequestsPerSecond float64 `yaml:"requests_per_second"`

	// Burst is how many requests may start at once after an idle period.
	// Default 5.
	Burst int `yaml:"burst"`

	// Workers is the number of concurrent upsert requests. Default 4.
	Workers int `yaml:"workers"`

	// Timeout bounds one HTTP request, including reading the response.
	// Default 30s.
	Timeout Duration `yaml:"timeout"`

	// MaxRetries is how often one row is retried after a transient
	// failure (5xx, timeout, connection error) before the run gives up on
	// it. Default 5.
	MaxRetries int `yaml:"max_retries"`

	// RetryBaseDelay is the first backoff delay; it doubles on each retry
	// up to RetryMaxDelay, with jitter. Defaults 500ms and 30s.
	RetryBaseDelay Duration `yaml:"retry_base_delay"`
	RetryMaxDelay  Duration `yaml:"retry_max_delay"`

	// RateLimitPatience is how long a run keeps waiting while Atlas
	// responds with 429 without a single success before it stops as "rate
	// limited". Default 10m.
	RateLimitPatience Duration `yaml:"rate_limit_patience"`

	// AllowInsecureHTTP permits an http:// BaseURL on a non-loopback host.
	// Default false. The token then crosses the network in clear text.
	AllowInsecureHTTP bool `yaml:"allow_insecure_http"`
}

// State locates the SQLite checkpoint.
type State struct {
	// Path of the SQLite file. Default ./atlas-sync.db, relative to the
	// config file's directory.
	Path string `yaml:"path"`

	// BatchSize is the number of acknowledged rows committed in one
	// transaction. Default 200.
	BatchSize int `yaml:"batch_size"`

	// FlushInterval bounds how long an acknowledged row waits before it
	// is committed. Default 250ms.
	FlushInterval Duration `yaml:"flush_interval"`
}

// Daemon holds the settings of `atlas-sync daemon`.
type Daemon struct {
	// Listen is the address of the /healthz, /readyz and /metrics
	// endpoint, or "" for none. Default "127.0.0.1:9464".
	Listen string `yaml:"listen"`

	// TimeZone applies to schedules that carry no CRON_TZ= prefix.
	// Default "Local".
	TimeZone string `yaml:"time_zone"`

	// ShutdownGrace is how long in-flight requests may finish after
	// SIGTERM before they are cancelled. Default 30s.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
}

// Log selects the log format and level.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`

	// Format is auto (console on a terminal, JSON otherwise), json or
	// console. Default auto.
	Format string `yaml:"format"`

	// ProgressInterval is how often a run logs a progress line when
	// stderr is not a terminal. Default 30s; 0 turns it off.
	ProgressInterval Duration `yaml:"progress_interval"`
}

// Job is one source synced into Atlas.
type Job struct {
	// Name identifies the job in the checkpoint, logs and metrics.
	// Letters, digits, '-', '_' and '.'.
	Name string `yaml:"name"`

	// Schedule is a cron spec for the daemon: five fields, a descriptor
	// such as @hourly or "@every 15m", optionally prefixed with
	// CRON_TZ=Zone. Empty means the daemon does not schedule the job.
	Schedule string `yaml:"schedule"`

	Source  Source  `yaml:"source"`
	Mapping Mapping `yaml:"mapping"`

	// MaxRequests stops a run after this many upsert requests; 0 means
	// no limit.
	MaxRequests int `yaml:"max_requests"`

	// MaxDuration stops sending after this long; 0 means no limit.
	MaxDuration Duration `yaml:"max_duration"`
}

// Source selects and configures a source. Type decides which of the other
// keys apply; validation rejects keys that belong to another type.
type Source struct {
	// Type is csv, postgres or salesforce.
	Type string `yaml:"type"`

	// csv and salesforce: a file, a directory or a glob.
	Path string `yaml:"path"`

	// csv: the field delimiter, one character. Default ",".
	Delimiter string `yaml:"delimiter"`

	// csv and salesforce: utf-8 (default), latin-1 (ISO-8859-1),
	// windows-1252, or another encoding name that golang.org/x/text supports.
	Encoding string `yaml:"encoding"`

	// postgres: connection string; DSNFile reads it from a file instead.
	DSN     string `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`

	// postgres: a schema-qualified table, or a read-only query.
	Table string `yaml:"table"`
	Query string `yaml:"query"`

	// postgres: incremental reads. CursorColumn is a column that grows
	// with every change (updated_at, for example). Overlap re-reads that
	// much before the stored cursor, so that late commits are not missed
	// (default 5m). FullEvery forces a full scan every N runs (default
	// 24, 0 never).
	CursorColumn string   `yaml:"cursor_column"`
	Overlap      Duration `yaml:"overlap"`
	FullEvery    *int     `yaml:"full_every"`

	// postgres: per-statement timeout. Default 5m.
	StatementTimeout Duration `yaml:"statement_timeout"`

	// salesforce: the object's file name inside an export. Default
	// Account.csv.
	Object string `yaml:"object"`
}

// Mapping turns a source record into an Atlas account.
type Mapping struct {
	// ExternalID is the column holding the account's key in the CRM.
	ExternalID string `yaml:"external_id"`

	// Name is the column holding the account name.
	Name string `yaml:"name"`

	// TrimSpace trims leading and trailing white space from every text
	// value before it is mapped. Default true.
	TrimSpace *bool `yaml:"trim_space"`

	// Fields maps top-level Atlas keys (domain, for example) to columns.
	Fields map[string]Field `yaml:"fields"`

	// CustomFields maps Atlas custom field keys to typed columns.
	CustomFields map[string]Field `yaml:"custom_fields"`
}

// Field maps one Atlas value. In YAML it is either a column name or a
// mapping with the keys below.
type Field struct {
	// Column is the source column. Address fields use the address
	// columns below instead.
	Column string `yaml:"column"`

	// Type is text (default), number, decimal, date, list, multi, url,
	// address, boolean, agent, customer, account or ticket.
	Type string `yaml:"type"`

	// Layout is the input layout of a date, in Go's reference-time form
	// ("01/02/2006"). Default 2006-01-02; RFC 3339 timestamps are
	// accepted as well.
	Layout string `yaml:"layout"`

	// Separator splits a multi value held in one text cell. Default ";".
	Separator string `yaml:"separator"`

	// Empty sets what an empty cell or NULL does: leave (default) keeps
	// the value Atlas stores, clear overwrites it with an empty value.
	Empty string `yaml:"empty"`

	// Path selects a value inside a JSON document column, as dot-separated
	// keys ("plan.tier").
	Path string `yaml:"path"`

	// TitleColumn is the column for a url field's title.
	TitleColumn string `yaml:"title_column"`

	// Address columns.
	Street1 string `yaml:"street1"`
	Street2 string `yaml:"street2"`
	City    string `yaml:"city"`
	State   string `yaml:"state"`
	ZipCode string `yaml:"zip_code"`
	Country string `yaml:"country"`
}

// Duration is a time.Duration written in YAML as "30s", "5m" or "1h30m".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
