package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/store"
)

// smppTests cover what the SMPP connector keeps: part ids for receipts,
// receipts that came first, parts of long inbound messages, and listing.
var smppTests = []testCase{
	{"PartReceiptFindsMessageByAnyKey", func(t *testing.T, s store.Store) {
		MustUpdate(t, s, func(tx store.Tx) error {
			if err := tx.InsertMessage(newMessage("AC1", "SM1")); err != nil {
				return err
			}
			return tx.InsertMessageParts("SM1", "zain", []string{"7b", "7c", "7d"})
		})
		var sid string
		var parts []store.PartStatus
		MustUpdate(t, s, func(tx store.Tx) error {
			var err error
			sid, parts, err = tx.PartReceipt("zain", []string{"124", "7c"}, store.MsgDelivered, 0)
			return err
		})
		want := []store.PartStatus{{Part: 1}, {Part: 2, Status: store.MsgDelivered}, {Part: 3}}
		if sid != "SM1" || !slices.Equal(parts, want) {
			t.Fatalf("PartReceipt = %s %v, want SM1 %v", sid, parts, want)
		}
		err := s.Update(ctx, func(tx store.Tx) error {
			_, _, err := tx.PartReceipt("orange", []string{"7c"}, store.MsgDelivered, 0)
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a receipt on another connector found a part: %v", err)
		}
	}},
	{"OrphanReceiptsAreTakenOnce", func(t *testing.T, s store.Store) {
		MustUpdate(t, s, func(tx store.Tx) error {
			return tx.InsertOrphanReceipt(store.OrphanReceipt{Connector: "zain", SMSCID: "99", Status: store.MsgUndelivered, ErrorCode: 11, ErrorMessage: "x", ReceivedAt: at(0)})
		})
		var got []store.OrphanReceipt
		MustUpdate(t, s, func(tx store.Tx) error {
			var err error
			got, err = tx.TakeOrphanReceipts("zain", []string{"63", "99"})
			return err
		})
		if len(got) != 1 || got[0].SMSCID != "99" || got[0].ErrorCode != 11 || !got[0].ReceivedAt.Equal(at(0)) {
			t.Fatalf("TakeOrphanReceipts = %+v", got)
		}
		MustUpdate(t, s, func(tx store.Tx) error {
			var err error
			got, err = tx.TakeOrphanReceipts("zain", []string{"99"})
			return err
		})
		if len(got) != 0 {
			t.Fatalf("an orphan receipt was taken twice: %+v", got)
		}
	}},
	{"InboundPartsCollectInOrder", func(t *testing.T, s store.Store) {
		p := store.InboundPart{Connector: "zain", From: "+962790000000", To: "MyApp", Ref: 7, Total: 3, ReceivedAt: at(0)}
		add := func(seq int, text string) []store.InboundPart {
			q := p
			q.Seq, q.Text = seq, text
			var parts []store.InboundPart
			MustUpdate(t, s, func(tx store.Tx) error {
				var err error
				parts, err = tx.AddInboundPart(q)
				return err
			})
			return parts
		}
		add(3, "c")
		add(1, "a")
		if got := add(1, "a"); len(got) != 2 {
			t.Fatalf("a repeated part counted twice: %d parts", len(got))
		}
		got := add(2, "b")
		if len(got) != 3 || got[0].Text != "a" || got[1].Text != "b" || got[2].Text != "c" {
			t.Fatalf("parts = %+v, want a, b, c in order", got)
		}
		MustUpdate(t, s, func(tx store.Tx) error { return tx.DeleteInboundParts(p) })
		if got := add(1, "new"); len(got) != 1 {
			t.Fatalf("parts left after DeleteInboundParts: %+v", got)
		}
	}},
	{"MessagesNewestFirstByDirection", func(t *testing.T, s store.Store) {
		MustUpdate(t, s, func(tx store.Tx) error {
			for i, sid := range []string{"SM1", "SM2", "SM3"} {
				m := newMessage("AC1", sid)
				m.CreatedAt = at(time.Duration(i) * time.Second)
				if sid == "SM2" {
					m.Direction = "inbound"
				}
				if err := tx.InsertMessage(m); err != nil {
					return err
				}
			}
			return tx.InsertMessage(newMessage("AC2", "SM4"))
		})
		all, err := s.Messages(ctx, store.MessageFilter{AccountSID: "AC1"})
		if err != nil || len(all) != 3 || all[0].SID != "SM3" || all[2].SID != "SM1" {
			t.Fatalf("Messages = %v, %v", all, err)
		}
		in, err := s.Messages(ctx, store.MessageFilter{AccountSID: "AC1", Direction: "inbound"})
		if err != nil || len(in) != 1 || in[0].SID != "SM2" {
			t.Fatalf("inbound Messages = %v, %v", in, err)
		}
		one, err := s.Messages(ctx, store.MessageFilter{AccountSID: "AC1", Limit: 1})
		if err != nil || len(one) != 1 {
			t.Fatalf("Limit 1: %v, %v", one, err)
		}
	}},
}
