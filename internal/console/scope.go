package console

import (
	"context"
	"fmt"
	"slices"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/operator"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// Roles. The operator's own token (no account) sees every account and may
// lift blocks; a token made for one account sees that account only and
// changes nothing. A page gets the store and the guard only through the
// session's scope, which leaves out every other account: a page cannot
// forget to.

// scope is the store and the guard as one signed-in session sees them.
type scope struct {
	st    Store
	admin Admin
	// account is the one account the session sees; "" for every one.
	account string
	actor   audit.Actor
}

// errUnseen is the answer about an account the session does not see: as if
// it did not exist.
var errUnseen = fmt.Errorf("console: not an account of this session: %w", store.ErrNotFound)

// sees reports whether the session may read the account's records.
func (s scope) sees(accountSID string) bool {
	return s.account == "" || s.account == accountSID
}

// everyAccount reports whether the session sees every account (the
// operator's own token).
func (s scope) everyAccount() bool { return s.account == "" }

// readOnly reports whether the session changes nothing (a token made for
// one account). Only a hint for the pages: guard.Admin decides, and audits
// a refused change.
func (s scope) readOnly() bool { return !s.actor.Operator() }

// accounts lists the accounts the session sees.
func (s scope) accounts(ctx context.Context) ([]account.Account, error) {
	all, err := s.st.Accounts(ctx)
	if err != nil || s.account == "" {
		return all, err
	}
	return slices.DeleteFunc(all, func(a account.Account) bool { return a.SID != s.account }), nil
}

func (s scope) accountOf(ctx context.Context, sid string) (account.Account, error) {
	if !s.sees(sid) {
		return account.Account{}, errUnseen
	}
	return s.st.Account(ctx, sid)
}

func (s scope) services(ctx context.Context, accountSID string) ([]verification.Service, error) {
	if !s.sees(accountSID) {
		return nil, errUnseen
	}
	return s.st.Services(ctx, accountSID)
}

func (s scope) message(ctx context.Context, accountSID, sid string) (message.Message, error) {
	if !s.sees(accountSID) {
		return message.Message{}, errUnseen
	}
	return s.st.Message(ctx, accountSID, sid)
}

func (s scope) messages(ctx context.Context, f message.Filter) ([]message.Message, error) {
	if !s.sees(f.AccountSID) {
		return nil, errUnseen
	}
	return s.st.Messages(ctx, f)
}

func (s scope) messageStats(ctx context.Context, q operator.StatsQuery) ([]operator.MessageStat, error) {
	if !s.sees(q.AccountSID) {
		return nil, errUnseen
	}
	return s.st.MessageStats(ctx, q)
}

func (s scope) verificationStats(ctx context.Context, q operator.StatsQuery) ([]operator.VerificationStat, error) {
	if !s.sees(q.AccountSID) {
		return nil, errUnseen
	}
	return s.st.VerificationStats(ctx, q)
}

func (s scope) senderStats(ctx context.Context, q operator.StatsQuery) ([]operator.SenderStat, error) {
	if !s.sees(q.AccountSID) {
		return nil, errUnseen
	}
	return s.st.SenderStats(ctx, q)
}

func (s scope) blocks(ctx context.Context, accountSID string) ([]guardstate.Block, error) {
	if !s.sees(accountSID) {
		return nil, errUnseen
	}
	return s.admin.Blocks(ctx, s.actor, accountSID)
}

// lift asks the guard to lift a block as the session's token: the guard
// refuses a token that may not (and records the refusal in the audit log).
func (s scope) lift(ctx context.Context, accountSID, key string) (guardstate.Block, error) {
	return s.admin.Lift(ctx, s.actor, accountSID, key)
}

// auditLog lists the audit log; a session of one account reads that
// account's entries only, whatever f asks.
func (s scope) auditLog(ctx context.Context, f audit.Filter) ([]audit.Row, error) {
	if s.account != "" {
		f.AccountSID = s.account
	}
	return s.st.AuditLog(ctx, f)
}
