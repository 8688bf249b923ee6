package guardstate

import "testing"

func TestSafeListFull(t *testing.T) {
	have := []string{"+1", "+2", "+3"}
	for _, tt := range []struct {
		name        string
		add, remove []string
		max         int
		want        bool
	}{
		{"no cap", []string{"+4", "+5"}, nil, 0, false},
		{"exactly the cap", []string{"+4"}, nil, 4, false},
		{"one past the cap", []string{"+4", "+5"}, nil, 4, true},
		{"an entry already there, at the cap", []string{"+3"}, nil, 3, false},
		{"an entry given twice", []string{"+4", "+4"}, nil, 4, false},
		{"removing makes room", []string{"+4"}, []string{"+1"}, 3, false},
		{"added and removed at once", []string{"+4"}, []string{"+4"}, 3, false},
		{"only removing, past a lowered cap", nil, []string{"+1"}, 1, false},
		{"adding past a lowered cap", []string{"+4"}, []string{"+1", "+2"}, 1, true},
	} {
		if got := SafeListFull(have, tt.add, tt.remove, tt.max); got != tt.want {
			t.Errorf("%s: SafeListFull(%v, +%v, -%v, %d) = %v, want %v", tt.name, have, tt.add, tt.remove, tt.max, got, tt.want)
		}
	}
}
