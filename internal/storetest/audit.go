package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/audit"
)

func newAudit(n int, accountSID, kind string, d time.Duration) audit.Row {
	return audit.Row{
		ID: fmt.Sprintf("AU%032x", n), At: at(d), AccountSID: accountSID, Actor: "operator:CT1", ActorName: "ops CT1",
		Kind: kind, Action: "set", Target: fmt.Sprintf("target %d", n), Before: `{"countries":"JO"}`, After: `{"countries":"JO,SA"}`,
		Outcome: "done", RequestID: fmt.Sprintf("req-%d", n),
	}
}

func auditIDs(es []audit.Row) string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID[len(e.ID)-2:] // the number, in two hex digits
	}
	return fmt.Sprint(ids)
}

// auditEntries makes seven entries, returned newest first: three share a
// time (their IDs order them), two are a nanosecond apart, one is the
// operator's own (no account) and one is a refusal.
func auditEntries() []audit.Row {
	e := []audit.Row{
		newAudit(7, "AC1", "policy", 3*time.Minute),
		newAudit(6, "AC2", "policy", 2*time.Minute),
		newAudit(5, "AC1", "policy", time.Minute),
		newAudit(4, "AC1", "safe_list", time.Minute),
		newAudit(3, "", "token", time.Minute),
		newAudit(2, "AC2", "token", time.Nanosecond),
		newAudit(1, "AC1", "policy", 0),
	}
	e[2].Outcome, e[2].Detail, e[2].After = "refused", "countries beyond the ceiling: GB", ""
	e[3].Action, e[3].Target, e[3].Before, e[3].After = "add", "+96279", "", `"+96279"`
	e[4].Action, e[4].Actor, e[4].ActorName, e[4].RequestID = "create", "cli", "root", ""
	return e
}

var auditTests = []testCase{
	{"ListAndFilter", func(t *testing.T, s Store) {
		all := auditEntries()
		for _, i := range []int{2, 4, 0, 6, 1, 3, 5} { // not in time or ID order
			check(t, "InsertAudit("+all[i].ID+")", s.InsertAudit(ctx, all[i]))
		}
		got, err := s.AuditLog(ctx, audit.Filter{Limit: 100})
		check(t, "AuditLog", err)
		assertEqual(t, "AuditLog (newest first)", got, all)
		for _, tt := range []struct {
			name string
			f    audit.Filter
			want string
		}{
			{"an account", audit.Filter{AccountSID: "AC1", Limit: 100}, "[07 05 04 01]"},
			{"a kind", audit.Filter{Kind: "policy", Limit: 100}, "[07 06 05 01]"},
			{"an account and a kind", audit.Filter{AccountSID: "AC1", Kind: "policy", Limit: 100}, "[07 05 01]"},
			{"an account with none", audit.Filter{AccountSID: "AC9", Limit: 100}, "[]"},
			{"a limit", audit.Filter{Limit: 2}, "[07 06]"},
			{"before a tie", audit.Filter{Before: &audit.Cursor{At: all[2].At, ID: all[2].ID}, Limit: 100}, "[04 03 02 01]"},
			{"before, at the same nanosecond and a lower ID", audit.Filter{Before: &audit.Cursor{At: at(time.Minute), ID: "AU"}, Limit: 100}, "[02 01]"},
			{"before, an account's", audit.Filter{AccountSID: "AC2", Before: &audit.Cursor{At: at(2 * time.Minute), ID: all[1].ID}, Limit: 100}, "[02]"},
		} {
			got, err := s.AuditLog(ctx, tt.f)
			check(t, "AuditLog("+tt.name+")", err)
			if g := auditIDs(got); g != tt.want {
				t.Errorf("AuditLog(%s) = %s, want %s", tt.name, g, tt.want)
			}
		}
		dup := newAudit(1, "AC2", "token", time.Hour)
		if err := s.InsertAudit(ctx, dup); err == nil {
			t.Error("a second entry with the same ID was stored")
		}
	}},
	{"Pages", func(t *testing.T, s Store) {
		all := auditEntries()
		for _, e := range all {
			check(t, "InsertAudit", s.InsertAudit(ctx, e))
		}
		// Page by page, each after the last of the one before: every entry
		// once, in order, whatever the page's size.
		for _, f := range []audit.Filter{{}, {AccountSID: "AC1"}, {Kind: "policy"}} {
			var want []audit.Row
			for _, e := range all {
				if (f.AccountSID == "" || e.AccountSID == f.AccountSID) && (f.Kind == "" || e.Kind == f.Kind) {
					want = append(want, e)
				}
			}
			for size := 1; size <= 3; size++ {
				f.Limit, f.Before = size, nil
				var got []audit.Row
				for range len(all) + 1 {
					page, err := s.AuditLog(ctx, f)
					check(t, "AuditLog", err)
					if len(page) > size {
						t.Fatalf("a page of %d entries under a limit of %d", len(page), size)
					}
					if len(page) == 0 {
						break
					}
					got = append(got, page...)
					last := page[len(page)-1]
					f.Before = &audit.Cursor{At: last.At.In(zone), ID: last.ID}
				}
				what := fmt.Sprintf("pages of %d (account %q, kind %q)", size, f.AccountSID, f.Kind)
				if g, w := auditIDs(got), auditIDs(want); g != w {
					t.Errorf("%s: %s, want %s", what, g, w)
				}
			}
		}
	}},
	{"Forget", func(t *testing.T, s Store) {
		all := auditEntries()
		for _, e := range all {
			check(t, "InsertAudit", s.InsertAudit(ctx, e))
		}
		// Older than a minute: the two entries at 0 and 1 ns; the three at
		// exactly a minute stay.
		n, err := s.ForgetAudit(ctx, at(time.Minute))
		if err != nil || n != 2 {
			t.Errorf("ForgetAudit = %d, %v; want 2", n, err)
		}
		got, err := s.AuditLog(ctx, audit.Filter{Limit: 100})
		check(t, "AuditLog", err)
		assertEqual(t, "AuditLog after ForgetAudit", got, all[:5])
		if n, err := s.ForgetAudit(ctx, at(time.Minute)); n != 0 || err != nil {
			t.Errorf("ForgetAudit again: %d, %v", n, err)
		}
	}},
}
