package postgres

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLSTATE codes the source explains in its errors.
const (
	sqlstateQueryCanceled         = "57014" // statement_timeout, or a cancel request
	sqlstateAdminShutdown         = "57P01" // pg_terminate_backend, server shutdown
	sqlstateIdleInTransaction     = "25P03" // idle_in_transaction_session_timeout
	sqlstateInvalidPassword       = "28P01"
	sqlstateInvalidAuthorization  = "28000"
	sqlstateUndefinedTable        = "42P01"
	sqlstateInsufficientPrivilege = "42501"
)

// redactedError hides a password that the wrapped error's text might
// contain. errors.Is and errors.As still see the wrapped error.
type redactedError struct {
	err     error
	message string
}

func (e *redactedError) Error() string { return e.message }
func (e *redactedError) Unwrap() error { return e.err }

// redact replaces password in err's text with "xxxxx". In pgx v5.13.0,
// ConnectError names user, database and address but not the password, and
// ParseConfigError masks it. redact guards the messages of other layers.
// A password that also appears in the user, host or database name is left
// alone, because replacing it would hide those names.
func redact(err error, peer endpoint) error {
	password := peer.password
	if err == nil || password == "" {
		return err
	}
	if strings.Contains(peer.user, password) || strings.Contains(peer.address, password) || strings.Contains(peer.database, password) {
		return err
	}
	message := err.Error()
	if !strings.Contains(message, password) {
		return err
	}
	return &redactedError{err: err, message: strings.ReplaceAll(message, password, "xxxxx")}
}

// explain adds what to do next to the errors that people meet in practice.
func explain(err error, statementTimeout time.Duration) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case sqlstateQueryCanceled:
		if strings.Contains(pgErr.Message, "statement timeout") {
			return fmt.Errorf("the statement timed out after %s; raise source.statement_timeout or make the query faster: %w", statementTimeout, err)
		}
	case sqlstateAdminShutdown:
		return fmt.Errorf("the server ended the connection (pg_terminate_backend or a server shutdown); the next run starts over: %w", err)
	case sqlstateIdleInTransaction:
		return fmt.Errorf("the server ended the transaction because it was idle longer than idle_in_transaction_session_timeout while the run was sending; raise that setting for this user: %w", err)
	case sqlstateInvalidPassword, sqlstateInvalidAuthorization:
		return fmt.Errorf("authentication failed; check the user and password in the dsn: %w", err)
	case sqlstateUndefinedTable:
		return fmt.Errorf("the table does not exist or the user cannot see it: %w", err)
	case sqlstateInsufficientPrivilege:
		return fmt.Errorf("permission denied; grant the user SELECT on the table: %w", err)
	}
	return err
}
