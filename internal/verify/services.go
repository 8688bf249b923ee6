package verify

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// ServiceStore keeps verification services.
type ServiceStore interface {
	// Service returns the account's service of that name.
	Service(ctx context.Context, accountSID, name string) (verification.Service, error)
	// ServiceBySID returns a service.
	ServiceBySID(ctx context.Context, sid string) (verification.Service, error)
	// CreateService inserts svc, or returns the account's service of that
	// name if there is one already.
	CreateService(ctx context.Context, svc verification.Service) (verification.Service, error)
	// UpdateService stores a service's settings.
	UpdateService(ctx context.Context, svc verification.Service) error
	// DeleteService deletes an account's service and its verifications.
	DeleteService(ctx context.Context, accountSID, sid string) error
}

// ServicesConfig configures Services.
type ServicesConfig struct {
	Store ServiceStore
	Clock otpgate.Clock
	// CodeLength and TTL are the settings of services made from now on;
	// 0 means verification.DefaultCodeLength and DefaultTTL.
	CodeLength int
	TTL        time.Duration
}

// Services is the one owner of verification services' settings: every
// path that makes, changes or deletes a service (a first code, Verify v2,
// the guard's countries, `otpgate services set`) goes through it. It keeps
// this node's cache of services, and drops a service from it on every
// change, so that this node's next code obeys the change; other nodes (and
// a server beside the command line that changed one) see it within
// serviceCacheTTL. It does not audit: the caller knows who asked.
type Services struct {
	cfg   ServicesConfig
	cache *serviceCache
}

// NewServices returns Services.
func NewServices(cfg ServicesConfig) (*Services, error) {
	if cfg.Store == nil {
		return nil, errors.New("verify: Services needs a Store")
	}
	if cfg.Clock == nil {
		cfg.Clock = otpgate.SystemClock{}
	}
	if cfg.CodeLength == 0 {
		cfg.CodeLength = verification.DefaultCodeLength
	}
	if cfg.CodeLength < verification.MinCodeLength || cfg.CodeLength > verification.MaxCodeLength {
		return nil, fmt.Errorf("verify: code length %d is outside %d-%d", cfg.CodeLength, verification.MinCodeLength, verification.MaxCodeLength)
	}
	if cfg.TTL == 0 {
		cfg.TTL = verification.DefaultTTL
	}
	if cfg.TTL < verification.MinTTL || cfg.TTL > verification.MaxTTL {
		return nil, fmt.Errorf("verify: code lifetime %s is outside %s-%s", cfg.TTL, verification.MinTTL, verification.MaxTTL)
	}
	return &Services{cfg: cfg, cache: newServiceCache()}, nil
}

// New returns a new service of the account with this server's default
// settings, not yet stored (Create stores it).
func (s *Services) New(accountSID, name string) verification.Service {
	return verification.Service{
		SID: otpgate.NewSID(otpgate.PrefixService), AccountSID: accountSID, Name: name,
		CodeLength: s.cfg.CodeLength, TTL: s.cfg.TTL, CreatedAt: s.cfg.Clock.Now().UTC(),
	}
}

// Get returns the account's service of that name, from this node's cache
// (up to serviceCacheTTL old) or the store; store.ErrNotFound when there is
// none. A caller that changes the service reads it with Update instead.
func (s *Services) Get(ctx context.Context, accountSID, name string) (verification.Service, error) {
	now := s.cfg.Clock.Now()
	if svc, ok := s.cache.byName(accountSID, name, now); ok {
		return svc, nil
	}
	gen := s.cache.generation()
	svc, err := s.cfg.Store.Service(ctx, accountSID, name)
	if err != nil {
		return verification.Service{}, err
	}
	s.cache.put(svc, now, gen)
	return svc, nil
}

// BySID returns a service from this node's cache or the store.
func (s *Services) BySID(ctx context.Context, sid string) (verification.Service, error) {
	now := s.cfg.Clock.Now()
	if svc, ok := s.cache.bySID(sid, now); ok {
		return svc, nil
	}
	gen := s.cache.generation()
	svc, err := s.cfg.Store.ServiceBySID(ctx, sid)
	if err != nil {
		return verification.Service{}, err
	}
	s.cache.put(svc, now, gen)
	return svc, nil
}

// Create stores svc (see New), unless the account has a service of that
// name already: then it returns that one, and created is false.
func (s *Services) Create(ctx context.Context, svc verification.Service) (_ verification.Service, created bool, err error) {
	gen := s.cache.generation()
	got, err := s.cfg.Store.CreateService(ctx, svc)
	if err != nil {
		return verification.Service{}, false, err
	}
	s.cache.put(got, s.cfg.Clock.Now(), gen)
	return got, got.SID == svc.SID, nil
}

// Update changes the account's service sid: it reads it from the store
// (never the cache, which may be older), lets change set its settings,
// stores them and drops the service from this node's cache. A service
// keeps its SID, account, name and creation time whatever change does. An
// error of change is returned as it is, and nothing is stored;
// store.ErrNotFound when the account has no service sid.
func (s *Services) Update(ctx context.Context, accountSID, sid string, change func(*verification.Service) error) (before, after verification.Service, err error) {
	before, err = s.cfg.Store.ServiceBySID(ctx, sid)
	if err == nil && before.AccountSID != accountSID {
		err = store.ErrNotFound
	}
	if err != nil {
		return verification.Service{}, verification.Service{}, err
	}
	after = before
	after.Texts.Templates = maps.Clone(before.Texts.Templates)
	if err := change(&after); err != nil {
		return verification.Service{}, verification.Service{}, err
	}
	after.SID, after.AccountSID, after.Name, after.CreatedAt = before.SID, before.AccountSID, before.Name, before.CreatedAt
	err = s.cfg.Store.UpdateService(ctx, after)
	s.cache.forget(before) // also when the write failed: it may have been made
	if err != nil {
		return verification.Service{}, verification.Service{}, err
	}
	return before, after, nil
}

// Delete deletes the account's service sid and its verifications (their
// codes stop verifying) and drops it from this node's cache.
func (s *Services) Delete(ctx context.Context, accountSID, sid string) error {
	err := s.cfg.Store.DeleteService(ctx, accountSID, sid)
	s.cache.forgetSID(sid)
	return err
}

// serviceCache keeps service records for a few seconds: looking one up is
// on every request's path. Services drops a service it changes; a change
// made elsewhere (another node, `otpgate services set` while the server
// runs) applies here within serviceCacheTTL.
type serviceCache struct {
	mu    sync.RWMutex
	names map[serviceKey]cached
	sids  map[string]cached
	// gen counts the forgets: a record read from the store before a forget
	// is not put after it (it may be the old one).
	gen uint64
}

type serviceKey struct{ account, name string }

type cached struct {
	verification.Service
	until time.Time
}

const (
	serviceCacheTTL   = 5 * time.Second
	maxCachedServices = 100_000
)

func newServiceCache() *serviceCache {
	return &serviceCache{names: map[serviceKey]cached{}, sids: map[string]cached{}}
}

func (c *serviceCache) byName(account, name string, now time.Time) (verification.Service, bool) {
	c.mu.RLock()
	e, ok := c.names[serviceKey{account, name}]
	c.mu.RUnlock()
	return e.Service, ok && now.Before(e.until)
}

func (c *serviceCache) bySID(sid string, now time.Time) (verification.Service, bool) {
	c.mu.RLock()
	e, ok := c.sids[sid]
	c.mu.RUnlock()
	return e.Service, ok && now.Before(e.until)
}

func (c *serviceCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put keeps svc, read from the store at generation gen, unless a service
// was forgotten since.
func (c *serviceCache) put(svc verification.Service, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.names) >= maxCachedServices {
		clear(c.names)
		clear(c.sids)
	}
	e := cached{svc, now.Add(serviceCacheTTL)}
	c.names[serviceKey{svc.AccountSID, svc.Name}] = e
	c.sids[svc.SID] = e
}

func (c *serviceCache) forget(svc verification.Service) {
	c.mu.Lock()
	c.gen++
	delete(c.names, serviceKey{svc.AccountSID, svc.Name})
	delete(c.sids, svc.SID)
	c.mu.Unlock()
}

func (c *serviceCache) forgetSID(sid string) {
	c.mu.Lock()
	c.gen++
	if e, ok := c.sids[sid]; ok { // put keeps both, so this finds its name
		delete(c.names, serviceKey{e.AccountSID, e.Name})
		delete(c.sids, sid)
	}
	c.mu.Unlock()
}

// SetFallback applies a service's fallback settings as an API gives them
// (nil: unchanged): channel is "email" or "" for none (the one order is
// SMS, then email); after is how many seconds a code SMS may go
// undelivered before the code goes by email, verification's
// MinFallbackAfter-MaxFallbackAfter.
func SetFallback(svc *verification.Service, channel, after *string) error {
	if channel != nil {
		switch c := strings.ToLower(strings.TrimSpace(*channel)); c {
		case "", verification.FallbackEmail:
			svc.FallbackChannel = c
		default:
			return otpgate.FieldError("fallback_channel", otpgate.InvalidField, " %q: email, or empty for none (a code SMS that fails or is not delivered in time is followed by a code by email)", *channel)
		}
	}
	if after != nil {
		n, err := strconv.Atoi(strings.TrimSpace(*after))
		d := time.Duration(n) * time.Second
		if err != nil || d < verification.MinFallbackAfter || d > verification.MaxFallbackAfter {
			return otpgate.FieldError("fallback_after", otpgate.InvalidField, " %q: the seconds a code SMS may go undelivered before the code goes by email, %d-%d (default %d)",
				*after, int(verification.MinFallbackAfter.Seconds()), int(verification.MaxFallbackAfter.Seconds()), int(verification.DefaultFallbackAfter.Seconds()))
		}
		svc.FallbackAfter = d
	}
	return nil
}
