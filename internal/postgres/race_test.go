package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/otpgate/otpgate/internal/postgres"
	"github.com/otpgate/otpgate/internal/storetest"
)

// Three nodes on one database take bursts of sends to one number at once:
// storetest.SendRace, each send through the next node.
func TestSendRaceAcrossNodes(t *testing.T) {
	storetest.SendRace(t, openNodes(t, 3)...)
}

// One node records outcomes while another applies their receipts at once:
// storetest.ReceiptRace.
func TestReceiptRaceAcrossNodes(t *testing.T) {
	nodes := openNodes(t, 2)
	storetest.ReceiptRace(t, nodes[0], nodes[1])
}

// Three nodes take wrong codes for one verification at once:
// storetest.CheckRace. The limit on checks holds across nodes.
func TestCheckRaceAcrossNodes(t *testing.T) {
	storetest.CheckRace(t, openNodes(t, 3)...)
}

// A check of a verification whose codes cannot be read fails and counts
// nothing: storetest.UnreadableCheck.
func TestUnreadableCheckCountsNothing(t *testing.T) {
	u := freshSchema(t)
	s, err := postgres.Open(context.Background(), u, postgres.Options{Node: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	storetest.UnreadableCheck(t, s, func(sid string) func() {
		var codes []byte
		if err := conn.QueryRow(context.Background(), `SELECT codes FROM verifications WHERE sid = $1`, sid).Scan(&codes); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(context.Background(), `UPDATE verifications SET codes = '\x010203' WHERE sid = $1`, sid); err != nil {
			t.Fatal(err)
		}
		return func() {
			if _, err := conn.Exec(context.Background(), `UPDATE verifications SET codes = $1 WHERE sid = $2`, codes, sid); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// openNodes opens n nodes on one fresh schema, closed when the test ends.
func openNodes(t *testing.T, n int) []storetest.Store {
	u := freshSchema(t)
	var nodes []storetest.Store
	for i := range n {
		s, err := postgres.Open(context.Background(), u, postgres.Options{Node: fmt.Sprintf("node-%d", i+1)})
		if err != nil {
			t.Fatalf("Open node %d: %v", i+1, err)
		}
		t.Cleanup(func() { s.Close() })
		nodes = append(nodes, s)
	}
	return nodes
}
