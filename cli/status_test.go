package cli

import (
	"testing"
	"time"
)

func TestNextRunFromSchedule(t *testing.T) {
	at := func(value string) time.Time {
		parsed, err := time.Parse(time.RFC3339Nano, value)
		if err != nil {
			t.Fatal(err)
		}
		return parsed
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("time zone data not installed:", err)
	}
	tests := []struct {
		name      string
		spec      string
		location  *time.Location
		now       string
		lastStart string
		want      string // "" when the next time is unknown
	}{
		{"no schedule", "", time.UTC, "2025-01-01T05:00:00Z", "", ""},
		{"five fields in the daemon zone", "0 6 * * *", berlin, "2025-01-01T04:00:00Z", "", "2025-01-01T05:00:00Z"},
		{"CRON_TZ overrides the daemon zone", "CRON_TZ=Europe/Berlin 0 6 * * *", time.UTC, "2025-01-01T04:00:00Z", "", "2025-01-01T05:00:00Z"},
		{"descriptor", "@hourly", time.UTC, "2025-01-01T04:10:00Z", "", "2025-01-01T05:00:00Z"},
		{"every without a run", "@every 15m", time.UTC, "2025-01-01T10:20:00Z", "", ""},
		{"every after a run", "@every 15m", time.UTC, "2025-01-01T10:20:00Z", "2025-01-01T10:00:00.004Z", "2025-01-01T10:30:00Z"},
		{"every after skipped ticks", "@every 15m", time.UTC, "2025-01-01T11:01:00Z", "2025-01-01T10:00:00.004Z", "2025-01-01T11:15:00Z"},
		{"every second", "@every 1s", time.UTC, "2025-01-01T10:00:00.7Z", "2025-01-01T10:00:00.5Z", "2025-01-01T10:00:01Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lastStart time.Time
			if tt.lastStart != "" {
				lastStart = at(tt.lastStart)
			}
			got, ok := nextRun(tt.spec, tt.location, at(tt.now), lastStart)
			if tt.want == "" {
				if ok {
					t.Errorf("next run = %s, want unknown", got)
				}
				return
			}
			if !ok {
				t.Fatalf("next run unknown, want %s", tt.want)
			}
			if want := at(tt.want); !got.Equal(want) {
				t.Errorf("next run = %s, want %s", got.UTC().Format(time.RFC3339Nano), tt.want)
			}
		})
	}
}
