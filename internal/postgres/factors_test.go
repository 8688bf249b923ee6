package postgres_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/factor"
	"github.com/otpgate/otpgate/internal/postgres"
	"github.com/otpgate/otpgate/internal/sqlite"
)

// otpgate copy moves TOTP entities, factors (sealed secrets, last step,
// failures) and challenges, to the nanosecond.
func TestCopyFactorsFromSQLite(t *testing.T) {
	ctx := context.Background()
	u := freshSchema(t)
	path := filepath.Join(t.TempDir(), "otpgate.db")
	src, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	e := factor.Entity{SID: "YE1", AccountSID: "AC1", ServiceSID: "VA1", Identity: "user-0001", CreatedAt: at, UpdatedAt: at}
	f := factor.Factor{SID: "YF1", AccountSID: "AC1", ServiceSID: "VA1", EntitySID: "YE1", Identity: "user-0001", FriendlyName: "Ann",
		Status: factor.Unverified, Sealed: []byte("sealed"), Config: factor.DefaultConfig, CreatedAt: at, UpdatedAt: at}
	if _, err := src.CreateFactor(ctx, e, f); err != nil {
		t.Fatal(err)
	}
	c := factor.Challenge{SID: "YC1", AccountSID: "AC1", ServiceSID: "VA1", EntitySID: "YE1", Identity: "user-0001", FactorSID: "YF1", CreatedAt: at, UpdatedAt: at}
	if _, _, err := src.AttemptFactor(ctx, factor.Attempt{AccountSID: "AC1", FactorSID: "YF1", Match: true, Step: 7, Now: at.Add(time.Nanosecond),
		Max: 5, Since: at.Add(-time.Minute), Challenge: &c}); err != nil {
		t.Fatal(err)
	}
	type snapshot struct {
		Factor    factor.Factor
		Entities  []factor.Entity
		Challenge factor.Challenge
	}
	read := func(s factor.Store) snapshot {
		t.Helper()
		var sn snapshot
		var errs [3]error
		sn.Factor, errs[0] = s.Factor(ctx, "AC1", "YF1")
		sn.Entities, errs[1] = s.Entities(ctx, "AC1", "VA1")
		sn.Challenge, errs[2] = s.Challenge(ctx, "AC1", "YC1")
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		return sn
	}
	want := read(src)
	if want.Factor.LastStep != 7 || want.Challenge.Status != factor.Approved {
		t.Fatalf("the SQLite store holds %+v", want)
	}
	src.Close()
	if err := postgres.CopyFromSQLite(ctx, path, u, nil); err != nil {
		t.Fatalf("CopyFromSQLite: %v", err)
	}
	if got := read(MustOpen(t, u)); !reflect.DeepEqual(got, want) {
		t.Errorf("after the copy:\n%+v\nwant\n%+v", got, want)
	}
}
