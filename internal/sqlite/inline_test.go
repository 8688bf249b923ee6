package sqlite_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/message"
)

// A message delivered in the write that stores it (the sandbox's, inline)
// is the very row the dispatcher's way leaves (stored queued, then its
// outcome recorded): every column but its SID, the outbox's included.
func TestDeliveredInItsOwnWriteIsTheOutcomesRow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otpgate.db")
	s := MustOpen(t, path)
	if err := s.InsertAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	at := base.Add(time.Second)
	deliver := func(sid string) (message.Message, message.Outbound, message.Outcome) {
		m, o := msg, outbound
		m.SID, m.VerificationSID, o.SID = sid, "", sid
		o.LeaseUntil = base.Add(time.Minute)
		e := sandboxEntry
		e.SID, e.CreatedAt = sid, at
		return m, o, message.Outcome{SID: sid, Status: message.Delivered, Connector: "sandbox", At: at, Inbox: &e}
	}
	m, o, out := deliver("SMoutbox")
	if err := s.InsertSend(ctx, m, o, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOutcome(ctx, out); err != nil {
		t.Fatal(err)
	}
	m, o, out = deliver("SMinline")
	o.Delivered = &out
	if err := s.InsertSend(ctx, m, o, nil); err != nil {
		t.Fatal(err)
	}
	db := mustDB(t, path)
	row := func(table, sid string) map[string]any {
		rows, err := db.Query(fmt.Sprintf(`SELECT * FROM %s WHERE sid = ?`, table), sid)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		if !rows.Next() {
			t.Fatalf("%s: no row %s", table, sid)
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		got := map[string]any{}
		for i, c := range cols {
			if c != "sid" {
				got[c] = vals[i]
			}
		}
		return got
	}
	for _, table := range []string{"messages", "sandbox_messages"} {
		if a, b := row(table, "SMoutbox"), row(table, "SMinline"); !reflect.DeepEqual(a, b) {
			t.Errorf("%s: the dispatcher's way left\n%v\nthe inline one\n%v", table, a, b)
		}
	}
	if got := row("messages", "SMinline"); got["status"] != "delivered" || got["ob_queued"] != int64(0) || got["final_at"] != at.UnixNano() {
		t.Errorf("the inline row: %v; want delivered, out of the outbox, final at %v", got, at)
	}
}
