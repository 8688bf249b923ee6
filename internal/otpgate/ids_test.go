package otpgate

import (
	"sync"
	"testing"
)

func TestNewSIDFormatAndOrder(t *testing.T) {
	prev := NewSID(PrefixMessage)
	for range 100000 {
		s := NewSID(PrefixMessage)
		if !ValidSID(s, PrefixMessage) {
			t.Fatalf("NewSID gave %q, not SM + 32 lowercase hex", s)
		}
		if s <= prev {
			t.Fatalf("SIDs out of order: %q after %q", s, prev)
		}
		prev = s
	}
}

func TestNewSIDUniqueAcrossGoroutines(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]string, 0, 10000)
			for range 10000 {
				local = append(local, NewSID(PrefixVerification))
			}
			mu.Lock()
			for _, s := range local {
				if seen[s] {
					t.Errorf("duplicate SID %s", s)
				}
				seen[s] = true
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
}

func TestValidSID(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{"AC0123456789abcdef0123456789abcdef", true},
		{"AC0123456789ABCDEF0123456789abcdef", false},
		{"AC0123456789abcdef0123456789abcde", false},
		{"SM0123456789abcdef0123456789abcdef", false},
		{"", false},
	} {
		if got := ValidSID(tt.s, PrefixAccount); got != tt.want {
			t.Errorf("ValidSID(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}
