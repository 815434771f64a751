package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// applicationID marks the file as atlas-sync's in the SQLite header
// (PRAGMA application_id): the bytes "ATLS".
const applicationID = 0x41544c53

// migration is one schema step. Each runs in its own transaction together
// with the schema_version row that records it, so a crash leaves the file
// at the previous or the next version, never between.
type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations returns the schema steps in order. Append new steps; never
// edit one that has shipped, because files in the field already ran it.
//
// Time columns are Unix seconds (checkpoint.sent_at, schema_version,
// jobs.created_at) or Unix milliseconds (rejected.at, runs.started,
// runs.finished), as noted on each column.
func migrations() []migration {
	return []migration{
		{
			version: 1,
			name:    "create checkpoint, rejected, jobs and runs",
			stmts: []string{
				fmt.Sprintf("PRAGMA application_id = %d", applicationID),
				`CREATE TABLE schema_version (
					version    INTEGER PRIMARY KEY,
					name       TEXT    NOT NULL,
					applied_at INTEGER NOT NULL -- Unix seconds
				)`,
				`CREATE TABLE jobs (
					id             INTEGER PRIMARY KEY,
					name           TEXT    NOT NULL UNIQUE,
					cursor         TEXT    NOT NULL DEFAULT '',
					completed_runs INTEGER NOT NULL DEFAULT 0, -- runs finished ok or partial, kept when history is pruned
					created_at     INTEGER NOT NULL            -- Unix seconds
				)`,
				// One row per account that Atlas acknowledged. WITHOUT ROWID
				// stores the row in the primary-key B-tree itself, which
				// saves a second index on (job_id, external_id).
				`CREATE TABLE checkpoint (
					job_id      INTEGER NOT NULL REFERENCES jobs (id),
					external_id TEXT    NOT NULL,
					hash        BLOB    NOT NULL CHECK (length(hash) = 16),
					atlas_id    TEXT,             -- NULL when Atlas did not return an ID
					sent_at     INTEGER NOT NULL, -- Unix seconds
					PRIMARY KEY (job_id, external_id)
				) WITHOUT ROWID`,
				`CREATE TABLE rejected (
					job_id      INTEGER NOT NULL REFERENCES jobs (id),
					external_id TEXT    NOT NULL,
					hash        BLOB    NOT NULL CHECK (length(hash) = 16),
					status      INTEGER NOT NULL, -- HTTP status of the rejection
					message     TEXT    NOT NULL,
					position    TEXT    NOT NULL, -- source position, such as file:line
					at          INTEGER NOT NULL, -- Unix milliseconds
					PRIMARY KEY (job_id, external_id)
				) WITHOUT ROWID`,
				`CREATE TABLE runs (
					id       INTEGER PRIMARY KEY,
					job_id   INTEGER NOT NULL REFERENCES jobs (id),
					mode     TEXT    NOT NULL,
					started  INTEGER NOT NULL, -- Unix milliseconds
					finished INTEGER,          -- Unix milliseconds; NULL while running and for interrupted runs
					outcome  TEXT    NOT NULL,
					counts   TEXT    NOT NULL, -- JSON object with the fields of Counts
					error    TEXT    NOT NULL DEFAULT ''
				)`,
				`CREATE INDEX runs_by_job ON runs (job_id, id)`,
				`CREATE INDEX runs_running ON runs (outcome) WHERE outcome = 'running'`,
			},
		},
		{
			version: 2,
			name:    "create full_passes",
			stmts: []string{
				// One row per job whose last full pass has not finished.
				// Rows acknowledged or rejected at or after started belong
				// to the pass, so a resumed pass skips them.
				`CREATE TABLE full_passes (
					job_id  INTEGER PRIMARY KEY REFERENCES jobs (id),
					run_id  INTEGER NOT NULL, -- the run that started the pass
					started INTEGER NOT NULL  -- Unix seconds, compared with checkpoint.sent_at
				)`,
			},
		},
		{
			version: 3,
			name:    "create index_snapshots and index_changes",
			stmts:   indexSnapshotSchema(),
		},
	}
}

// latestVersion is the schema version this binary creates and migrates to.
func latestVersion() int {
	steps := migrations()
	return steps[len(steps)-1].version
}

// inspect checks that the database is empty or atlas-sync's, and returns
// its schema version (0 for an empty database). It reads only.
func inspect(ctx context.Context, db *sql.DB, path string) (int, error) {
	var appID int64
	if err := db.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return 0, classifyOpenError(path, err)
	}
	var objects int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&objects); err != nil {
		return 0, classifyOpenError(path, err)
	}

	if appID != 0 && appID != applicationID {
		return 0, fmt.Errorf("state file %s: %w: its application_id is 0x%08x; set state.path to another file",
			path, ErrNotStateFile, uint32(appID))
	}
	if objects == 0 {
		return 0, nil
	}
	if appID == 0 {
		return 0, fmt.Errorf("state file %s: %w: it contains tables but lacks the atlas-sync application_id; "+
			"set state.path to another file", path, ErrNotStateFile)
	}

	var version int
	err := db.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&version)
	if err != nil {
		return 0, corruptError(path, fmt.Sprintf("read schema version: %v", err))
	}
	if latest := latestVersion(); version > latest {
		return 0, fmt.Errorf("state file %s: %w: the file has version %d and this atlas-sync supports up to %d; "+
			"upgrade atlas-sync, or set state.path to another file", path, ErrNewerSchema, version, latest)
	}
	return version, nil
}

// migrate applies the migrations that the file has not seen yet.
func migrate(ctx context.Context, db *sql.DB, path string, logger *zap.Logger) error {
	current, err := inspect(ctx, db, path)
	if err != nil {
		return err
	}
	for _, step := range migrations() {
		if step.version <= current {
			continue
		}
		if err := applyMigration(ctx, db, step); err != nil {
			return fmt.Errorf("migrate state file %s to schema version %d (%s): %w", path, step.version, step.name, err)
		}
		logger.Info("applied state schema migration",
			zap.Int("version", step.version), zap.String("migration", step.name))
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, step migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	for _, stmt := range step.stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx,
		"INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
		step.version, step.name, time.Now().Unix())
	if err != nil {
		return err
	}
	return tx.Commit()
}
