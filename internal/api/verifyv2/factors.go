package verifyv2

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/factor"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// FactorsConfig configures the routes of TOTP factors.
type FactorsConfig struct {
	// Store reads services (their account, their name: the issuer).
	Store Store
	// Factors is the factors' domain; its Store reads them.
	Factors *factor.Service
	// Audit, if set, records each factor made, verified or deleted and
	// each entity deleted.
	Audit *audit.Log
}

// RegisterFactors adds Twilio Verify's TOTP routes: Entities, their
// Factors and Challenges, under a service.
func RegisterFactors(s *api.Server, cfg FactorsConfig) {
	h := factorHandlers{handlers: handlers{Config{Store: cfg.Store}}, cfg: cfg}
	const e = "/v2/Services/{ServiceSid}/Entities"
	s.Authenticated("POST "+e, Dialect, h.createEntity)
	s.Authenticated("GET "+e, Dialect, h.listEntities)
	s.Authenticated("GET "+e+"/{Identity}", Dialect, h.fetchEntity)
	s.Authenticated("DELETE "+e+"/{Identity}", Dialect, h.deleteEntity)
	s.Authenticated("POST "+e+"/{Identity}/Factors", Dialect, h.createFactor)
	s.Authenticated("GET "+e+"/{Identity}/Factors", Dialect, h.listFactors)
	s.Authenticated("GET "+e+"/{Identity}/Factors/{Sid}", Dialect, h.fetchFactor)
	s.Authenticated("POST "+e+"/{Identity}/Factors/{Sid}", Dialect, h.updateFactor)
	s.Authenticated("DELETE "+e+"/{Identity}/Factors/{Sid}", Dialect, h.deleteFactor)
	s.Authenticated("POST "+e+"/{Identity}/Challenges", Dialect, h.createChallenge)
	s.Authenticated("GET "+e+"/{Identity}/Challenges/{Sid}", Dialect, h.fetchChallenge)
}

type factorHandlers struct {
	handlers
	cfg FactorsConfig
}

func entityURL(r *http.Request, serviceSID, identity string) string {
	return baseURL(r) + "/Services/" + serviceSID + "/Entities/" + identity
}

func entityJSON(r *http.Request, e factor.Entity) map[string]any {
	u := entityURL(r, e.ServiceSID, e.Identity)
	return map[string]any{
		"sid": e.SID, "identity": e.Identity, "account_sid": e.AccountSID, "service_sid": e.ServiceSID,
		"date_created": date(e.CreatedAt), "date_updated": date(e.UpdatedAt), "url": u,
		"links": map[string]string{"factors": u + "/Factors", "new_factors": u + "/Factors", "challenges": u + "/Challenges"},
	}
}

func factorJSON(r *http.Request, f factor.Factor) map[string]any {
	return map[string]any{
		"sid": f.SID, "account_sid": f.AccountSID, "service_sid": f.ServiceSID, "entity_sid": f.EntitySID, "identity": f.Identity,
		"date_created": date(f.CreatedAt), "date_updated": date(f.UpdatedAt), "friendly_name": f.FriendlyName,
		"status": string(f.Status), "factor_type": factor.TypeTOTP, "metadata": nil,
		"config": map[string]any{"time_step": f.Config.TimeStep, "skew": f.Config.Skew, "code_length": f.Config.CodeLength, "alg": string(f.Config.Alg)},
		"url":    entityURL(r, f.ServiceSID, f.Identity) + "/Factors/" + f.SID,
	}
}

func challengeJSON(r *http.Request, c factor.Challenge, f factor.Factor) map[string]any {
	var responded any
	if c.Status == factor.Approved {
		responded = date(c.UpdatedAt)
	}
	u := entityURL(r, c.ServiceSID, c.Identity) + "/Challenges/" + c.SID
	return map[string]any{
		"sid": c.SID, "account_sid": c.AccountSID, "service_sid": c.ServiceSID, "entity_sid": c.EntitySID, "identity": c.Identity,
		"factor_sid": c.FactorSID, "date_created": date(c.CreatedAt), "date_updated": date(c.UpdatedAt), "date_responded": responded,
		"expiration_date": date(c.CreatedAt.Add(time.Duration(f.Config.TimeStep) * time.Second)), "status": string(c.Status),
		"responded_reason": "none", "details": nil, "hidden_details": nil, "metadata": nil, "factor_type": factor.TypeTOTP,
		"url": u, "links": map[string]string{"notifications": u + "/Notifications"},
	}
}

// factorAudit is what the audit log keeps of a factor: never its secret.
func factorAudit(f factor.Factor) map[string]any {
	return map[string]any{"sid": f.SID, "service_sid": f.ServiceSID, "identity": f.Identity, "friendly_name": f.FriendlyName,
		"status": f.Status, "config": f.Config}
}

func (h factorHandlers) audited(r *http.Request, action, target string, before, after any) {
	if h.cfg.Audit == nil {
		return
	}
	h.cfg.Audit.Record(r.Context(), api.Actor(r), audit.Entry{AccountSID: api.Account(r), Kind: audit.KindFactor, Action: action,
		Target: target, Before: before, After: after})
}

// identity is the path's Identity, checked as Twilio does.
func identity(r *http.Request) (string, error) {
	id := r.PathValue("Identity")
	return id, factor.ValidIdentity(id)
}

func entityNotFound(svc verification.Service, id string) error {
	return otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "The requested resource /Services/%s/Entities/%s was not found", svc.SID, id)
}

// entity returns the account's service and the entity of the path.
func (h factorHandlers) entity(r *http.Request) (verification.Service, factor.Entity, error) {
	svc, err := h.service(r.Context(), r, "ServiceSid")
	if err != nil {
		return svc, factor.Entity{}, err
	}
	id, err := identity(r)
	if err != nil {
		return svc, factor.Entity{}, entityNotFound(svc, id)
	}
	e, err := h.cfg.Factors.Store.Entity(r.Context(), svc.AccountSID, svc.SID, id)
	if errors.Is(err, store.ErrNotFound) {
		return svc, e, entityNotFound(svc, id)
	}
	return svc, e, err
}

// pathFactor returns the account's factor the path names.
func (h factorHandlers) pathFactor(r *http.Request) (factor.Factor, error) {
	svc, err := h.service(r.Context(), r, "ServiceSid")
	if err != nil {
		return factor.Factor{}, err
	}
	return h.factorOf(r, svc, r.PathValue("Sid"))
}

// decode reads a request's body and the account's service of its path.
func (h factorHandlers) decode(w http.ResponseWriter, r *http.Request) (api.Fields, verification.Service, error) {
	f, err := api.Decode(w, r)
	if err != nil {
		return nil, verification.Service{}, err
	}
	svc, err := h.service(r.Context(), r, "ServiceSid")
	return f, svc, err
}

// factorOf returns the account's factor sid of the path's service and
// entity, or the 404 of a resource not found (also for another entity's).
func (h factorHandlers) factorOf(r *http.Request, svc verification.Service, sid string) (factor.Factor, error) {
	id := r.PathValue("Identity")
	f, err := h.cfg.Factors.Store.Factor(r.Context(), svc.AccountSID, sid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (f.ServiceSID != svc.SID || f.Identity != id)) {
		return f, otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "The requested resource /Services/%s/Entities/%s/Factors/%s was not found", svc.SID, id, sid)
	}
	return f, err
}

func (h factorHandlers) createEntity(w http.ResponseWriter, r *http.Request) error {
	f, svc, err := h.decode(w, r)
	if err != nil {
		return err
	}
	e, err := h.cfg.Factors.NewEntity(svc.AccountSID, svc.SID, strings.TrimSpace(f.Get("Identity")))
	if err != nil {
		return err
	}
	got, created, err := h.cfg.Factors.Store.CreateEntity(r.Context(), e)
	if err != nil {
		return err
	}
	if !created {
		return otpgate.Errorf(otpgate.KindConflict, otpgate.CodeInvalidParameter,
			"Invalid parameter 'Identity': the service has an entity %q already (%s)", got.Identity, got.SID)
	}
	api.WriteJSON(w, http.StatusCreated, entityJSON(r, got))
	return nil
}

func (h factorHandlers) fetchEntity(w http.ResponseWriter, r *http.Request) error {
	_, e, err := h.entity(r)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, entityJSON(r, e))
	return nil
}

// deleteEntity deletes an entity, its factors and its challenges.
func (h factorHandlers) deleteEntity(w http.ResponseWriter, r *http.Request) error {
	svc, e, err := h.entity(r)
	if err != nil {
		return err
	}
	if err := h.cfg.Factors.Store.DeleteEntity(r.Context(), svc.AccountSID, svc.SID, e.Identity); errors.Is(err, store.ErrNotFound) {
		return entityNotFound(svc, e.Identity)
	} else if err != nil {
		return err
	}
	h.audited(r, "delete_entity", e.SID, map[string]any{"sid": e.SID, "service_sid": e.ServiceSID, "identity": e.Identity}, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h factorHandlers) listEntities(w http.ResponseWriter, r *http.Request) error {
	svc, err := h.service(r.Context(), r, "ServiceSid")
	if err != nil {
		return err
	}
	all, err := h.cfg.Factors.Store.Entities(r.Context(), svc.AccountSID, svc.SID)
	if err != nil {
		return err
	}
	return writePage(w, r, "entities", baseURL(r)+"/Services/"+svc.SID+"/Entities", all, func(e factor.Entity) any { return entityJSON(r, e) })
}

func (h factorHandlers) listFactors(w http.ResponseWriter, r *http.Request) error {
	svc, err := h.service(r.Context(), r, "ServiceSid")
	if err != nil {
		return err
	}
	id := r.PathValue("Identity")
	all, err := h.cfg.Factors.Store.Factors(r.Context(), svc.AccountSID, svc.SID, id)
	if err != nil {
		return err
	}
	return writePage(w, r, "factors", entityURL(r, svc.SID, id)+"/Factors", all, func(f factor.Factor) any { return factorJSON(r, f) })
}

// writePage writes one page of all (PageSize 1-1000, default 50; Page from
// 0) under key, with Twilio's meta.
func writePage[T any](w http.ResponseWriter, r *http.Request, key, u string, all []T, show func(T) any) error {
	q := r.URL.Query()
	size, err := strconv.Atoi(cmp.Or(q.Get("PageSize"), "50"))
	if err != nil || size < 1 || size > 1000 {
		return otpgate.FieldError("pageSize", otpgate.InvalidField, " %q: 1-1000", q.Get("PageSize"))
	}
	page, err := strconv.Atoi(cmp.Or(q.Get("Page"), "0"))
	if err != nil || page < 0 {
		return otpgate.FieldError("page", otpgate.InvalidField, " %q: a page number from 0", q.Get("Page"))
	}
	items := []any{}
	for i := page * size; i < len(all) && i < (page+1)*size; i++ {
		items = append(items, show(all[i]))
	}
	at := func(p int) *string {
		s := fmt.Sprintf("%s?PageSize=%d&Page=%d", u, size, p)
		return &s
	}
	var next, prev *string
	if (page+1)*size < len(all) {
		next = at(page + 1)
	}
	if page > 0 {
		prev = at(page - 1)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{key: items, "meta": map[string]any{
		"page": page, "page_size": size, "first_page_url": at(0), "previous_page_url": prev, "url": at(page), "next_page_url": next, "key": key,
	}})
	return nil
}

// config reads a factor's Config.* (Twilio's defaults for those not given).
func config(f api.Fields) (factor.Config, error) {
	c := factor.DefaultConfig
	for name, dst := range map[string]*int{"Config.TimeStep": &c.TimeStep, "Config.Skew": &c.Skew, "Config.CodeLength": &c.CodeLength} {
		if !f.Has(name) {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(f.Get(name)))
		if err != nil {
			return c, otpgate.FieldError("config."+name[len("Config."):], otpgate.InvalidField, " %q: a whole number", f.Get(name))
		}
		*dst = n
	}
	if f.Has("Config.Alg") {
		c.Alg = factor.Alg(strings.ToLower(strings.TrimSpace(f.Get("Config.Alg"))))
	}
	return c, c.Validate()
}

func (h factorHandlers) createFactor(w http.ResponseWriter, r *http.Request) error {
	f, svc, err := h.decode(w, r)
	if err != nil {
		return err
	}
	switch t := strings.TrimSpace(f.Get("FactorType")); t {
	case factor.TypeTOTP:
	case "":
		return otpgate.FieldError("factorType", otpgate.MissingField, ": totp")
	default:
		return otpgate.FieldError("factorType", otpgate.InvalidField, " %q: otpgate has totp factors only (not push)", t)
	}
	cfg, err := config(f)
	if err != nil {
		return err
	}
	id, err := identity(r)
	if err != nil {
		return err
	}
	req := factor.NewFactor{AccountSID: svc.AccountSID, ServiceSID: svc.SID, Identity: id, FriendlyName: f.Get("FriendlyName"),
		Secret: cmp.Or(f.Get("Binding.Secret"), f.Get("BindingSecret")), Config: cfg}
	made, err := h.cfg.Factors.Create(r.Context(), req)
	if err != nil {
		return err
	}
	out := factorJSON(r, made.Factor)
	// The binding is shown here, once: otpgate keeps the secret sealed
	// and never shows it again.
	out["binding"] = map[string]string{
		"secret": factor.EncodeSecret(made.Secret),
		"uri":    factor.URI(svc.Name, made.Factor.FriendlyName, made.Secret, made.Factor.Config),
	}
	out["options"] = nil
	h.audited(r, "create", made.Factor.SID, nil, factorAudit(made.Factor))
	api.WriteJSON(w, http.StatusCreated, out)
	return nil
}

func (h factorHandlers) fetchFactor(w http.ResponseWriter, r *http.Request) error {
	f, err := h.pathFactor(r)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, factorJSON(r, f))
	return nil
}

// updateFactor verifies a factor with AuthPayload: a right code makes it
// verified; a wrong one leaves it as it was (200, Twilio's answer since
// 2021) and counts toward the lockout.
func (h factorHandlers) updateFactor(w http.ResponseWriter, r *http.Request) error {
	fields, svc, err := h.decode(w, r)
	if err != nil {
		return err
	}
	for name := range fields {
		if name != "AuthPayload" {
			return otpgate.FieldError(strings.ToLower(name[:1])+name[1:], otpgate.InvalidField, ": otpgate changes a factor only by verifying it (AuthPayload); make a new factor for other settings")
		}
	}
	f, err := h.factorOf(r, svc, r.PathValue("Sid"))
	if err != nil {
		return err
	}
	res, err := h.cfg.Factors.Verify(r.Context(), f, fields.Get("AuthPayload"))
	if err != nil {
		return err
	}
	if res.Accepted && f.Status != factor.Verified {
		h.audited(r, "verify", f.SID, factorAudit(f), factorAudit(res.Factor))
	}
	api.WriteJSON(w, http.StatusOK, factorJSON(r, res.Factor))
	return nil
}

// deleteFactor deletes a factor and its challenges.
func (h factorHandlers) deleteFactor(w http.ResponseWriter, r *http.Request) error {
	f, err := h.pathFactor(r)
	if err != nil {
		return err
	}
	if err := h.cfg.Factors.Store.DeleteFactor(r.Context(), f.AccountSID, f.SID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	h.audited(r, "delete", f.SID, factorAudit(f), nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// createChallenge checks AuthPayload against a verified factor: 201 with
// status approved for a right code, pending for a wrong or replayed one.
func (h factorHandlers) createChallenge(w http.ResponseWriter, r *http.Request) error {
	fields, svc, err := h.decode(w, r)
	if err != nil {
		return err
	}
	sid := strings.TrimSpace(fields.Get("FactorSid"))
	if sid == "" {
		return otpgate.FieldError("factorSid", otpgate.MissingField, ": the SID (YF...) of the entity's TOTP factor")
	}
	f, err := h.factorOf(r, svc, sid)
	if err != nil {
		return err
	}
	res, err := h.cfg.Factors.Challenge(r.Context(), f, fields.Get("AuthPayload"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, challengeJSON(r, res.Challenge, res.Factor))
	return nil
}

func (h factorHandlers) fetchChallenge(w http.ResponseWriter, r *http.Request) error {
	svc, err := h.service(r.Context(), r, "ServiceSid")
	if err != nil {
		return err
	}
	c, err := h.cfg.Factors.Store.Challenge(r.Context(), svc.AccountSID, r.PathValue("Sid"))
	if err == nil && (c.ServiceSID != svc.SID || c.Identity != r.PathValue("Identity")) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "The requested resource /Services/%s/Entities/%s/Challenges/%s was not found",
			svc.SID, r.PathValue("Identity"), r.PathValue("Sid"))
	} else if err != nil {
		return err
	}
	f, err := h.cfg.Factors.Store.Factor(r.Context(), svc.AccountSID, c.FactorSID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	api.WriteJSON(w, http.StatusOK, challengeJSON(r, c, f))
	return nil
}
