package sync

import (
	"math"
	"testing"
	"time"

	"github.com/atlas-sync/atlas-sync/state"
)

func TestEstimateRemaining(t *testing.T) {
	tests := []struct {
		name       string
		progress   Progress
		notSending bool
		want       int64
	}{
		{
			name:     "read done: changes not yet answered",
			progress: Progress{ReadDone: true, Counts: state.Counts{Changed: 100, Sent: 60, Rejected: 5, Unsent: 5}},
			want:     30,
		},
		{
			name:     "a quarter read: changes so far scaled to the whole source",
			progress: Progress{Size: 4000, BytesRead: 1000, Counts: state.Counts{Changed: 50, Sent: 10}},
			want:     190,
		},
		{
			name:     "unknown size while reading",
			progress: Progress{Counts: state.Counts{Changed: 50, Sent: 10}},
			want:     -1,
		},
		{
			name:       "sending stopped by a budget",
			progress:   Progress{ReadDone: true, Counts: state.Counts{Changed: 100, Sent: 60}},
			notSending: true,
			want:       0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := estimateRemaining(tt.progress, tt.notSending); got != tt.want {
				t.Errorf("estimateRemaining = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestEstimateETA(t *testing.T) {
	tests := []struct {
		name     string
		progress Progress
		want     time.Duration
	}{
		{
			name:     "rate limit below the observed rate",
			progress: Progress{ReadDone: true, Remaining: 500, Limit: 5, SendRate: 8},
			want:     100 * time.Second,
		},
		{
			name:     "observed rate below the rate limit",
			progress: Progress{ReadDone: true, Remaining: 500, Limit: 50, SendRate: 10},
			want:     50 * time.Second,
		},
		{
			name:     "no sample yet: the rate limit",
			progress: Progress{ReadDone: true, Remaining: 100, Limit: 10},
			want:     10 * time.Second,
		},
		{
			name:     "reading takes longer than sending",
			progress: Progress{Size: 1000, BytesRead: 250, Elapsed: 10 * time.Second, Remaining: 10, Limit: 10},
			want:     30 * time.Second,
		},
		{
			name:     "no rate limit and nothing sent yet",
			progress: Progress{ReadDone: true, Remaining: 100, Limit: math.Inf(1)},
			want:     -1,
		},
		{
			name:     "remaining unknown",
			progress: Progress{Remaining: -1, Limit: 10},
			want:     -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := estimateETA(tt.progress); got != tt.want {
				t.Errorf("estimateETA = %s, want %s", got, tt.want)
			}
		})
	}
}
