package dlr

import (
	"slices"
	"testing"
)

func TestIDKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"decimal", "1234567890", []string{"1234567890", "499602d2", "78187493520"}},
		{"hex", "499602d2", []string{"499602d2", "1234567890"}},
		{"hex upper case", "499602D2", []string{"499602d2", "1234567890"}},
		{"hex from receipt", "7f3a9c", []string{"7f3a9c", "8338076"}},
		{"leading zeros decimal", "000123", []string{"123", "7b", "291"}},
		{"without leading zeros", "123", []string{"123", "7b", "291"}},
		{"leading zeros hex", "00ff", []string{"ff", "255"}},
		{"zero", "0000", []string{"0"}},
		{"one", "1", []string{"1"}},
		{"trimmed", " 42\x00", []string{"42", "2a", "66"}},
		{"uuid", "550e8400-e29b-41d4-a716-446655440000", []string{"550e8400-e29b-41d4-a716-446655440000"}},
		{"alphanumeric keeps case", "MsgID42", []string{"MsgID42"}},
		{"30-digit decimal", "123456789012345678901234567890", []string{"123456789012345678901234567890"}},
		{"20-digit decimal over uint64", "18446744073709551616", []string{"18446744073709551616"}},
		{"max uint64 decimal", "18446744073709551615", []string{"18446744073709551615", "ffffffffffffffff"}},
		{"17 hex digits", "1ffffffffffffffff", []string{"1ffffffffffffffff"}},
		{"empty", "", nil},
		{"blank", " \t", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IDKeys(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("IDKeys(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestIDKeysMatch checks the use IDKeys is for: store under the first key
// of the submit_sm_resp id, look up under every key of the receipt's id.
func TestIDKeysMatch(t *testing.T) {
	for _, tc := range []struct {
		name          string
		resp, receipt string
		match         bool
	}{
		{"hex resp decimal receipt", "499602d2", "1234567890", true},
		{"decimal resp hex receipt", "1234567890", "499602D2", true},
		{"same id", "abc-1", "abc-1", true},
		{"leading zeros", "123", "0000000123", true},
		{"all-digit hex resp", "123", "291", true},
		{"different", "1234567890", "1234567891", false},
		{"uuid case differs", "550E8400-E29B", "550e8400-e29b", false},
		{"overflow", "123456789012345678901234567890", "0123456789012345678901234567890", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stored := IDKeys(tc.resp)[0]
			if got := slices.Contains(IDKeys(tc.receipt), stored); got != tc.match {
				t.Errorf("receipt %q finds message stored as %q (from %q): %v, want %v", tc.receipt, stored, tc.resp, got, tc.match)
			}
			// Symmetric: storing the receipt's form and looking up the resp's agrees.
			if got := slices.Contains(IDKeys(tc.resp), IDKeys(tc.receipt)[0]); got != tc.match {
				t.Errorf("reverse lookup: %v, want %v", got, tc.match)
			}
		})
	}
}
