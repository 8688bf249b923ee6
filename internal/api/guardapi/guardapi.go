// Package guardapi serves what an account may do about its own abuse
// controls, with its SID and auth token: read where it may send and narrow
// it within the ceiling the operator set (/guard/countries), read its
// pumping-guard blocks (/guard/blocks; lifting one is the operator's), and
// keep a safe list of whole numbers (/guard/safe, and Twilio's Verify Safe
// List API at /v2/SafeList/Numbers, which the SDKs call). Every change goes
// through guard.Admin, which refuses what the account may not do and
// records each change and each refusal in the audit log.
package guardapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/api/restcomm2fa"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/store"
)

// Admin changes the abuse controls (guard.Admin).
type Admin interface {
	Countries(ctx context.Context, actor audit.Actor, sid string) (ceiling, own, effective string, err error)
	SetCountries(ctx context.Context, actor audit.Actor, sid, service, countries string) error
	Blocks(ctx context.Context, actor audit.Actor, sid string) ([]guardstate.Block, error)
	Lift(ctx context.Context, actor audit.Actor, sid, key string) (guardstate.Block, error)
	SafeList(ctx context.Context, actor audit.Actor, sid string) ([]string, error)
	AddSafe(ctx context.Context, actor audit.Actor, sid, raw string) (string, bool, error)
	RemoveSafe(ctx context.Context, actor audit.Actor, sid, raw string) (string, error)
	SafeNumber(raw string) (string, error)
}

var _ Admin = (*guard.Admin)(nil)

// safeListDialect is Twilio Verify's, for its Safe List API.
var safeListDialect = &api.Dialect{
	Noun: "parameter",
	Field: func(domain string) string {
		if domain == "phone_number" {
			return "PhoneNumber"
		}
		return strings.ToUpper(domain[:1]) + domain[1:]
	},
}

// Register adds the routes. guardOn says whether the pumping guard runs
// (its blocks and safe list exist).
func Register(s *api.Server, a Admin, guardOn bool) {
	h := handlers{a}
	s.Authenticated("GET /guard/countries", restcomm2fa.Dialect, h.countries)
	s.Authenticated("POST /guard/countries", restcomm2fa.Dialect, h.setCountries)
	if !guardOn {
		return
	}
	s.Authenticated("GET /guard/blocks", restcomm2fa.Dialect, h.blocks)
	s.Authenticated("DELETE /guard/blocks/{key...}", restcomm2fa.Dialect, h.lift)
	s.Authenticated("GET /guard/safe", restcomm2fa.Dialect, h.safe)
	s.Authenticated("POST /guard/safe", restcomm2fa.Dialect, h.addSafe)
	s.Authenticated("DELETE /guard/safe/{entry...}", restcomm2fa.Dialect, h.removeSafe)
	s.Authenticated("POST /v2/SafeList/Numbers", safeListDialect, h.twilioAdd)
	s.Authenticated("GET /v2/SafeList/Numbers/{PhoneNumber}", safeListDialect, h.twilioFetch)
	s.Authenticated("DELETE /v2/SafeList/Numbers/{PhoneNumber}", safeListDialect, h.twilioRemove)
}

type handlers struct{ a Admin }

func (h handlers) countries(w http.ResponseWriter, r *http.Request) error {
	ceiling, own, eff, err := h.a.Countries(r.Context(), api.Actor(r), api.Account(r))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"countries": eff, "default": own == "", "ceiling": ceiling})
	return nil
}

func (h handlers) setCountries(w http.ResponseWriter, r *http.Request) error {
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	if !f.Has("countries") {
		return otpgate.FieldError("countries", otpgate.MissingField, ": ISO 3166-1 codes, comma-separated (JO,SA), within the account's ceiling; or default for all of it")
	}
	countries := strings.TrimSpace(f.Get("countries"))
	if strings.EqualFold(countries, "default") {
		countries = ""
	} else if countries, err = policy.ParseCountries(countries); err != nil {
		return otpgate.FieldError("countries", otpgate.InvalidField, " %q: %v; or default", f.Get("countries"), err)
	}
	account, service := api.Account(r), f.Get("service")
	err = h.a.SetCountries(r.Context(), api.Actor(r), account, service, countries)
	if errors.Is(err, store.ErrNotFound) && service != "" {
		return otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "No service %q in this account: it is made by its first code", service)
	} else if err != nil {
		return err
	}
	if service != "" {
		to := countries
		if to == "" {
			to = "the account's countries"
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"service": service, "countries": countries, "sends_to": to})
		return nil
	}
	return h.countries(w, r)
}

func (h handlers) blocks(w http.ResponseWriter, r *http.Request) error {
	bs, err := h.a.Blocks(r.Context(), api.Actor(r), api.Account(r))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"blocks": guard.BlockViews(bs)})
	return nil
}

// lift is refused for an account (guard.Admin says who can lift a block);
// the route stays so that the refusal says so, and is audited.
func (h handlers) lift(w http.ResponseWriter, r *http.Request) error {
	b, err := h.a.Lift(r.Context(), api.Actor(r), api.Account(r), r.PathValue("key"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, guard.BlockView(b))
	return nil
}

func (h handlers) safe(w http.ResponseWriter, r *http.Request) error {
	return h.safeList(w, r, http.StatusOK)
}

func (h handlers) safeList(w http.ResponseWriter, r *http.Request, status int) error {
	entries, err := h.a.SafeList(r.Context(), api.Actor(r), api.Account(r))
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []string{}
	}
	api.WriteJSON(w, status, map[string]any{"safe": entries})
	return nil
}

func (h handlers) addSafe(w http.ResponseWriter, r *http.Request) error {
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	raw := f.Get("phone_number")
	if !f.Has("phone_number") {
		raw = f.Get("entry") // its name before safe lists took whole numbers only
	}
	if _, _, err := h.a.AddSafe(r.Context(), api.Actor(r), api.Account(r), raw); err != nil {
		return err
	}
	return h.safeList(w, r, http.StatusCreated)
}

func (h handlers) removeSafe(w http.ResponseWriter, r *http.Request) error {
	raw := r.PathValue("entry")
	if _, err := h.a.RemoveSafe(r.Context(), api.Actor(r), api.Account(r), raw); errors.Is(err, store.ErrNotFound) {
		return otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "%s is not on this account's safe list", raw)
	} else if err != nil {
		return err
	}
	return h.safeList(w, r, http.StatusOK)
}

// safeNumberJSON is a safe-list number as Twilio's API shows it.
type safeNumberJSON struct {
	SID         string `json:"sid"`
	PhoneNumber string `json:"phone_number"`
	URL         string `json:"url"`
}

// safeSID names an account's safe number as Twilio does ("GN" and 32 hex
// characters): the same for the same account and number, always.
func safeSID(account, e164 string) string {
	h := sha256.Sum256([]byte("otpgate safe list\x00" + account + "\x00" + e164))
	return "GN" + hex.EncodeToString(h[:16])
}

func safeNumber(r *http.Request, e164 string) safeNumberJSON {
	return safeNumberJSON{SID: safeSID(api.Account(r), e164), PhoneNumber: e164,
		URL: api.BaseURL(r) + "/v2/SafeList/Numbers/" + url.PathEscape(e164)}
}

func (h handlers) twilioAdd(w http.ResponseWriter, r *http.Request) error {
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	raw := f.Get("PhoneNumber")
	if !f.Has("PhoneNumber") {
		raw = f.Get("phone_number")
	}
	e164, _, err := h.a.AddSafe(r.Context(), api.Actor(r), api.Account(r), raw)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, safeNumber(r, e164))
	return nil
}

func notOnList(raw string) error {
	return otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "The requested resource /SafeList/Numbers/%s was not found", raw)
}

func (h handlers) twilioFetch(w http.ResponseWriter, r *http.Request) error {
	raw := r.PathValue("PhoneNumber")
	e164, err := h.a.SafeNumber(raw)
	if err != nil {
		return notOnList(raw)
	}
	list, err := h.a.SafeList(r.Context(), api.Actor(r), api.Account(r))
	if err != nil {
		return err
	}
	for _, e := range list {
		if e == e164 {
			api.WriteJSON(w, http.StatusOK, safeNumber(r, e164))
			return nil
		}
	}
	return notOnList(raw)
}

func (h handlers) twilioRemove(w http.ResponseWriter, r *http.Request) error {
	raw := r.PathValue("PhoneNumber")
	if _, err := h.a.RemoveSafe(r.Context(), api.Actor(r), api.Account(r), raw); errors.Is(err, store.ErrNotFound) {
		return notOnList(raw)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
