package sqlstore

import (
	"cmp"
	"slices"
	"strings"

	"github.com/otpgate/otpgate/internal/message"
)

// ListLimit is a listing's page size: n, or 50 when it is not set.
func ListLimit(n int) int {
	if n <= 0 {
		return 50
	}
	return n
}

// PageOrder is the order a listing of messages reads its rows in: newest
// first ("DESC"), but oldest first ("ASC") when it pages back from a cursor
// (the page is then reversed by Page).
func PageOrder(c *message.Cursor) string {
	if c != nil && c.Before {
		return "ASC"
	}
	return "DESC"
}

// Page is a listing's rows, read in order, newest first.
func Page[T any](rows []T, order string) []T {
	if order == "ASC" {
		slices.Reverse(rows)
	}
	return rows
}

// SortClaimed orders the outbox messages a claim returned oldest due first
// (due[i] is items[i]'s due time before the claim), ties in SID order,
// which is creation order.
func SortClaimed(items []message.Outbound, due []int64) []message.Outbound {
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := cmp.Compare(due[a], due[b]); c != 0 {
			return c
		}
		return strings.Compare(items[a].SID, items[b].SID)
	})
	sorted := make([]message.Outbound, len(items))
	for i, j := range idx {
		sorted[i] = items[j]
	}
	return sorted
}
