package sync

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/atlas-sync/atlas-sync/state"
)

// commitTimeout bounds one checkpoint transaction. It applies even after
// the run's context is done, so that the last acknowledged rows are
// recorded during a shutdown.
const commitTimeout = 30 * time.Second

// writeCheckpoint is the single owner of checkpoint writes in a run. It
// receives deliveries until the channel closes and commits them in batches
// of Settings.BatchSize, or after Settings.FlushInterval at the latest. A
// failed commit stops the run: the rows of that batch were acknowledged by
// Atlas but are not recorded, so the next run sends them again, which the
// upsert's idempotency makes harmless.
func (r *run) writeCheckpoint(ctx context.Context, deliveries <-chan delivery, stopReading context.CancelFunc) error {
	settings := r.e.settings
	ticker := time.NewTicker(settings.FlushInterval)
	defer ticker.Stop()

	var (
		acks       []state.Ack
		rejections []state.Rejection
		commitErr  error
	)
	flush := func() {
		if len(acks) == 0 && len(rejections) == 0 {
			return
		}
		if commitErr == nil {
			commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
			err := r.e.store.Record(commitCtx, r.job.Name, acks, rejections)
			cancel()
			if err != nil {
				commitErr = fmt.Errorf("record %d acknowledged rows in the checkpoint: %w", len(acks)+len(rejections), err)
				stopReading()
			}
		}
		acks = acks[:0]
		rejections = rejections[:0]
	}

	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				flush()
				return commitErr
			}
			r.collect(d, &acks, &rejections)
			if len(acks)+len(rejections) >= settings.BatchSize {
				flush()
			}
		case <-ticker.C:
			flush()
		}
	}
}

// collect counts a delivery and appends it to the pending batch.
func (r *run) collect(d delivery, acks *[]state.Ack, rejections *[]state.Rejection) {
	if d.rejected {
		r.counts.rejected.Add(1)
		r.logRowError("atlas rejected the row", fmt.Errorf("%s: externalId %q: status %d: %s", d.item.position, d.item.payload.ExternalID, d.status, d.message))
		*rejections = append(*rejections, state.Rejection{
			ExternalID: d.item.payload.ExternalID,
			Hash:       d.item.payload.Hash,
			Status:     d.status,
			Message:    d.message,
			Position:   d.item.position,
			At:         d.at,
		})
		return
	}

	r.counts.sent.Add(1)
	if d.created != nil {
		if *d.created {
			r.counts.created.Add(1)
		} else {
			r.counts.updated.Add(1)
		}
	}
	r.log.Debug("row sent", zap.String("external_id", d.item.payload.ExternalID), zap.String("position", d.item.position))
	*acks = append(*acks, state.Ack{
		ExternalID: d.item.payload.ExternalID,
		Hash:       d.item.payload.Hash,
		AtlasID:    d.atlasID,
		SentAt:     d.at,
	})
}
