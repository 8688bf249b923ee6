package twofa

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/store"
)

// Guard is the SMS-pumping guard as its API sees it (guard.Pumping).
type Guard interface {
	Blocks(ctx context.Context, accountSID string) ([]store.GuardBlock, error)
	Lift(ctx context.Context, accountSID, key string) (store.GuardBlock, error)
	SafeList(ctx context.Context, accountSID string) ([]string, error)
	SetSafe(ctx context.Context, accountSID string, add, remove []string) error
}

// Geo reads and sets geo permissions (guard.GeoAdmin).
type Geo interface {
	Countries(ctx context.Context, accountSID string) (own, effective string, err error)
	SetAccountCountries(ctx context.Context, accountSID, countries string) error
	SetServiceCountries(ctx context.Context, accountSID, service, countries string) error
}

// RegisterGeo adds GET /guard/countries (where the account may send) and
// POST /guard/countries (set it, or a service's own list).
func RegisterGeo(s *api.Server, g Geo) {
	h := geoHandlers{g}
	s.Authenticated("GET /guard/countries", Dialect, h.get)
	s.Authenticated("POST /guard/countries", Dialect, h.set)
}

type geoHandlers struct{ g Geo }

func (h geoHandlers) get(w http.ResponseWriter, r *http.Request) error {
	own, eff, err := h.g.Countries(r.Context(), api.Account(r))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"countries": eff, "default": own == ""})
	return nil
}

func (h geoHandlers) set(w http.ResponseWriter, r *http.Request) error {
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	if !f.Has("countries") {
		return otpgate.FieldError("countries", otpgate.MissingField, ": ISO 3166-1 codes, comma-separated (JO,SA), * for any country, or default")
	}
	countries := strings.TrimSpace(f.Get("countries"))
	if strings.EqualFold(countries, "default") {
		countries = ""
	} else if countries, err = guard.ParseCountries(countries); err != nil {
		return otpgate.FieldError("countries", otpgate.InvalidField, " %q: %v; or * for any country, or default", f.Get("countries"), err)
	}
	account := api.Account(r)
	if service := f.Get("service"); service != "" {
		err := h.g.SetServiceCountries(r.Context(), account, service, countries)
		if errors.Is(err, store.ErrNotFound) {
			return otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "No service %q in this account: it is made by its first code", service)
		} else if err != nil {
			return err
		}
		to := countries
		if to == "" {
			to = "the account's countries"
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"service": service, "countries": countries, "sends_to": to})
		return nil
	}
	if err := h.g.SetAccountCountries(r.Context(), account, countries); err != nil {
		return err
	}
	return h.get(w, r)
}

// RegisterGuard adds the pumping guard's routes: GET /guard/blocks lists
// the account's blocks in force with the figures behind each, DELETE
// /guard/blocks/{key} lifts one; GET, POST /guard/safe and DELETE
// /guard/safe/{entry} read and change the account's safe list.
func RegisterGuard(s *api.Server, g Guard) {
	h := guardHandlers{g}
	s.Authenticated("GET /guard/blocks", Dialect, h.blocks)
	s.Authenticated("DELETE /guard/blocks/{key...}", Dialect, h.lift)
	s.Authenticated("GET /guard/safe", Dialect, h.safe)
	s.Authenticated("POST /guard/safe", Dialect, h.addSafe)
	s.Authenticated("DELETE /guard/safe/{entry...}", Dialect, h.removeSafe)
}

type guardHandlers struct{ g Guard }

// blockJSON is a block as the API shows it.
type blockJSON struct {
	Key           string  `json:"key"`  // "prefix:+96279031", "operator:JO:Zain", "country:JO"
	Kind          string  `json:"kind"` // prefix, operator, country
	Value         string  `json:"value"`
	Sends         int     `json:"sends"`
	Approvals     int     `json:"approvals"`
	Conversion    float64 `json:"conversion"`
	WindowSeconds int     `json:"window_seconds"`
	Since         string  `json:"since"`
	Until         string  `json:"until"`
	Level         int     `json:"level"`
	Reason        string  `json:"reason"`
}

func newBlockJSON(b store.GuardBlock) blockJSON {
	kind, value, _ := strings.Cut(b.Key, ":")
	out := blockJSON{
		Key: b.Key, Kind: kind, Value: value, Sends: b.Sends, Approvals: b.Approvals,
		WindowSeconds: int(b.Window.Seconds()), Since: rfc3339(b.Since), Until: rfc3339(b.Until), Level: b.Level, Reason: b.Reason,
	}
	if b.Sends > 0 {
		out.Conversion = float64(b.Approvals) / float64(b.Sends)
	}
	return out
}

func (h guardHandlers) blocks(w http.ResponseWriter, r *http.Request) error {
	bs, err := h.g.Blocks(r.Context(), api.Account(r))
	if err != nil {
		return err
	}
	out := make([]blockJSON, len(bs))
	for i, b := range bs {
		out[i] = newBlockJSON(b)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"blocks": out})
	return nil
}

// GuardKey reads a block's key as a client writes it: a prefix ("+96279031"
// or "prefix:+96279031"), "operator:JO:Zain" or "country:JO".
func GuardKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "+") {
		s = "prefix:" + s
	}
	kind, v, _ := strings.Cut(s, ":")
	ok := v != "" && len(s) <= 80
	switch kind {
	case "prefix":
		ok = ok && validEntry(v)
	case "operator", "country":
	default:
		ok = false
	}
	if !ok {
		return "", otpgate.FieldError("key", otpgate.InvalidField,
			" %q: a block's key is a prefix (+96279031), operator:JO:Zain or country:JO, as GET /guard/blocks lists it", s)
	}
	return s, nil
}

// validEntry accepts a number or a prefix of one in E.164: "+" and 4 to 15
// digits.
func validEntry(s string) bool {
	if len(s) < 5 || len(s) > 16 || s[0] != '+' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (h guardHandlers) lift(w http.ResponseWriter, r *http.Request) error {
	key, err := GuardKey(r.PathValue("key"))
	if err != nil {
		return err
	}
	b, err := h.g.Lift(r.Context(), api.Account(r), key)
	if errors.Is(err, store.ErrNotFound) {
		return otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "No block of %s is in force; GET /guard/blocks lists those that are", key)
	} else if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, newBlockJSON(b))
	return nil
}

func (h guardHandlers) safe(w http.ResponseWriter, r *http.Request) error {
	entries, err := h.g.SafeList(r.Context(), api.Account(r))
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []string{}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"safe": entries})
	return nil
}

func safeEntry(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", otpgate.FieldError("entry", otpgate.MissingField, ": a number or a prefix in E.164, like +962790312345 or +96279031")
	}
	if !validEntry(s) {
		return "", otpgate.FieldError("entry", otpgate.InvalidField, " %q: a number or a prefix in E.164 is + and 4 to 15 digits, like +962790312345 or +96279031", s)
	}
	return s, nil
}

func (h guardHandlers) addSafe(w http.ResponseWriter, r *http.Request) error {
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	e, err := safeEntry(f.Get("entry"))
	if err != nil {
		return err
	}
	if err := h.g.SetSafe(r.Context(), api.Account(r), []string{e}, nil); err != nil {
		return err
	}
	return h.safeAfter(w, r, http.StatusCreated)
}

func (h guardHandlers) removeSafe(w http.ResponseWriter, r *http.Request) error {
	e, err := safeEntry(r.PathValue("entry"))
	if err != nil {
		return err
	}
	if err := h.g.SetSafe(r.Context(), api.Account(r), nil, []string{e}); err != nil {
		return err
	}
	return h.safeAfter(w, r, http.StatusOK)
}

func (h guardHandlers) safeAfter(w http.ResponseWriter, r *http.Request, status int) error {
	entries, err := h.g.SafeList(r.Context(), api.Account(r))
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []string{}
	}
	api.WriteJSON(w, status, map[string]any{"safe": entries})
	return nil
}
