package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestOutOfRangeValuesNameKey sets one value out of range at a time and
// checks that Parse rejects it with a *FieldError for that key. The
// existing TestParseRejectsInvalidValues covers a first set; this one
// adds the remaining numeric bounds, schedules and source types.
func TestOutOfRangeValuesNameKey(t *testing.T) {
	const base = `atlas:
  token: t
%s
state:
  path: s.db
%s
daemon:
%s
jobs:
  - name: crm
%s
    source: {type: csv, path: a.csv}
    mapping: {external_id: Id}
`
	tests := []struct {
		name                 string
		atlas, state, daemon string
		job                  string
		wantKey              string
	}{
		{name: "burst 0", atlas: "  burst: 0", wantKey: "atlas.burst"},
		{name: "burst negative", atlas: "  burst: -5", wantKey: "atlas.burst"},
		{name: "rate 0", atlas: "  requests_per_second: 0", wantKey: "atlas.requests_per_second"},
		{name: "rate negative", atlas: "  requests_per_second: -0.5", wantKey: "atlas.requests_per_second"},
		{name: "workers 0", atlas: "  workers: 0", wantKey: "atlas.workers"},
		{name: "workers above 256", atlas: "  workers: 257", wantKey: "atlas.workers"},
		{name: "timeout 0", atlas: "  timeout: 0s", wantKey: "atlas.timeout"},
		{name: "retry delay negative", atlas: "  retry_base_delay: -1s", wantKey: "atlas.retry_base_delay"},
		{name: "retry max below base", atlas: "  retry_base_delay: 2s\n  retry_max_delay: 1s", wantKey: "atlas.retry_max_delay"},
		{name: "patience 0", atlas: "  rate_limit_patience: 0s", wantKey: "atlas.rate_limit_patience"},
		{name: "batch size 0", state: "  batch_size: 0", wantKey: "state.batch_size"},
		{name: "flush interval negative", state: "  flush_interval: -5ms", wantKey: "state.flush_interval"},
		{name: "listen without port", daemon: "  listen: 127.0.0.1", wantKey: "daemon.listen"},
		{name: "unknown time zone", daemon: "  time_zone: Mars/Olympus", wantKey: "daemon.time_zone"},
		{name: "shutdown grace 0", daemon: "  shutdown_grace: 0s", wantKey: "daemon.shutdown_grace"},
		{name: "invalid cron", job: "    schedule: '* * *'", wantKey: "jobs[0].schedule"},
		{name: "cron minute 60", job: "    schedule: '60 * * * *'", wantKey: "jobs[0].schedule"},
		{name: "CRON_TZ without schedule", job: "    schedule: 'CRON_TZ=UTC'", wantKey: "jobs[0].schedule"},
		{name: "CRON_TZ unknown zone", job: "    schedule: 'CRON_TZ=Mars/Olympus 0 6 * * *'", wantKey: "jobs[0].schedule"},
		{name: "max_requests negative", job: "    max_requests: -1", wantKey: "jobs[0].max_requests"},
		{name: "max_duration negative", job: "    max_duration: -1m", wantKey: "jobs[0].max_duration"},
		{name: "unknown job key", job: "    description: x", wantKey: "description"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			daemon := tc.daemon
			if daemon == "" {
				daemon = "  listen: off"
			}
			raw := fmt.Sprintf(base, tc.atlas, tc.state, daemon, tc.job)
			_, err := Parse([]byte(raw), env(nil))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", raw)
			}
			if !strings.Contains(err.Error(), tc.wantKey) {
				t.Errorf("error %q does not name %s", err, tc.wantKey)
			}
		})
	}
}

func TestUnknownSourceTypeNamesKey(t *testing.T) {
	raw := "atlas: {token: t}\njobs:\n  - name: crm\n    source: {type: excel, path: a.xlsx}\n    mapping: {external_id: Id}\n"
	_, err := Parse([]byte(raw), env(nil))
	var fieldErr *FieldError
	if !errors.As(err, &fieldErr) || fieldErr.Key != "jobs[0].source.type" {
		t.Fatalf("err = %v, want a FieldError for jobs[0].source.type", err)
	}
	if !strings.Contains(err.Error(), "csv, postgres or salesforce") {
		t.Errorf("error %q does not list the source types", err)
	}
}
