package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults applied by Load to keys the file leaves out.
const (
	DefaultBaseURL           = "https://api.atlas.so"
	DefaultRequestsPerSecond = 5
	DefaultBurst             = 5
	DefaultWorkers           = 4
	DefaultTimeout           = 30 * time.Second
	DefaultMaxRetries        = 5
	DefaultRetryBaseDelay    = 500 * time.Millisecond
	DefaultRetryMaxDelay     = 30 * time.Second
	DefaultRateLimitPatience = 10 * time.Minute
	DefaultStatePath         = "atlas-sync.db"
	DefaultBatchSize         = 200
	DefaultFlushInterval     = 250 * time.Millisecond
	DefaultListen            = "127.0.0.1:9464"
	DefaultShutdownGrace     = 30 * time.Second
	DefaultProgressInterval  = 30 * time.Second
	DefaultOverlap           = 5 * time.Minute
	DefaultFullEvery         = 24
	DefaultStatementTimeout  = 5 * time.Minute
	DefaultSalesforceObject  = "Account.csv"
)

// Environment looks up a variable for ${VAR} expansion. os.LookupEnv fits.
type Environment func(name string) (string, bool)

// Load reads, expands, decodes and validates the file at path. The returned
// error lists every problem found, each naming its YAML key.
func Load(path string, env Environment) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(raw, env)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.Path = path
	if err := cfg.resolveFiles(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// LoadForInspection loads the file for commands that read only the state
// file and the schedules (status, rejected). Unset variables expand to
// empty strings, token_file and dsn_file are not read, and problems with
// the Atlas URL, the token and the DSNs are ignored. So an operator can
// inspect a service's state outside the service's environment, where its
// secrets and credentials directory are missing. The secrets in the
// result are not usable.
func LoadForInspection(path string, env Environment) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	lenient := func(name string) (string, bool) {
		value, _ := env(name)
		return value, true
	}
	cfg, err := parse(raw, lenient, isSecretKey)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.Path = path
	cfg.resolvePaths(filepath.Dir(path))
	return cfg, nil
}

// isSecretKey reports whether a validation problem concerns a setting that
// LoadForInspection ignores.
func isSecretKey(key string) bool {
	switch {
	case key == "atlas.base_url", key == "atlas.token", key == "atlas.token_file":
		return true
	case strings.HasSuffix(key, ".source.dsn"), strings.HasSuffix(key, ".source.dsn_file"):
		return true
	}
	return false
}

// Parse decodes and validates a configuration held in memory. Relative
// paths stay relative to the working directory, and token_file and dsn_file
// are not read; Load does both.
func Parse(raw []byte, env Environment) (*Config, error) {
	return parse(raw, env, nil)
}

// parse is Parse with a filter: validation problems whose key ignore
// accepts are dropped.
func parse(raw []byte, env Environment, ignore func(key string) bool) (*Config, error) {
	expanded, err := expand(raw, env)
	if err != nil {
		return nil, err
	}

	var tree yaml.Node
	if err := yaml.Unmarshal(expanded, &tree); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}

	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty; see config.example.yaml for a starting point")
		}
		return nil, explainDecodeError(err, &tree)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid YAML: the file contains more than one YAML document; remove all but one")
	}

	cfg.applyDefaults(presentKeys(&tree))
	if err := cfg.Validate(); err != nil {
		if ignore == nil {
			return nil, err
		}
		if err := dropProblems(err, ignore); err != nil {
			return nil, err
		}
	}
	return &cfg, nil
}

// dropProblems removes the *FieldErrors whose key ignore accepts from the
// joined errors of Validate.
func dropProblems(err error, ignore func(key string) bool) error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	var kept []error
	for _, problem := range joined.Unwrap() {
		var fieldErr *FieldError
		if errors.As(problem, &fieldErr) && ignore(fieldErr.Key) {
			continue
		}
		kept = append(kept, problem)
	}
	return errors.Join(kept...)
}

// expand replaces ${VAR} with the variable's value. A reference to an unset
// variable is an error, so a forgotten export never becomes an empty token.
// "$$" stands for a literal "$". Comments are copied as they are, so that a
// commented-out reference needs no variable.
func expand(raw []byte, env Environment) ([]byte, error) {
	var problems []error
	var out strings.Builder
	s := string(raw)
	line := 1
	var quote byte // the quote character of an open quoted scalar, or 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			line++
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote == '"' && c == '\\':
			out.WriteByte(c)
			i++
			if i < len(s) {
				out.WriteByte(s[i])
			}
			continue
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t' || s[i-1] == '\n'):
			// A comment runs to the end of the line.
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				end = len(s) - i
			}
			out.WriteString(s[i : i+end])
			i += end - 1
			continue
		}
		if c != '$' || i+1 >= len(s) {
			out.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			out.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				problems = append(problems, fmt.Errorf("line %d: unterminated ${ reference; close it with }", line))
				out.WriteString(s[i:])
				i = len(s)
				continue
			}
			name := s[i+2 : i+2+end]
			if !validEnvName(name) {
				problems = append(problems, fmt.Errorf("line %d: invalid variable name %q in ${%s}", line, name, name))
			} else if value, ok := env(name); !ok {
				problems = append(problems, fmt.Errorf("line %d: environment variable %s is not set; export it or remove ${%s}", line, name, name))
			} else {
				out.WriteString(value)
			}
			i += 2 + end
		default:
			out.WriteByte(c)
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return []byte(out.String()), nil
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		isLetter := r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z')
		if !isLetter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// applyDefaults fills in the keys the file leaves out. present holds the
// YAML paths written in the file, so that an explicit 0 stays 0 and
// validation can reject it (burst: 0) or honour it (max_retries: 0).
func (c *Config) applyDefaults(present map[string]bool) {
	d := defaulter{present: present}
	a := &c.Atlas
	d.str("atlas.base_url", &a.BaseURL, DefaultBaseURL)
	d.float("atlas.requests_per_second", &a.RequestsPerSecond, DefaultRequestsPerSecond)
	d.int("atlas.burst", &a.Burst, DefaultBurst)
	d.int("atlas.workers", &a.Workers, DefaultWorkers)
	d.duration("atlas.timeout", &a.Timeout, DefaultTimeout)
	d.int("atlas.max_retries", &a.MaxRetries, DefaultMaxRetries)
	d.duration("atlas.retry_base_delay", &a.RetryBaseDelay, DefaultRetryBaseDelay)
	d.duration("atlas.retry_max_delay", &a.RetryMaxDelay, DefaultRetryMaxDelay)
	d.duration("atlas.rate_limit_patience", &a.RateLimitPatience, DefaultRateLimitPatience)

	d.str("state.path", &c.State.Path, DefaultStatePath)
	d.int("state.batch_size", &c.State.BatchSize, DefaultBatchSize)
	d.duration("state.flush_interval", &c.State.FlushInterval, DefaultFlushInterval)

	d.str("daemon.listen", &c.Daemon.Listen, DefaultListen)
	d.str("daemon.time_zone", &c.Daemon.TimeZone, "Local")
	d.duration("daemon.shutdown_grace", &c.Daemon.ShutdownGrace, DefaultShutdownGrace)

	d.str("log.level", &c.Log.Level, "info")
	d.str("log.format", &c.Log.Format, "auto")
	d.duration("log.progress_interval", &c.Log.ProgressInterval, DefaultProgressInterval)

	for i := range c.Jobs {
		c.Jobs[i].applyDefaults(d, fmt.Sprintf("jobs[%d]", i))
	}
}

func (j *Job) applyDefaults(d defaulter, prefix string) {
	s := &j.Source
	switch s.Type {
	case "csv":
		d.str(prefix+".source.delimiter", &s.Delimiter, ",")
	case "postgres":
		d.duration(prefix+".source.overlap", &s.Overlap, DefaultOverlap)
		d.duration(prefix+".source.statement_timeout", &s.StatementTimeout, DefaultStatementTimeout)
		if s.FullEvery == nil {
			n := DefaultFullEvery
			s.FullEvery = &n
		}
	case "salesforce":
		d.str(prefix+".source.object", &s.Object, DefaultSalesforceObject)
	}
	applyFieldDefaults(j.Mapping.Fields)
	applyFieldDefaults(j.Mapping.CustomFields)
	if j.Mapping.TrimSpace == nil {
		trim := true
		j.Mapping.TrimSpace = &trim
	}
}

func applyFieldDefaults(fields map[string]Field) {
	for key, f := range fields {
		f.applyDefaults()
		fields[key] = f
	}
}

type defaulter struct {
	present map[string]bool
}

func (d defaulter) str(key string, v *string, def string) {
	if !d.present[key] && *v == "" {
		*v = def
	}
}

func (d defaulter) int(key string, v *int, def int) {
	if !d.present[key] {
		*v = def
	}
}

func (d defaulter) float(key string, v *float64, def float64) {
	if !d.present[key] {
		*v = def
	}
}

func (d defaulter) duration(key string, v *Duration, def time.Duration) {
	if !d.present[key] {
		*v = Duration(def)
	}
}

// presentKeys returns the dotted paths of every mapping key in the
// document, with list items as [i]: "atlas.burst", "jobs[0].source.path".
func presentKeys(doc *yaml.Node) map[string]bool {
	present := make(map[string]bool)
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, child := range n.Content {
				walk(child, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := n.Content[i].Value
				if path != "" {
					key = path + "." + key
				}
				present[key] = true
				walk(n.Content[i+1], key)
			}
		case yaml.SequenceNode:
			for i, child := range n.Content {
				walk(child, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(doc, "")
	return present
}

// resolveFiles makes relative paths relative to the config file's directory
// and reads token_file and dsn_file.
func (c *Config) resolveFiles(dir string) error {
	c.resolvePaths(dir)
	resolve := func(p string) string { return resolvePath(dir, p) }

	if c.Atlas.TokenFile != "" {
		c.Atlas.TokenFile = resolve(c.Atlas.TokenFile)
		token, err := readSecretFile(c.Atlas.TokenFile)
		if err != nil {
			return fmt.Errorf("atlas.token_file: %w", err)
		}
		c.Atlas.Token = token
	}

	for i := range c.Jobs {
		s := &c.Jobs[i].Source
		if s.DSNFile != "" {
			s.DSNFile = resolve(s.DSNFile)
			dsn, err := readSecretFile(s.DSNFile)
			if err != nil {
				return fmt.Errorf("jobs[%d].source.dsn_file: %w", i, err)
			}
			s.DSN = dsn
		}
	}
	return nil
}

// resolvePaths makes the state path and the source paths relative to the
// config file's directory.
func (c *Config) resolvePaths(dir string) {
	c.State.Path = resolvePath(dir, c.State.Path)
	for i := range c.Jobs {
		c.Jobs[i].Source.Path = resolvePath(dir, c.Jobs[i].Source.Path)
	}
}

func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "~") {
		return p
	}
	return filepath.Join(dir, p)
}

func readSecretFile(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	value := strings.TrimSpace(string(raw))
	if value == "" {
		return "", fmt.Errorf("%s is empty; write the secret into it", path)
	}
	return value, nil
}

// UnmarshalYAML reads durations such as "30s", "5m" or "1h30m".
func (d *Duration) UnmarshalYAML(node *yaml.Node) error {
	var text string
	if err := node.Decode(&text); err != nil {
		return fmt.Errorf("line %d: expected a duration such as 30s or 5m: %w", node.Line, err)
	}
	parsed, err := time.ParseDuration(text)
	if err != nil {
		return fmt.Errorf("line %d: invalid duration %q; write it like 30s, 5m or 1h30m", node.Line, text)
	}
	*d = Duration(parsed)
	return nil
}

// MarshalYAML writes the duration in the form UnmarshalYAML reads.
func (d Duration) MarshalYAML() (any, error) {
	return time.Duration(d).String(), nil
}

// UnmarshalYAML accepts a column name as shorthand for {column: NAME}.
func (f *Field) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.ScalarNode {
		f.Column = node.Value
		return nil
	}
	if node.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: expected a column name or a mapping with column, type and the other field keys", node.Line)
	}

	// node.Decode does not inherit the decoder's KnownFields setting, so
	// unknown keys are checked here.
	known := yamlKeys(reflect.TypeOf(Field{}))
	for i := 0; i+1 < len(node.Content); i += 2 {
		key := node.Content[i]
		if _, ok := known[key.Value]; !ok {
			return fmt.Errorf("line %d: field %s not found in type config.Field; valid keys: %s", key.Line, key.Value, strings.Join(sortedKeys(known), ", "))
		}
	}

	type plain Field
	var p plain
	if err := node.Decode(&p); err != nil {
		return err
	}
	*f = Field(p)
	return nil
}

func yamlKeys(t reflect.Type) map[string]struct{} {
	keys := make(map[string]struct{}, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			keys[name] = struct{}{}
		}
	}
	return keys
}

func sortedKeys(set map[string]struct{}) []string {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
