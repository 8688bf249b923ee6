package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/otpgate/otpgate/internal/postgres"
	"github.com/otpgate/otpgate/internal/store"
)

// Three nodes adding to one account's safe list at once never take it past
// its cap: each change reads and writes the list under a lock every node
// takes.
func TestSafeListCapAcrossNodes(t *testing.T) {
	u := freshSchema(t)
	var nodes []*postgres.Store
	for i := range 3 {
		s, err := postgres.Open(context.Background(), u, postgres.Options{Writers: 4, Node: fmt.Sprintf("node%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		nodes = append(nodes, s)
	}
	const max, tries = 10, 30
	for round := range 10 {
		account := fmt.Sprintf("AC%d", round)
		var wg sync.WaitGroup
		errs := make([]error, tries)
		for i := range tries {
			wg.Go(func() {
				errs[i] = nodes[i%len(nodes)].SetGuardSafe(context.Background(), account, []string{fmt.Sprintf("+4477009%05d", i)}, nil, max)
			})
		}
		wg.Wait()
		added := 0
		for i, err := range errs {
			switch {
			case err == nil:
				added++
			case !errors.Is(err, store.ErrFull):
				t.Fatalf("round %d: SetGuardSafe %d: %v", round, i, err)
			}
		}
		l, err := nodes[0].GuardSafeList(context.Background(), account)
		if err != nil {
			t.Fatal(err)
		}
		if added != max || len(l) != max {
			t.Fatalf("round %d: %d additions over 3 nodes under a cap of %d: %d succeeded, the list holds %d", round, tries, max, added, len(l))
		}
	}
}
