// Package verifyv2 serves Twilio's Verify v2 API at /v2/..., with Twilio's
// JSON shapes, dates, paging and errors, so that code written against
// Twilio Verify (twilio-go, twilio-node, twilio-python with the base URL
// changed) works unchanged. Services are otpgate's 2FA services (a
// service's FriendlyName is its 2FA name), and a code sent through either
// API is checked through either.
package verifyv2

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
	"github.com/otpgate/otpgate/internal/verify"
)

// Dialect is Verify v2's: Twilio's capitalised parameter names, and Verify's
// codes (60200 for a bad parameter).
var Dialect = &api.Dialect{
	Noun: "parameter",
	Field: func(domain string) string {
		switch domain {
		case "service":
			return "FriendlyName"
		case "number":
			return "To"
		case "rate_limit_key":
			return "RateLimits"
		case "app_hash":
			return "AppHash"
		case "friendly_name":
			return "CustomFriendlyName"
		case "web_otp_domain":
			return "WebOtpDomain"
		case "custom_code":
			return "CustomCode"
		case "fallback_to":
			return "FallbackTo"
		case "fallback_channel":
			return "FallbackChannel"
		case "fallback_after":
			return "FallbackAfter"
		}
		return strings.ToUpper(domain[:1]) + domain[1:]
	},
}

// Store is what the dialect reads besides sends and checks.
type Store interface {
	ServiceBySID(ctx context.Context, sid string) (verification.Service, error)
	Services(ctx context.Context, accountSID string) ([]verification.Service, error)
	VerificationBySID(ctx context.Context, accountSID, sid string) (verification.Verification, error)
}

// Services makes, changes and deletes verification services
// (verify.Services, the one owner of their settings).
type Services interface {
	New(accountSID, name string) verification.Service
	Create(ctx context.Context, svc verification.Service) (_ verification.Service, created bool, err error)
	Update(ctx context.Context, accountSID, sid string, change func(*verification.Service) error) (before, after verification.Service, err error)
	Delete(ctx context.Context, accountSID, sid string) error
}

var _ Services = (*verify.Services)(nil)

// Config configures the routes.
type Config struct {
	Store    Store
	Services Services
	Verify   *verify.Service
	// Sender is the sender of codes where the destination's route has no
	// default_sender (Verify v2 requests name none); default "Verify".
	Sender string
	// URLs checks a service's EventsUrl (webhook.Policy); nil refuses any.
	URLs interface {
		ValidateURL(ctx context.Context, raw string) error
	}
	// Audit, if set, records each service made, changed or deleted.
	Audit *audit.Log
}

// audited records a change to a service.
func (h handlers) audited(r *http.Request, action string, before, after *verification.Service) {
	if h.cfg.Audit == nil {
		return
	}
	e := audit.Entry{AccountSID: api.Account(r), Kind: audit.KindService, Action: action}
	if before != nil {
		e.Target, e.Before = before.SID, audit.Service(*before)
	}
	if after != nil {
		e.Target, e.After = after.SID, audit.Service(*after)
	}
	h.cfg.Audit.Record(r.Context(), api.Actor(r), e)
}

// Register adds the Verify v2 routes.
func Register(s *api.Server, cfg Config) {
	if cfg.Sender == "" {
		cfg.Sender = "Verify"
	}
	h := handlers{cfg}
	s.Authenticated("POST /v2/Services", Dialect, h.createService)
	s.Authenticated("GET /v2/Services", Dialect, h.listServices)
	s.Authenticated("GET /v2/Services/{Sid}", Dialect, h.fetchService)
	s.Authenticated("POST /v2/Services/{Sid}", Dialect, h.updateService)
	s.Authenticated("DELETE /v2/Services/{Sid}", Dialect, h.deleteService)
	s.Authenticated("POST /v2/Services/{ServiceSid}/Verifications", Dialect, h.createVerification)
	s.Authenticated("GET /v2/Services/{ServiceSid}/Verifications/{Sid}", Dialect, h.fetchVerification)
	s.Authenticated("POST /v2/Services/{ServiceSid}/Verifications/{Sid}", Dialect, h.updateVerification)
	s.Authenticated("POST /v2/Services/{ServiceSid}/VerificationCheck", Dialect, h.check)
}

type handlers struct{ cfg Config }

// baseURL is this API's root as the client addressed it (its Host), so
// that the URLs in replies (paging's next_page_url) lead back here: to
// https://verify.twilio.com/v2 for an SDK whose transport redirects it, to
// otpgate's own address for one given another base URL.
func baseURL(r *http.Request) string { return api.BaseURL(r) + "/v2" }

func date(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// serviceJSON is a service as Twilio shows it.
type serviceJSON struct {
	SID                      string            `json:"sid"`
	AccountSID               string            `json:"account_sid"`
	FriendlyName             string            `json:"friendly_name"`
	CodeLength               int               `json:"code_length"`
	LookupEnabled            bool              `json:"lookup_enabled"`
	Psd2Enabled              bool              `json:"psd2_enabled"`
	SkipSmsToLandlines       bool              `json:"skip_sms_to_landlines"`
	DtmfInputRequired        bool              `json:"dtmf_input_required"`
	TtsName                  *string           `json:"tts_name"`
	DoNotShareWarningEnabled bool              `json:"do_not_share_warning_enabled"`
	CustomCodeEnabled        bool              `json:"custom_code_enabled"`
	DefaultTemplateSID       *string           `json:"default_template_sid"`
	DateCreated              string            `json:"date_created"`
	DateUpdated              string            `json:"date_updated"`
	URL                      string            `json:"url"`
	Links                    map[string]string `json:"links"`
	// otpgate's own settings.
	CodeTTLSeconds  int               `json:"code_ttl_seconds"`
	EventsURL       string            `json:"events_url"`
	Countries       string            `json:"countries"`
	Locale          string            `json:"locale"`
	LocaleByCountry bool              `json:"locale_by_country"`
	WebOtpDomain    string            `json:"web_otp_domain"`
	Templates       map[string]string `json:"templates"`
	FallbackChannel *string           `json:"fallback_channel"`
	FallbackAfter   int               `json:"fallback_after"`
}

func newServiceJSON(base string, svc verification.Service) serviceJSON {
	u := base + "/Services/" + svc.SID
	out := serviceJSON{
		SID: svc.SID, AccountSID: svc.AccountSID, FriendlyName: svc.Name, CodeLength: svc.CodeLength,
		DoNotShareWarningEnabled: svc.Texts.DoNotShare, CustomCodeEnabled: svc.Texts.CustomCode,
		DateCreated: date(svc.CreatedAt), DateUpdated: date(svc.CreatedAt), URL: u,
		Links:          map[string]string{"verifications": u + "/Verifications", "verification_checks": u + "/VerificationCheck"},
		CodeTTLSeconds: int(svc.TTL.Seconds()), EventsURL: svc.EventsURL, Countries: svc.Countries,
		Locale: cmp.Or(svc.Texts.Locale, "en"), LocaleByCountry: svc.Texts.ByCountry, WebOtpDomain: svc.Texts.WebOTPDomain,
		Templates: svc.Texts.Templates, FallbackAfter: int(svc.FallbackDelay().Seconds()),
	}
	if svc.FallbackChannel != "" {
		out.FallbackChannel = &svc.FallbackChannel
	}
	if out.Templates == nil {
		out.Templates = map[string]string{}
	}
	return out
}

// settings applies otpgate's other settings of a service's request:
// CodeTtlSeconds (60-86400), EventsUrl (where its verification events
// and SMS-pumping guard blocks are POSTed; empty for none), FallbackChannel
// (email or empty) and FallbackAfter (5-600 seconds).
func (h handlers) settings(ctx context.Context, f api.Fields, svc *verification.Service) error {
	if f.Has("CodeTtlSeconds") {
		n, err := strconv.Atoi(strings.TrimSpace(f.Get("CodeTtlSeconds")))
		ttl := time.Duration(n) * time.Second
		if err != nil || ttl < verification.MinTTL || ttl > verification.MaxTTL {
			return otpgate.FieldError("codeTtlSeconds", otpgate.InvalidField, " %q: seconds a code stays valid, %d-%d", f.Get("CodeTtlSeconds"),
				int(verification.MinTTL.Seconds()), int(verification.MaxTTL.Seconds()))
		}
		svc.TTL = ttl
	}
	if f.Has("EventsUrl") {
		u := strings.TrimSpace(f.Get("EventsUrl"))
		if u != "" {
			if h.cfg.URLs == nil {
				return otpgate.FieldError("eventsUrl", otpgate.InvalidField, ": this server takes no events URLs")
			}
			if err := h.cfg.URLs.ValidateURL(ctx, u); err != nil {
				return otpgate.FieldError("eventsUrl", otpgate.InvalidField, " %q: %v", u, err)
			}
		}
		svc.EventsURL = u
	}
	if err := verify.SetFallback(svc, optional(f, "FallbackChannel"), optional(f, "FallbackAfter")); err != nil {
		return err
	}
	return texts(f, &svc.Texts)
}

// optional is a parameter of the request, nil when it has none.
func optional(f api.Fields, name string) *string {
	if !f.Has(name) {
		return nil
	}
	v := f.Get(name)
	return &v
}

// texts applies otpgate's text settings of a service's request: Locale,
// LocaleByCountry, WebOtpDomain, and Template.{locale} (one per locale;
// empty removes it).
func texts(f api.Fields, t *verification.Texts) error {
	loc, web := optional(f, "Locale"), optional(f, "WebOtpDomain")
	var byCountry *bool
	if f.Has("LocaleByCountry") {
		b, err := strconv.ParseBool(strings.TrimSpace(f.Get("LocaleByCountry")))
		if err != nil {
			return otpgate.FieldError("localeByCountry", otpgate.InvalidField, " %q: true or false", f.Get("LocaleByCountry"))
		}
		byCountry = &b
	}
	for name, dst := range map[string]*bool{"DoNotShareWarningEnabled": &t.DoNotShare, "CustomCodeEnabled": &t.CustomCode} {
		if f.Has(name) {
			b, err := strconv.ParseBool(strings.TrimSpace(f.Get(name)))
			if err != nil {
				return otpgate.FieldError(strings.ToLower(name[:1])+name[1:], otpgate.InvalidField, " %q: true or false", f.Get(name))
			}
			*dst = b
		}
	}
	templates := map[string]string{}
	for k, v := range f {
		if l, ok := strings.CutPrefix(k, "Template."); ok {
			templates[l] = v
		}
	}
	return verify.SetTexts(t, loc, byCountry, web, templates)
}

// service returns the account's service of the path's SID.
func (h handlers) service(ctx context.Context, r *http.Request, param string) (verification.Service, error) {
	sid := r.PathValue(param)
	svc, err := h.cfg.Store.ServiceBySID(ctx, sid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && svc.AccountSID != api.Account(r)) {
		return verification.Service{}, otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound,
			"The requested resource /Services/%s was not found", sid)
	}
	return svc, err
}

func codeLength(f api.Fields, def int) (int, error) {
	if !f.Has("CodeLength") {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(f.Get("CodeLength")))
	if err != nil || n < verification.MinCodeLength || n > verification.MaxCodeLength {
		return 0, otpgate.FieldError("codeLength", otpgate.InvalidField, " %q: a number of digits, %d-%d", f.Get("CodeLength"), verification.MinCodeLength, verification.MaxCodeLength)
	}
	return n, nil
}

// unsupported refuses settings of Twilio's that otpgate does not have, so
// that nobody believes them applied.
func unsupported(f api.Fields) error {
	for _, name := range []string{"LookupEnabled", "Psd2Enabled", "DtmfInputRequired"} {
		if v := strings.TrimSpace(f.Get(name)); v != "" && v != "false" {
			return otpgate.FieldError(strings.ToLower(name[:1])+name[1:], otpgate.InvalidField, " %q: otpgate does not support it (only false is accepted)", v)
		}
	}
	return nil
}

func (h handlers) createService(w http.ResponseWriter, r *http.Request) error {
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(f.Get("FriendlyName"))
	if err := verify.ValidServiceName(name); err != nil {
		return err
	}
	svc := h.cfg.Services.New(api.Account(r), name)
	if svc.CodeLength, err = codeLength(f, svc.CodeLength); err != nil {
		return err
	}
	if err := unsupported(f); err != nil {
		return err
	}
	if err := h.settings(r.Context(), f, &svc); err != nil {
		return err
	}
	got, created, err := h.cfg.Services.Create(r.Context(), svc)
	if err != nil {
		return err
	}
	if !created {
		return otpgate.Errorf(otpgate.KindConflict, otpgate.CodeInvalidParameter,
			"Invalid parameter 'FriendlyName': the account has a service named %q already (%s); otpgate's 2FA API names services by it, so names are unique", name, got.SID)
	}
	h.audited(r, "create", nil, &got)
	api.WriteJSON(w, http.StatusCreated, newServiceJSON(baseURL(r), got))
	return nil
}

func (h handlers) fetchService(w http.ResponseWriter, r *http.Request) error {
	svc, err := h.service(r.Context(), r, "Sid")
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, newServiceJSON(baseURL(r), svc))
	return nil
}

func (h handlers) updateService(w http.ResponseWriter, r *http.Request) error {
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	found, err := h.service(r.Context(), r, "Sid")
	if err != nil {
		return err
	}
	before, svc, err := h.cfg.Services.Update(r.Context(), found.AccountSID, found.SID, func(svc *verification.Service) error {
		var err error
		if name := strings.TrimSpace(f.Get("FriendlyName")); f.Has("FriendlyName") && name != svc.Name {
			return otpgate.FieldError("service", otpgate.InvalidField, " %q: a service keeps its name (%q): the 2FA API names services by it", name, svc.Name)
		}
		if svc.CodeLength, err = codeLength(f, svc.CodeLength); err != nil {
			return err
		}
		if err := h.settings(r.Context(), f, svc); err != nil {
			return err
		}
		return unsupported(f)
	})
	if errors.Is(err, store.ErrNotFound) {
		return otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "The requested resource /Services/%s was not found", found.SID)
	} else if err != nil {
		return err
	}
	h.audited(r, "update", &before, &svc)
	api.WriteJSON(w, http.StatusOK, newServiceJSON(baseURL(r), svc))
	return nil
}

// deleteService deletes a service and its verifications: their codes stop
// verifying. Its messages stay in the log.
func (h handlers) deleteService(w http.ResponseWriter, r *http.Request) error {
	svc, err := h.service(r.Context(), r, "Sid")
	if err != nil {
		return err
	}
	if err := h.cfg.Services.Delete(r.Context(), svc.AccountSID, svc.SID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	h.audited(r, "delete", &svc, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h handlers) listServices(w http.ResponseWriter, r *http.Request) error {
	size, page := 50, 0
	q := r.URL.Query()
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return otpgate.FieldError("pageSize", otpgate.InvalidField, " %q: 1-1000", v)
		}
		size = n
	}
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return otpgate.FieldError("page", otpgate.InvalidField, " %q: a page number from 0", v)
		}
		page = n
	}
	all, err := h.cfg.Store.Services(r.Context(), api.Account(r))
	if err != nil {
		return err
	}
	out := []serviceJSON{}
	for i := page * size; i < len(all) && i < (page+1)*size; i++ {
		out = append(out, newServiceJSON(baseURL(r), all[i]))
	}
	pageURL := func(p int) string {
		return fmt.Sprintf("%s/Services?PageSize=%d&Page=%d", baseURL(r), size, p)
	}
	var next, prev *string
	if (page+1)*size < len(all) {
		u := pageURL(page + 1)
		next = &u
	}
	if page > 0 {
		u := pageURL(page - 1)
		prev = &u
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"services": out,
		"meta": map[string]any{"page": page, "page_size": size, "first_page_url": pageURL(0), "previous_page_url": prev,
			"url": pageURL(page), "next_page_url": next, "key": "services"},
	})
	return nil
}

// verificationJSON is a verification as Twilio shows it.
type verificationJSON struct {
	SID              string           `json:"sid"`
	ServiceSID       string           `json:"service_sid"`
	AccountSID       string           `json:"account_sid"`
	To               string           `json:"to"`
	Channel          string           `json:"channel"`
	Status           string           `json:"status"`
	Valid            bool             `json:"valid"`
	Lookup           map[string]any   `json:"lookup"`
	Amount           *string          `json:"amount"`
	Payee            *string          `json:"payee"`
	SendCodeAttempts []map[string]any `json:"send_code_attempts"`
	DateCreated      string           `json:"date_created"`
	DateUpdated      string           `json:"date_updated"`
	Sna              *string          `json:"sna"`
	URL              string           `json:"url"`
}

func newVerificationJSON(base string, v verification.Verification, svc verification.Service) verificationJSON {
	attempts := make([]map[string]any, 0, len(v.Codes))
	channel := channelOf(v)
	for i, c := range v.Codes {
		attempts = append(attempts, map[string]any{
			"attempt_sid": fmt.Sprintf("VL%.30s%02d", strings.TrimPrefix(v.SID, "VE"), i+1),
			"channel":     v.CodeChannel(c),
			"time":        date(c.ExpiresAt.Add(-svc.TTL)),
		})
	}
	return verificationJSON{
		SID: v.SID, ServiceSID: v.ServiceSID, AccountSID: v.AccountSID, To: v.To, Channel: channel, Status: string(v.Status),
		Valid: v.Status == verification.Approved, Lookup: map[string]any{"carrier": nil}, SendCodeAttempts: attempts,
		DateCreated: date(v.CreatedAt), DateUpdated: date(v.UpdatedAt),
		URL: base + "/Services/" + v.ServiceSID + "/Verifications/" + v.SID,
	}
}

// channelOf is the channel a verification's codes go by: sms or email
// (every code of one verification goes to the same number or address).
func channelOf(v verification.Verification) string {
	return string(message.Channel(v.Channel).Or())
}

// rateLimitKey reads Twilio's RateLimits, a JSON object of the service's
// rate limits' keys and values ({"end_user_ip_address": "203.0.113.7"}),
// as one rate_limit_key.
func rateLimitKey(raw string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil || len(m) == 0 {
		return "", otpgate.FieldError("rate_limit_key", otpgate.InvalidField, ": a JSON object of unique names and their values, like {\"end_user_ip_address\":\"203.0.113.7\"}")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + fmt.Sprint(m[k])
	}
	return strings.Join(parts, "&"), nil
}

func (h handlers) createVerification(w http.ResponseWriter, r *http.Request) error {
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	svc, err := h.service(r.Context(), r, "ServiceSid")
	if err != nil {
		return err
	}
	ch := message.Channel(strings.TrimSpace(f.Get("Channel")))
	switch ch {
	case message.SMS, message.Email:
	case "":
		return otpgate.FieldError("channel", otpgate.MissingField, ": sms or email")
	default:
		return otpgate.FieldError("channel", otpgate.InvalidField, " %q: otpgate sends codes by sms or email only (not call, whatsapp or others)", ch)
	}
	key, err := rateLimitKey(f.Get("RateLimits"))
	if err != nil {
		return err
	}
	if key == "" && strings.TrimSpace(f.Get("DeviceIp")) != "" {
		key = "device_ip=" + strings.TrimSpace(f.Get("DeviceIp")) // limited like a RateLimits key
	}
	req := verify.SendRequest{AccountSID: api.Account(r), Service: svc.Name, Channel: ch, To: f.Get("To"), RateLimitKey: key,
		Locale: f.Get("Locale"), AppHash: f.Get("AppHash"), FriendlyName: f.Get("CustomFriendlyName"), CustomCode: f.Get("CustomCode"),
		FallbackTo: f.Get("FallbackTo")}
	res, err := h.cfg.Verify.Send(r.Context(), req)
	if e, ok := errors.AsType[*otpgate.Error](err); ok && e.Field == "from" && e.Problem == otpgate.MissingField {
		// The route names no default sender: this server's, for Verify.
		req.From = h.cfg.Sender
		res, err = h.cfg.Verify.Send(r.Context(), req)
	}
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, newVerificationJSON(baseURL(r), res.Verification, res.Service))
	return nil
}

// verification returns the account's verification sid of svc, or the 404
// of a resource not found (also for another service's verification).
func (h handlers) verification(r *http.Request, svc verification.Service, sid string) (verification.Verification, error) {
	v, err := h.cfg.Store.VerificationBySID(r.Context(), api.Account(r), sid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && v.ServiceSID != svc.SID) {
		return v, otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "The requested resource /Services/%s/Verifications/%s was not found", svc.SID, sid)
	}
	return v, err
}

func (h handlers) fetchVerification(w http.ResponseWriter, r *http.Request) error {
	svc, err := h.service(r.Context(), r, "ServiceSid")
	if err != nil {
		return err
	}
	v, err := h.verification(r, svc, r.PathValue("Sid"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, newVerificationJSON(baseURL(r), v, svc))
	return nil
}

// updateVerification cancels a pending verification (its codes stop
// verifying) or approves it without a code (Status=canceled|approved).
func (h handlers) updateVerification(w http.ResponseWriter, r *http.Request) error {
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	svc, err := h.service(r.Context(), r, "ServiceSid")
	if err != nil {
		return err
	}
	to := verification.Status(strings.TrimSpace(f.Get("Status")))
	switch to {
	case verification.Canceled, verification.Approved:
	case "":
		return otpgate.FieldError("status", otpgate.MissingField, ": canceled or approved")
	default:
		return otpgate.FieldError("status", otpgate.InvalidField, " %q: canceled or approved", to)
	}
	sid := r.PathValue("Sid")
	v, err := h.cfg.Verify.Conclude(r.Context(), api.Account(r), svc.SID, sid, to)
	if errors.Is(err, store.ErrNotFound) {
		return otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "The requested resource /Services/%s/Verifications/%s was not found (or is no longer pending)", svc.SID, sid)
	} else if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, newVerificationJSON(baseURL(r), v, svc))
	return nil
}

func (h handlers) check(w http.ResponseWriter, r *http.Request) error {
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	svc, err := h.service(r.Context(), r, "ServiceSid")
	if err != nil {
		return err
	}
	to := f.Get("To")
	if sid := f.Get("VerificationSid"); sid != "" {
		v, err := h.verification(r, svc, sid)
		if err != nil {
			return err
		}
		to = v.To
	} else if strings.TrimSpace(to) == "" {
		return otpgate.FieldError("to", otpgate.MissingField, ": the number (E.164) or email address the code was sent to, or VerificationSid")
	}
	res, err := h.cfg.Verify.Check(r.Context(), verify.CheckRequest{AccountSID: api.Account(r), Service: svc.Name, Number: to, Code: f.Get("Code")})
	if err != nil {
		return err
	}
	v := res.Verification
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"sid": v.SID, "service_sid": v.ServiceSID, "account_sid": v.AccountSID, "to": v.To, "channel": channelOf(v),
		"status": string(v.Status), "valid": res.Valid, "amount": nil, "payee": nil,
		"date_created": date(v.CreatedAt), "date_updated": date(v.UpdatedAt), "sna_attempts_error_codes": []any{},
	})
	return nil
}
