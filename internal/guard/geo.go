// Package guard refuses the sends an abuser would make, before anything is
// stored, and says why. Geo permissions: an account sends only to the
// countries it was allowed (by default the server's region), and a service
// may narrow or widen that for its codes.
package guard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// AnyCountry, as a list of countries, allows every destination.
const AnyCountry = "*"

// ParseCountries checks a list of countries as a user writes it ("jo, SA",
// or "*" for any) and returns it in canonical form ("JO,SA", "*"): ISO
// 3166-1 alpha-2 codes of regions with telephone numbers, upper case,
// sorted, once each. An empty list is an error: an account that may send
// nowhere is not what anybody means.
func ParseCountries(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == AnyCountry {
		return AnyCountry, nil
	}
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		c := strings.ToUpper(strings.TrimSpace(part))
		if c == "" {
			continue
		}
		if c == AnyCountry {
			return "", errors.New(`"*" (any country) cannot be combined with countries`)
		}
		if len(c) != 2 || phonenumbers.GetCountryCodeForRegion(c) == 0 {
			return "", fmt.Errorf("%q is not an ISO 3166-1 alpha-2 code of a country with phone numbers (for example JO, SA, AE, GB)", strings.TrimSpace(part))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "", errors.New(`give one or more country codes, comma-separated (for example JO,SA), or "*" for any`)
	}
	slices.Sort(out)
	return strings.Join(out, ","), nil
}

// allows reports whether the canonical list countries allows region.
func allows(countries, region string) bool {
	if countries == AnyCountry {
		return true
	}
	for c := range strings.SplitSeq(countries, ",") {
		if c == region {
			return true
		}
	}
	return false
}

// Accounts reads an account's settings (the store).
type Accounts interface {
	Account(ctx context.Context, sid string) (account.Account, error)
}

// GeoConfig configures Geo.
type GeoConfig struct {
	// Region is the server's region (--region): where an account that was
	// given no countries may send, unless Default is set.
	Region string
	// Default, when set, is where an account that was given no countries
	// may send instead (the config file's "countries").
	Default  string
	Accounts Accounts
	// CacheFor is how long an account's countries are kept before they are
	// read again (a change made on another node or by the CLI applies
	// within it); default 5 s.
	CacheFor time.Duration
	Clock    otpgate.Clock
}

// Geo is the geo-permission policy of the send pipeline.
type Geo struct {
	cfg   GeoConfig
	mu    sync.Mutex
	cache map[string]cachedCountries
}

type cachedCountries struct {
	countries string
	until     time.Time
}

// NewGeo returns the geo-permission policy.
func NewGeo(cfg GeoConfig) *Geo {
	if cfg.CacheFor == 0 {
		cfg.CacheFor = 5 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = otpgate.SystemClock{}
	}
	cfg.Region = strings.ToUpper(cfg.Region)
	return &Geo{cfg: cfg, cache: map[string]cachedCountries{}}
}

// Allow refuses a send to a country neither the service's own list nor,
// without one, the account's allows: for a code 403 (Forbidden), for a
// message 400 (an invalid 'to'), both with code 60605 (the messages API
// says 21408), naming the country and how to allow it.
func (g *Geo) Allow(ctx context.Context, s pipeline.Send) error {
	countries, whose := s.Countries, "service"
	if countries == "" {
		var err error
		if countries, err = g.accountCountries(ctx, s.AccountSID); err != nil {
			return err
		}
		whose = "account"
	}
	region := s.To.Region
	if allows(countries, region) {
		return nil
	}
	kind := otpgate.KindInvalid
	if s.Code {
		kind = otpgate.KindForbidden
	}
	dest := "+" + strconv.Itoa(phonenumbers.GetCountryCodeForRegion(region))
	if region == "" || region == "001" {
		dest = "a number of no country (a global service number)"
	} else {
		dest += " (" + region + ")"
	}
	how := "allow it with `otpgate accounts set --sid " + s.AccountSID + " --countries " + addCountry(countries, region) + "` or POST /guard/countries"
	if whose == "service" {
		how = "allow it in the service's countries (`otpgate services set --countries`), or clear them to use the account's"
	}
	e := otpgate.FieldError("to", otpgate.InvalidField, ": sending to %s is not enabled for this %s, which sends to %s; %s",
		dest, whose, describe(countries), how)
	e.Kind, e.Code = kind, otpgate.CodeGeoPermission
	return e
}

func describe(countries string) string {
	if countries == AnyCountry {
		return "any country"
	}
	return strings.ReplaceAll(countries, ",", ", ") + " only"
}

func addCountry(countries, region string) string {
	if region == "" || region == "001" {
		return AnyCountry
	}
	c, err := ParseCountries(countries + "," + region)
	if err != nil {
		return region
	}
	return c
}

// accountCountries returns the account's list, or the server's region when
// it has none.
func (g *Geo) accountCountries(ctx context.Context, sid string) (string, error) {
	now := g.cfg.Clock.Now()
	g.mu.Lock()
	c, ok := g.cache[sid]
	g.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.countries, nil
	}
	a, err := g.cfg.Accounts.Account(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		a, err = account.Account{}, nil // deleted meanwhile: the default
	}
	if err != nil {
		return "", err
	}
	countries := a.Countries
	if countries == "" {
		countries = g.Default()
	}
	g.mu.Lock()
	g.cache[sid] = cachedCountries{countries: countries, until: now.Add(g.cfg.CacheFor)}
	g.mu.Unlock()
	return countries, nil
}

// Default is where an account that was given no countries may send.
func (g *Geo) Default() string {
	if g.cfg.Default != "" {
		return g.cfg.Default
	}
	return g.cfg.Region
}

// Forget drops an account's cached countries: this node applies a change
// at once (others within CacheFor).
func (g *Geo) Forget(accountSID string) {
	g.mu.Lock()
	delete(g.cache, accountSID)
	g.mu.Unlock()
}

// GeoStore is what GeoAdmin changes.
type GeoStore interface {
	Accounts
	SetAccountCountries(ctx context.Context, sid, countries string) error
	Service(ctx context.Context, accountSID, name string) (verification.Service, error)
	UpdateService(ctx context.Context, svc verification.Service) error
}

// GeoAdmin reads and sets geo permissions for the API.
type GeoAdmin struct {
	Store GeoStore
	Geo   *Geo
}

// Countries returns an account's own list ("" when it has none) and where
// it may send.
func (a GeoAdmin) Countries(ctx context.Context, accountSID string) (own, effective string, err error) {
	acc, err := a.Store.Account(ctx, accountSID)
	if err != nil {
		return "", "", err
	}
	if acc.Countries == "" {
		return "", a.Geo.Default(), nil
	}
	return acc.Countries, acc.Countries, nil
}

// SetAccountCountries sets an account's list ("" for the default).
func (a GeoAdmin) SetAccountCountries(ctx context.Context, accountSID, countries string) error {
	if err := a.Store.SetAccountCountries(ctx, accountSID, countries); err != nil {
		return err
	}
	a.Geo.Forget(accountSID)
	return nil
}

// SetServiceCountries sets a service's own list for its codes ("" for the
// account's); store.ErrNotFound if the account has no such service.
func (a GeoAdmin) SetServiceCountries(ctx context.Context, accountSID, service, countries string) error {
	svc, err := a.Store.Service(ctx, accountSID, service)
	if err != nil {
		return err
	}
	svc.Countries = countries
	return a.Store.UpdateService(ctx, svc)
}
