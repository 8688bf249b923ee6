package emailaddr

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"user@example.com", "user@example.com"},
		{"  User.Name+tag@Example.COM ", "User.Name+tag@example.com"},
		{"user@bücher.example", "user@xn--bcher-kva.example"},
		{"user@BÜCHER.example", "user@xn--bcher-kva.example"},
		{"user@xn--bcher-kva.example", "user@xn--bcher-kva.example"},
		{"a@موقع.وزارة-الاتصالات.مصر", "a@xn--4gbrim.xn----ymcbaaajlc6dj7bxne2c.xn--wgbh1c"},
		{"o'brien@example.org", "o'brien@example.org"},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	long := strings.Repeat("a", 60) + "@" + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 60) + "." + strings.Repeat("e", 20) + ".com"
	for _, tc := range []struct{ name, in, says string }{
		{"empty", "", "empty"},
		{"no at", "user.example.com", "no @"},
		{"display name", "Jo <jo@example.com>", "bare address"},
		{"angle brackets", "<jo@example.com>", "bare address"},
		{"comment", "jo@example.com (Jo)", "bare address"},
		{"quoted local part", `"jo smith"@example.com`, "bare address"},
		{"empty local part", "@example.com", "empty"},
		{"no dot in domain", "jo@localhost", "no dot"},
		{"empty domain", "jo@", "not a valid domain"},
		{"domain literal", "jo@[127.0.0.1]", "bare address"},
		{"non-ASCII local part", "جو@example.com", "ASCII"},
		{"double dot", "jo..smith@example.com", "not a valid address"},
		{"bad domain", "jo@exa_mple.com", "not a valid domain"},
		{"two ats", "jo@smith@example.com", "not a valid address"},
		{"IP address as domain", "jo@10.0.0.1", "not an IP address"},
		{"one-letter top-level domain", "jo@b.c", "two or more letters"},
		{"too long local part", strings.Repeat("a", 65) + "@example.com", "at most 64"},
		{"too long", long, "at most 254"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want an error", tc.in, got)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Parse(%q): %v; want it to say %q", tc.in, err, tc.says)
			}
		})
	}
	if _, err := Parse(long); !errors.Is(err, ErrTooLong) {
		t.Errorf("a long address: %v, want ErrTooLong", err)
	}
}

// One inbox, one count: case and +tags of the local part name the same
// mailbox; another domain or name is another.
func TestMailbox(t *testing.T) {
	for in, want := range map[string]string{
		"Victim@example.com":       "victim@example.com",
		"victim+1@example.com":     "victim@example.com",
		"VICTIM+a+b@example.com":   "victim@example.com",
		"+tag@example.com":         "+tag@example.com",
		"o'brien@xn--bcher-kva.de": "o'brien@xn--bcher-kva.de",
	} {
		if got := Mailbox(in); got != want {
			t.Errorf("Mailbox(%q) = %q, want %q", in, got, want)
		}
	}
	if Mailbox("victim@example.com") == Mailbox("victim@example.org") {
		t.Error("two domains are one mailbox")
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"jordan@example.com": "j***@example.com",
		"x@example.com":      "x***@example.com",
		"nothing":            "***",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse: whatever Parse accepts is a bare ASCII address it accepts again
// unchanged, within the limits, and its mask never shows the local part.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"user@example.com", "user@bücher.example", "Jo <jo@example.com>", `"a b"@c.d`, "a@b", "@", "a@b.c.", "a@xn--.com", "ä@b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, err := Parse(s)
		if err != nil {
			return
		}
		if len(addr) > MaxLen || strings.Count(addr, "@") != 1 {
			t.Fatalf("Parse(%q) = %q", s, addr)
		}
		for i := 0; i < len(addr); i++ {
			if addr[i] >= 0x80 || addr[i] <= ' ' {
				t.Fatalf("Parse(%q) = %q: not ASCII", s, addr)
			}
		}
		again, err := Parse(addr)
		if err != nil || again != addr {
			t.Fatalf("Parse(Parse(%q)) = %q, %v; want %q", s, again, err, addr)
		}
		if m := Mask(addr); m != addr[:1]+"***@"+Domain(addr) {
			t.Fatalf("Mask(%q) = %q shows the local part", addr, Mask(addr))
		}
	})
}
