package dlr

import "testing"

func TestState(t *testing.T) {
	for _, tc := range []struct {
		s      State
		name   string
		final  bool
		status string
	}{
		{Enroute, "ENROUTE", false, ""},
		{Delivered, "DELIVRD", true, "delivered"},
		{Expired, "EXPIRED", true, "undelivered"},
		{Deleted, "DELETED", true, "failed"},
		{Undeliverable, "UNDELIV", true, "undelivered"},
		{Accepted, "ACCEPTD", false, ""},
		{Unknown, "UNKNOWN", false, ""},
		{Rejected, "REJECTD", true, "failed"},
		{0, "State(0)", false, ""},
		{9, "State(9)", false, ""},
		{255, "State(255)", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.String(); got != tc.name {
				t.Errorf("String() = %q, want %q", got, tc.name)
			}
			if got := tc.s.Final(); got != tc.final {
				t.Errorf("Final() = %v, want %v", got, tc.final)
			}
			if got := tc.s.Status(); got != tc.status {
				t.Errorf("Status() = %q, want %q", got, tc.status)
			}
			if tc.s.valid() {
				if got, ok := ParseStat(tc.name); !ok || got != tc.s {
					t.Errorf("ParseStat(%q) = %v, %v, want %v", tc.name, got, ok, tc.s)
				}
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want State
		ok   bool
	}{
		{"DELIVRD", Delivered, true},
		{"delivrd", Delivered, true},
		{" Delivrd\x00", Delivered, true},
		{"DELIVERED", Delivered, true},
		{"UNDELIVERABLE", Undeliverable, true},
		{"undelivered", Undeliverable, true},
		{"FAILED", Undeliverable, true},
		{"Rejected", Rejected, true},
		{"accepted", Accepted, true},
		{"enroute", Enroute, true},
		{"", 0, false},
		{"DELIV", 0, false},
		{"DELIVRDX", 0, false},
		{"2", 0, false},
		{"delıvrd", 0, false}, // dotless i: no Unicode folding
		{"UNDELIVERABLE!", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := ParseStat(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("ParseStat(%q) = %v, %v, want %v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}
