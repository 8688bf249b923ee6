package verify_test

import (
	"errors"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
	"github.com/otpgate/otpgate/internal/verify"
)

// A service's settings changed through Services apply to this node's very
// next code: the cached copy is dropped, not left to run out.
func TestServicesUpdateAppliesAtOnce(t *testing.T) {
	e := newEnv(t)
	first := e.send(t, "0790320012")
	if first.Service.CodeLength != verification.DefaultCodeLength {
		t.Fatalf("a first code made a service of %d digits, want the default %d", first.Service.CodeLength, verification.DefaultCodeLength)
	}
	before, after, err := e.svcs.Update(ctx, "AC1", first.Service.SID, func(svc *verification.Service) error {
		svc.CodeLength = 8
		svc.Name, svc.AccountSID = "renamed", "AC2" // kept whatever change does
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if before.CodeLength != verification.DefaultCodeLength || after.CodeLength != 8 || after.Name != "login" || after.AccountSID != "AC1" {
		t.Fatalf("Update: before %+v, after %+v", before, after)
	}
	e.send(t, "0790320013")
	if code := e.box.last(t); len(code) != 8 {
		t.Fatalf("the code sent just after the change is %q; want 8 digits", code)
	}
	stored, err := e.st.Service(ctx, "AC1", "login")
	if err != nil || stored.CodeLength != 8 {
		t.Fatalf("stored service %+v, %v", stored, err)
	}
}

func TestServicesUpdateRefusals(t *testing.T) {
	e := newEnv(t)
	svc := e.send(t, "0790320012").Service
	if err := e.st.InsertAccount(ctx, account.Account{SID: "AC2", Name: "other", TokenHash: make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	called := false
	_, _, err := e.svcs.Update(ctx, "AC2", svc.SID, func(*verification.Service) error { called = true; return nil })
	if !errors.Is(err, store.ErrNotFound) || called {
		t.Fatalf("another account's Update: %v (change called: %v); want store.ErrNotFound before change", err, called)
	}
	bad := errors.New("refused")
	_, _, err = e.svcs.Update(ctx, "AC1", svc.SID, func(s *verification.Service) error {
		s.CodeLength = 4
		return bad
	})
	if !errors.Is(err, bad) {
		t.Fatalf("Update whose change fails: %v", err)
	}
	if got, _ := e.st.Service(ctx, "AC1", "login"); got.CodeLength != svc.CodeLength {
		t.Fatalf("a refused change was stored: %+v", got)
	}
}

// A deleted service is gone from this node at once: the next code makes a
// new one with today's defaults.
func TestServicesDeleteForgets(t *testing.T) {
	e := newEnv(t)
	svc := e.send(t, "0790320012").Service
	if err := e.svcs.Delete(ctx, "AC1", svc.SID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svcs.Get(ctx, "AC1", "login"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete: %v; want store.ErrNotFound", err)
	}
	if again := e.send(t, "0790320012").Service; again.SID == svc.SID {
		t.Fatalf("the code after the delete used the deleted service %s", svc.SID)
	}
}

func TestServicesCreate(t *testing.T) {
	e := newEnv(t)
	e.clk.Add(time.Second)
	made := e.svcs.New("AC1", "signup")
	if made.CodeLength != verification.DefaultCodeLength || made.TTL != verification.DefaultTTL || !made.CreatedAt.Equal(e.clk.Now()) {
		t.Fatalf("New: %+v", made)
	}
	got, created, err := e.svcs.Create(ctx, made)
	if err != nil || !created || got.SID != made.SID {
		t.Fatalf("Create: %+v, %v, %v", got, created, err)
	}
	got, created, err = e.svcs.Create(ctx, e.svcs.New("AC1", "signup"))
	if err != nil || created || got.SID != made.SID {
		t.Fatalf("Create of a name taken: %+v, %v, %v; want the existing service", got, created, err)
	}
	if _, err := verify.NewServices(verify.ServicesConfig{Store: e.st, CodeLength: 3}); err == nil {
		t.Fatal("NewServices took a code length of 3")
	}
}
