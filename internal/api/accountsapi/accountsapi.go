// Package accountsapi serves what Twilio's SDKs call about the
// authenticated account: GET /2010-04-01/Accounts/{Sid}.json, and the
// secondary auth token's life at /v1/AuthTokens/Secondary and
// /v1/AuthTokens/Promote (Twilio's accounts host), so that a token can be
// rotated without downtime. Creating accounts stays on the command line.
package accountsapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/api/twilio"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/store"
)

// Store reads and changes accounts.
type Store interface {
	Account(ctx context.Context, sid string) (account.Account, error)
	AccountTokenSealed(ctx context.Context, sid string) ([]byte, error)
	account.TokenStore
}

// Keys seal and open auth tokens (keyring.Keys).
type Keys interface {
	Seal(id string, plain []byte) []byte
	Open(id string, sealed []byte) ([]byte, error)
}

// Config configures the routes.
type Config struct {
	Store Store
	Keys  Keys
	// Auth is this node's token cache, refreshed at once after a change
	// (the other nodes' within their watch interval).
	Auth *account.Authenticator
	// Audit, if set, records each change of a token (never the token).
	Audit *audit.Log
	Clock otpgate.Clock
}

// audited records a change of the account's tokens.
func (h handlers) audited(r *http.Request, action string) {
	if h.cfg.Audit != nil {
		sid := api.Account(r)
		h.cfg.Audit.Record(r.Context(), api.Actor(r), audit.Entry{AccountSID: sid, Kind: audit.KindToken, Action: action, Target: sid})
	}
}

// v1 is the dialect of Twilio's v1 APIs.
var v1 = &api.Dialect{Noun: "parameter"}

// Register adds the routes.
func Register(s *api.Server, cfg Config) {
	if cfg.Clock == nil {
		cfg.Clock = otpgate.SystemClock{}
	}
	h := handlers{cfg}
	s.Authenticated("GET /2010-04-01/Accounts/{AccountSid}", twilio.Dialect, h.fetch)
	s.Authenticated("POST /v1/AuthTokens/Secondary", v1, h.createSecondary)
	s.Authenticated("DELETE /v1/AuthTokens/Secondary", v1, h.deleteSecondary)
	s.Authenticated("POST /v1/AuthTokens/Promote", v1, h.promote)
}

type handlers struct{ cfg Config }

func (h handlers) fetch(w http.ResponseWriter, r *http.Request) error {
	sid := strings.TrimSuffix(r.PathValue("AccountSid"), ".json")
	if sid != api.Account(r) {
		return otpgate.Errorf(otpgate.KindForbidden, otpgate.CodeForbidden,
			"The authenticated account %s cannot read account %s; use your own account SID in the path", api.Account(r), sid)
	}
	a, err := h.cfg.Store.Account(r.Context(), sid)
	if err != nil {
		return err
	}
	created := a.CreatedAt.UTC().Format(time.RFC1123Z)
	uri := "/2010-04-01/Accounts/" + a.SID
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"sid": a.SID, "owner_account_sid": a.SID, "friendly_name": a.Name, "status": "active", "type": "Full",
		"date_created": created, "date_updated": created, "auth_token": nil, "uri": uri + ".json",
		"subresource_uris": map[string]string{"messages": uri + "/Messages.json"},
	})
	return nil
}

func (h handlers) createSecondary(w http.ResponseWriter, r *http.Request) error {
	sid := api.Account(r)
	now := h.cfg.Clock.Now().UTC()
	token, err := account.CreateSecondary(r.Context(), h.cfg.Store, h.cfg.Keys, sid, now)
	if err != nil {
		return err
	}
	h.cfg.Auth.Refresh(r.Context())
	h.audited(r, "create_secondary")
	api.WriteJSON(w, http.StatusCreated, map[string]any{
		"account_sid": sid, "secondary_auth_token": token, "date_created": now.Format(time.RFC3339), "date_updated": now.Format(time.RFC3339),
		"url": "https://accounts.twilio.com/v1/AuthTokens/Secondary",
	})
	return nil
}

func noSecondary(sid string) error {
	return otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound,
		"Account %s has no secondary auth token; create one with POST /v1/AuthTokens/Secondary", sid)
}

func (h handlers) deleteSecondary(w http.ResponseWriter, r *http.Request) error {
	sid := api.Account(r)
	err := h.cfg.Store.DeleteSecondaryToken(r.Context(), sid)
	if errors.Is(err, store.ErrNotFound) {
		return noSecondary(sid)
	} else if err != nil {
		return err
	}
	h.cfg.Auth.Refresh(r.Context())
	h.audited(r, "delete_secondary")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// promote makes the secondary token the primary: the old primary stops
// working at once on this node, within a quarter second on the others;
// status callbacks are signed with the new one from now on.
func (h handlers) promote(w http.ResponseWriter, r *http.Request) error {
	sid := api.Account(r)
	err := h.cfg.Store.PromoteSecondaryToken(r.Context(), sid)
	if errors.Is(err, store.ErrNotFound) {
		return noSecondary(sid)
	} else if err != nil {
		return err
	}
	h.cfg.Auth.Refresh(r.Context())
	h.audited(r, "promote_secondary")
	var token any
	if sealed, err := h.cfg.Store.AccountTokenSealed(r.Context(), sid); err == nil && len(sealed) > 0 {
		if plain, err := h.cfg.Keys.Open(account.TokenAAD(sid), sealed); err == nil {
			token = string(plain)
		}
	}
	now := h.cfg.Clock.Now().UTC().Format(time.RFC3339)
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"account_sid": sid, "auth_token": token, "date_created": now, "date_updated": now,
		"url": "https://accounts.twilio.com/v1/AuthTokens",
	})
	return nil
}
