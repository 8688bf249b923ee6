package main

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/policy"
)

// A burst to one number (a user tapping "resend", an app retrying, a
// script): 20 sends at once under a limit of 5 per number end in exactly 5
// x 201 and 15 x 429, never a 500, on one node (SQLite) and on two sharing
// a PostgreSQL database. Three shapes: through one service (its
// verification's resends race for the same row), through a service each
// (each a new verification; they race for the number's count), and through
// the messages API. Each shape runs burstRounds times, a new number each:
// a race shows in some rounds only.
func TestBurstToOneNumber(t *testing.T) {
	s := mustServeWith(t, nil, burstConfig)
	runBursts(t, []*testServer{s})
}

func TestClusterBurstToOneNumber(t *testing.T) {
	c := newCluster(t, 2, func(_ int, cfg *ServeConfig) { burstConfig(cfg) })
	runBursts(t, c.nodes)
}

// burstRounds is how often each shape runs. While the pipeline composed a
// code at most 4 times after a store.ErrConflict, the one-service burst
// ended in a 500 in 58% of its rounds on SQLite and 51% on two PostgreSQL
// nodes (90 rounds each), and this test failed 12 runs of 12.
const burstRounds = 15

// burstConfig limits a number to 5 SMS an hour, with no resend cooldown (a
// test server's default: resends race) and the pumping guard out of the way
// (every burst goes to one prefix).
func burstConfig(cfg *ServeConfig) {
	cfg.PerNumber = policy.Rate{Max: 5, Window: time.Hour}
	cfg.Pumping.PrefixSends, cfg.Pumping.WideSends = 1<<30, 1<<30
}

func runBursts(t *testing.T, nodes []*testServer) {
	shapes := []struct {
		name string
		send func(s *testServer, i int, to string) response
	}{
		{"OneService", func(s *testServer, _ int, to string) response { return s.send(t, "login", to) }},
		{"ServiceEach", func(s *testServer, i int, to string) response { return s.send(t, fmt.Sprintf("svc-%d", i), to) }},
		{"Messages", func(s *testServer, _ int, to string) response {
			return s.postForm(t, "/2010-04-01/Accounts/"+s.SID+"/Messages.json", url.Values{"To": {to}, "From": {"MyApp"}, "Body": {"hi"}})
		}},
	}
	for k, shape := range shapes {
		t.Run(shape.name, func(t *testing.T) {
			for round := range burstRounds {
				to := fmt.Sprintf("0791%d%05d", k, round)
				statuses := map[int]int{}
				var others []string
				var mu sync.Mutex
				var wg sync.WaitGroup
				for i := range 20 {
					wg.Go(func() {
						r := shape.send(nodes[i%len(nodes)], i, to)
						mu.Lock()
						defer mu.Unlock()
						statuses[r.Status]++
						if r.Status != 201 && r.Status != 429 {
							others = append(others, fmt.Sprintf("%d %s", r.Status, r.Raw))
						}
					})
				}
				wg.Wait()
				if statuses[201] != 5 || statuses[429] != 15 {
					t.Errorf("round %d: 20 sends at once to one number under a limit of 5: %v, want 5 x 201 and 15 x 429\n%s",
						round, statuses, strings.Join(others, "\n"))
				}
			}
		})
	}
}
