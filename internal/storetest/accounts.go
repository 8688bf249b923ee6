package storetest

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/policy"
)

var accountTests = []testCase{
	{"Tokens", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		MustInsertAccount(t, s, newAccount("AC2"))
		v0, err := s.AccountsVersion(ctx)
		check(t, "AccountsVersion", err)
		changed := func(what string) {
			t.Helper()
			v, err := s.AccountsVersion(ctx)
			check(t, "AccountsVersion", err)
			if v == v0 {
				t.Errorf("AccountsVersion unchanged after %s", what)
			}
			v0 = v
		}
		byID := func() map[string]account.Account {
			all, err := s.Accounts(ctx)
			check(t, "Accounts", err)
			m := map[string]account.Account{}
			for _, a := range all {
				m[a.SID] = a
			}
			return m
		}
		wantNotFound(t, "DeleteSecondaryToken without one", s.DeleteSecondaryToken(ctx, "AC1"))
		wantNotFound(t, "PromoteSecondaryToken without one", s.PromoteSecondaryToken(ctx, "AC1"))
		check(t, "SetSecondaryToken", s.SetSecondaryToken(ctx, "AC1", hash("second"), []byte("sealed second"), at(time.Hour)))
		changed("a secondary token")
		a := byID()["AC1"]
		if !bytes.Equal(a.SecondaryHash, hash("second")) || !a.SecondaryCreatedAt.Equal(at(time.Hour)) || !bytes.Equal(a.TokenHash, hash("token AC1")) {
			t.Fatalf("with a secondary token: %+v", a)
		}
		if b := byID()["AC2"]; b.SecondaryHash != nil {
			t.Fatalf("another account got a secondary token: %+v", b)
		}
		check(t, "PromoteSecondaryToken", s.PromoteSecondaryToken(ctx, "AC1"))
		changed("a promotion")
		a = byID()["AC1"]
		if !bytes.Equal(a.TokenHash, hash("second")) || a.SecondaryHash != nil {
			t.Fatalf("after the promotion: %+v", a)
		}
		sealed, err := s.AccountTokenSealed(ctx, "AC1")
		if err != nil || string(sealed) != "sealed second" {
			t.Fatalf("the sealed token after the promotion: %q %v", sealed, err)
		}
		wantNotFound(t, "PromoteSecondaryToken again", s.PromoteSecondaryToken(ctx, "AC1"))
		check(t, "SetSecondaryToken", s.SetSecondaryToken(ctx, "AC1", hash("third"), nil, at(2*time.Hour)))
		check(t, "DeleteSecondaryToken", s.DeleteSecondaryToken(ctx, "AC1"))
		changed("deleting a secondary token")
		if a := byID()["AC1"]; a.SecondaryHash != nil || !bytes.Equal(a.TokenHash, hash("second")) {
			t.Fatalf("after deleting the secondary: %+v", a)
		}
		check(t, "SetPrimaryToken", s.SetPrimaryToken(ctx, "AC1", hash("fourth"), []byte("sealed fourth")))
		changed("a new primary token")
		if a := byID()["AC1"]; !bytes.Equal(a.TokenHash, hash("fourth")) {
			t.Fatalf("after SetPrimaryToken: %+v", a)
		}
		check(t, "SetAccountDisabled", s.SetAccountDisabled(ctx, "AC2", true))
		changed("disabling an account")
		if a, err := s.Account(ctx, "AC2"); err != nil || !a.Disabled || !byID()["AC2"].Disabled || byID()["AC1"].Disabled {
			t.Fatalf("after disabling AC2: %+v %v", a, err)
		}
		check(t, "SetAccountDisabled", s.SetAccountDisabled(ctx, "AC2", false))
		changed("enabling it")
		if byID()["AC2"].Disabled {
			t.Fatal("AC2 still disabled")
		}
		wantNotFound(t, "SetPrimaryToken of an unknown account", s.SetPrimaryToken(ctx, "AC9", hash("x"), nil))
		wantNotFound(t, "SetAccountDisabled of an unknown account", s.SetAccountDisabled(ctx, "AC9", true))
		wantNotFound(t, "SetSecondaryToken of an unknown account", s.SetSecondaryToken(ctx, "AC9", hash("x"), nil, at(0)))
	}},
	{"InsertThenReadAndUnknown", func(t *testing.T, s Store) {
		if all, err := s.Accounts(ctx); err != nil || len(all) != 0 {
			t.Errorf("Accounts of an empty store = %v, %v; want none, nil", all, err)
		}
		a1, a2 := newAccount("AC1"), newAccount("AC2")
		a2.CreatedAt = at(time.Nanosecond)
		a2.TokenSealed = []byte("sealed token of AC2")
		MustInsertAccount(t, s, a1)
		MustInsertAccount(t, s, a2)
		for _, want := range []account.Account{a1, a2} {
			got, err := s.Account(ctx, want.SID)
			check(t, fmt.Sprintf("Account(%s)", want.SID), err)
			want.TokenSealed = nil // kept apart, for signing
			assertEqual(t, "Account("+want.SID+")", got, want)
		}
		all, err := s.Accounts(ctx)
		check(t, "Accounts", err)
		slices.SortFunc(all, func(a, b account.Account) int { return cmp.Compare(a.SID, b.SID) })
		a2.TokenSealed = nil
		assertEqual(t, "Accounts", all, []account.Account{a1, a2})
		_, err = s.Account(ctx, "AC3")
		wantNotFound(t, "Account of an unknown SID", err)
	}},
	{"SealedToken", func(t *testing.T, s Store) {
		a := newAccount("AC1")
		a.TokenSealed = []byte{0, 1, 2, 255}
		MustInsertAccount(t, s, a)
		MustInsertAccount(t, s, newAccount("AC2")) // none kept
		got, err := s.AccountTokenSealed(ctx, "AC1")
		check(t, "AccountTokenSealed(AC1)", err)
		assertEqual(t, "AccountTokenSealed(AC1)", got, a.TokenSealed)
		if got, err := s.AccountTokenSealed(ctx, "AC2"); err != nil || len(got) != 0 {
			t.Errorf("AccountTokenSealed of an account without one = %x, %v; want none", got, err)
		}
		_, err = s.AccountTokenSealed(ctx, "AC3")
		wantNotFound(t, "AccountTokenSealed of an unknown account", err)
	}},
	{"SetSMSURL", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		check(t, "SetAccountSMSURL", s.SetAccountSMSURL(ctx, "AC1", "https://example.com/sms?x=1"))
		got, err := s.Account(ctx, "AC1")
		if err != nil || got.SMSURL != "https://example.com/sms?x=1" {
			t.Errorf("Account after SetAccountSMSURL: %q, %v", got.SMSURL, err)
		}
		check(t, "SetAccountSMSURL to none", s.SetAccountSMSURL(ctx, "AC1", ""))
		if got, _ := s.Account(ctx, "AC1"); got.SMSURL != "" {
			t.Errorf("SMS URL %q after clearing it", got.SMSURL)
		}
		wantNotFound(t, "SetAccountSMSURL of an unknown account", s.SetAccountSMSURL(ctx, "AC9", "https://example.com/"))
	}},
	{"SetCountries", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		if got, err := s.Account(ctx, "AC1"); err != nil || got.Countries != "" {
			t.Errorf("a new account's countries: %q, %v; want none (the server's region)", got.Countries, err)
		}
		check(t, "SetAccountCountries", s.SetAccountCountries(ctx, "AC1", "GB,JO,SA"))
		if got, err := s.Account(ctx, "AC1"); err != nil || got.Countries != "GB,JO,SA" {
			t.Errorf("Account after SetAccountCountries: %q, %v", got.Countries, err)
		}
		check(t, "SetAccountCountries to any", s.SetAccountCountries(ctx, "AC1", "*"))
		if got, _ := s.Account(ctx, "AC1"); got.Countries != "*" {
			t.Errorf("countries %q after setting any", got.Countries)
		}
		wantNotFound(t, "SetAccountCountries of an unknown account", s.SetAccountCountries(ctx, "AC9", "JO"))
	}},
	{"Policy", func(t *testing.T, s Store) {
		// Every field set, with the zero values a pointer can hold (no
		// budget, not transactional), which are not the same as unset.
		full := newAccount("AC1")
		full.Policy = policy.Policy{Countries: "JO,SA", PerNumber: &policy.Rate{Max: 5, Window: 10 * time.Minute},
			DailyBudget: new(0), Messages: policy.MessagesCodes, Transactional: new(false)}
		some := newAccount("AC2")
		some.Policy = policy.Policy{DailyBudget: new(250), Transactional: new(true)}
		none := newAccount("AC3")
		for _, a := range []account.Account{full, some, none} {
			MustInsertAccount(t, s, a)
		}
		read := func(what string, want ...account.Account) {
			t.Helper()
			for _, w := range want {
				got, err := s.Account(ctx, w.SID)
				check(t, "Account("+w.SID+")", err)
				assertEqual(t, what+": Account("+w.SID+").Policy", got.Policy, w.Policy)
			}
			all, err := s.Accounts(ctx)
			check(t, "Accounts", err)
			slices.SortFunc(all, func(a, b account.Account) int { return cmp.Compare(a.SID, b.SID) })
			if len(all) != len(want) {
				t.Fatalf("%s: Accounts = %d accounts, want %d", what, len(all), len(want))
			}
			for i, w := range want {
				assertEqual(t, what+": Accounts' "+w.SID+".Policy", all[i].Policy, w.Policy)
			}
		}
		read("inserted", full, some, none)

		// A new policy replaces the old one whole: what it leaves unset is
		// unset again. The account's own countries are apart from it.
		check(t, "SetAccountCountries", s.SetAccountCountries(ctx, "AC1", "JO"))
		full.Policy = policy.Policy{Countries: "*", Messages: policy.MessagesAny}
		check(t, "SetAccountPolicy(AC1)", s.SetAccountPolicy(ctx, "AC1", full.Policy))
		none.Policy = policy.Policy{PerNumber: &policy.Rate{Max: 3, Window: time.Hour}}
		check(t, "SetAccountPolicy(AC3)", s.SetAccountPolicy(ctx, "AC3", none.Policy))
		some.Policy = policy.Policy{}
		check(t, "SetAccountPolicy(AC2, none)", s.SetAccountPolicy(ctx, "AC2", some.Policy))
		read("after SetAccountPolicy", full, some, none)
		if a, err := s.Account(ctx, "AC1"); err != nil || a.Countries != "JO" {
			t.Errorf("AC1's own countries after SetAccountPolicy: %q, %v; want JO", a.Countries, err)
		}
		wantNotFound(t, "SetAccountPolicy of an unknown account", s.SetAccountPolicy(ctx, "AC9", full.Policy))
	}},
	{"VersionChangesOnlyOnInsert", func(t *testing.T, s Store) {
		version := func() int64 {
			t.Helper()
			v, err := s.AccountsVersion(ctx)
			check(t, "AccountsVersion", err)
			return v
		}
		v0 := version()
		if v := version(); v != v0 {
			t.Errorf("AccountsVersion changed from %d to %d with no write", v0, v)
		}
		MustInsertAccount(t, s, newAccount("AC1"))
		v1 := version()
		if v1 == v0 {
			t.Errorf("AccountsVersion = %d after an insert, unchanged", v1)
		}
		// Other writes, and an insert that fails, leave it alone.
		_, err := s.CreateService(ctx, newService("AC1", "SV1", "login"))
		check(t, "CreateService", err)
		mustSend(t, s, newMessage("AC1", "SM1", at(0)))
		check(t, "SetAccountSMSURL", s.SetAccountSMSURL(ctx, "AC1", "https://example.com/"))
		if err := s.InsertAccount(ctx, newAccount("AC1")); err == nil {
			t.Error("second InsertAccount(AC1) succeeded")
		}
		if v := version(); v != v1 {
			t.Errorf("AccountsVersion changed from %d to %d with no account added", v1, v)
		}
		MustInsertAccount(t, s, newAccount("AC2"))
		if v := version(); v == v1 || v == v0 {
			t.Errorf("AccountsVersion = %d after a second insert, want a new value (had %d, then %d)", v, v0, v1)
		}
	}},
	{"DuplicateSIDFails", func(t *testing.T, s Store) {
		first := newAccount("AC1")
		MustInsertAccount(t, s, first)
		second := first
		second.Name, second.TokenHash, second.CreatedAt = "Impostor", hash("other token"), at(time.Hour)
		if err := s.InsertAccount(ctx, second); err == nil {
			t.Fatal("InsertAccount with a duplicate SID succeeded")
		}
		got, err := s.Account(ctx, "AC1")
		check(t, "Account(AC1)", err)
		assertEqual(t, "Account(AC1)", got, first)
		if all, err := s.Accounts(ctx); err != nil || len(all) != 1 {
			t.Errorf("Accounts = %d accounts, %v; want 1", len(all), err)
		}
	}},
}
