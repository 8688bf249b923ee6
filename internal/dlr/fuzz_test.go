package dlr

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
)

func FuzzParseText(f *testing.F) {
	for _, s := range []string{
		"id:0123456789 sub:001 dlvrd:001 submit date:2301021200 done date:2301021201 stat:DELIVRD err:000 text:Your code is 123456",
		"ID:42 SUB:001 DLVRD:001 SUBMIT DATE:230102120005 DONE DATE:230102120105 STAT:UNDELIV ERR:0034 Text:x",
		"stat:REJECTD err:0x0B id:550e8400-e29b-41d4-a716-446655440000 text:stat:DELIVRD id:9",
		"id: 42   stat : delivered err: text:",
		"id:42,stat:FAILED,err:00B;submit_date:20240229000000",
		"id:\x00 stat:\xff text:\xfe",
		"", "id:", "stat:", "text:", "id:42 stat:", "hello world",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseText(s)
		if err != nil {
			if r != (Receipt{}) {
				t.Fatalf("ParseText(%q) = %+v with error %v", s, r, err)
			}
			return
		}
		if r.ID == "" || strings.IndexFunc(r.ID, unicode.IsSpace) >= 0 || !validID(r.ID) {
			t.Fatalf("ParseText(%q).ID = %q, want non-empty printable ASCII without spaces", s, r.ID)
		}
		if r.State < Enroute || r.State > Rejected {
			t.Fatalf("ParseText(%q).State = %d, want 1..8", s, r.State)
		}
		if r.Sub < -1 || r.Dlvrd < -1 || r.Err < 0 {
			t.Fatalf("ParseText(%q) = %+v: negative count or err", s, r)
		}
		if !strings.Contains(s, r.ID) || !strings.HasSuffix(strings.TrimRight(s, "\x00"), r.Text) {
			t.Fatalf("ParseText(%q) = %+v: id or text not taken from the input", s, r)
		}
		for _, d := range []time.Time{r.SubmitDate, r.DoneDate} {
			if !d.IsZero() && d.Location() != time.UTC {
				t.Fatalf("ParseText(%q) = %+v: a date not in UTC", s, r)
			}
		}
	})
}

func FuzzIDKeys(f *testing.F) {
	for _, s := range []string{
		"1234567890", "499602d2", "499602D2", "000123", "0", "00", "", " ", "7f3a9c",
		"550e8400-e29b-41d4-a716-446655440000", "123456789012345678901234567890",
		"18446744073709551615", "18446744073709551616", "ffffffffffffffff", "1ffffffffffffffff",
		"0x1f", "abc\x00", "ABCG", "٠١٢",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		keys := IDKeys(id)
		if len(keys) == 0 {
			if trimSpaceNUL(id) != "" {
				t.Fatalf("IDKeys(%q) = nil for a non-blank id", id)
			}
			return
		}
		canon := keys[0]
		again := IDKeys(canon)
		if len(again) == 0 || again[0] != canon {
			t.Fatalf("IDKeys(%q)[0] = %q, but IDKeys(%q) = %q: first key not canonical", id, canon, canon, again)
		}
		if !slices.Equal(again, keys) {
			t.Fatalf("IDKeys(%q) = %q, but IDKeys of its canonical form = %q", id, keys, again)
		}
		for i, k := range keys {
			if k == "" || trimSpaceNUL(k) != k {
				t.Fatalf("IDKeys(%q) = %q: key %d empty or untrimmed", id, keys, i)
			}
			if slices.Contains(keys[:i], k) {
				t.Fatalf("IDKeys(%q) = %q: duplicate key", id, keys)
			}
			kk := IDKeys(k)
			if kk[0] != k {
				t.Fatalf("IDKeys(%q) = %q: key %q is not its own canonical form (%q)", id, keys, k, kk)
			}
			if !slices.Contains(kk, canon) {
				t.Fatalf("IDKeys(%q) = %q holds %q, but IDKeys(%q) = %q lacks %q: not symmetric", id, keys, k, k, kk, canon)
			}
			overlap := false
			for _, x := range kk {
				overlap = overlap || slices.Contains(keys, x)
			}
			if !overlap {
				t.Fatalf("IDKeys(%q) = %q and IDKeys(%q) = %q do not overlap", id, keys, k, kk)
			}
		}
	})
}
