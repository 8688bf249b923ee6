package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/otpgate/otpgate/internal/store"
)

// What a restart, a crash or an exhausted server sends is an outage (503,
// retried by the dispatcher); what says the request was wrong is not.
func TestUnavailableClassifies(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{&pgconn.PgError{Severity: "FATAL", Code: "57P03", Message: "the database system is starting up"}, true},
		{&pgconn.PgError{Severity: "FATAL", Code: "53300", Message: "sorry, too many clients already"}, true},
		{&pgconn.PgError{Severity: "FATAL", Code: "08006", Message: "connection failure"}, true},
		{fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Err: errors.New("connection refused")}), true},
		{&pgconn.PgError{Severity: "ERROR", Code: "23505", Message: "duplicate key value violates unique constraint"}, false},
		{&pgconn.PgError{Severity: "ERROR", Code: "42P01", Message: "relation does not exist"}, false},
		{context.Canceled, false},
		{store.ErrNotFound, false},
	} {
		if got := errors.Is(unavailable(c.err), store.ErrUnavailable); got != c.want {
			t.Errorf("unavailable(%v) is an outage: %v, want %v", c.err, got, c.want)
		}
	}
}
