package postgres_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/operator"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/postgres"
	"github.com/otpgate/otpgate/internal/sqlite"
)

// otpgate copy moves an account's policy, the operator's tokens (one of
// them for one account) and the audit log, to the nanosecond. (The rest of
// what it moves: TestCopyFromSQLiteToPostgres, in cmd/otpgate.)
func TestCopyFromSQLite(t *testing.T) {
	ctx := context.Background()
	u := freshSchema(t)
	path := filepath.Join(t.TempDir(), "otpgate.db")
	src, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	acct := account.Account{SID: "AC1", Name: "Acme", TokenHash: []byte("hash"), CreatedAt: at,
		Policy: policy.Policy{Countries: "JO,SA", PerNumber: &policy.Rate{Max: 5, Window: time.Hour}, DailyBudget: new(0), Transactional: new(true)}}
	write := []error{
		src.InsertAccount(ctx, acct),
		src.SetAccountCountries(ctx, "AC1", "JO"),
		src.InsertOperatorToken(ctx, operator.Token{ID: "CT1", Name: "ops", Hash: []byte("h1"), CreatedAt: at}),
		src.InsertOperatorToken(ctx, operator.Token{ID: "CT2", Name: "acme's", AccountSID: "AC1", Hash: []byte("h2"), CreatedAt: at.Add(time.Nanosecond)}),
		src.InsertAudit(ctx, audit.Row{ID: "AU1", At: at, AccountSID: "AC1", Actor: "cli", ActorName: "root", Kind: "policy", Action: "set",
			Target: "AC1", Before: "", After: acct.Policy.Encode(), Outcome: "done"}),
		src.InsertAudit(ctx, audit.Row{ID: "AU2", At: at.Add(time.Nanosecond), Actor: "cli", ActorName: "root", Kind: "token", Action: "create",
			Target: "CT2", Outcome: "done", RequestID: "req"}),
	}
	for i, err := range write {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	type snapshot struct {
		Account account.Account
		Tokens  []operator.Token
		Audit   []audit.Row
	}
	read := func(s interface {
		Account(context.Context, string) (account.Account, error)
		OperatorTokens(context.Context) ([]operator.Token, error)
		AuditLog(context.Context, audit.Filter) ([]audit.Row, error)
	}) snapshot {
		t.Helper()
		var sn snapshot
		var errs [3]error
		sn.Account, errs[0] = s.Account(ctx, "AC1")
		sn.Tokens, errs[1] = s.OperatorTokens(ctx)
		sn.Audit, errs[2] = s.AuditLog(ctx, audit.Filter{Limit: 10})
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		return sn
	}
	want := read(src)
	if len(want.Tokens) != 2 || len(want.Audit) != 2 || want.Account.Policy.PerNumber == nil {
		t.Fatalf("the SQLite store holds %+v", want)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}

	copied := map[string]int64{}
	if err := postgres.CopyFromSQLite(ctx, path, u, func(table string, rows int64) { copied[table] = rows }); err != nil {
		t.Fatalf("CopyFromSQLite: %v", err)
	}
	if copied["accounts"] != 1 || copied["operator_tokens"] != 2 || copied["audit_log"] != 2 {
		t.Errorf("copied %v; want 1 account, 2 operator tokens, 2 audit entries", copied)
	}
	if got := read(MustOpen(t, u)); !reflect.DeepEqual(got, want) {
		t.Errorf("after the copy:\n%+v\nwant\n%+v", got, want)
	}
}
