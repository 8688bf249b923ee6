package otpgate

import "testing"

func TestBadRune(t *testing.T) {
	for _, tc := range []struct {
		s    string
		text bool
		pos  int
		r    rune
	}{
		{"MyApp", false, 0, 0},
		{"My\r\nApp", false, 3, '\r'},
		{"login\u202E", false, 6, '\u202E'},
		{"lo\u200Bgin", false, 3, '\u200B'},
		{"a\x00b", true, 2, 0},
		{"line 1\nline 2\tx", true, 0, 0},
		{"line 1\r\nline 2", true, 0, 0},
		{"a\rb", true, 2, '\r'},
		{"end\r", true, 4, '\r'},
		{"رمز\u200Fالتحقق\u200C", true, 0, 0},
		{"رمز\u200F", false, 4, '\u200F'},
		{"safe \u202Egnp.exe", true, 6, '\u202E'},
		{"bell\a", true, 5, '\a'},
		{"\xff", true, 1, '\uFFFD'},
	} {
		pos, r, ok := BadRune(tc.s, tc.text)
		if ok != (tc.pos == 0) || pos != tc.pos || r != tc.r {
			t.Errorf("BadRune(%q, %v) = %d %U %v, want %d %U", tc.s, tc.text, pos, r, ok, tc.pos, tc.r)
		}
	}
}

func FuzzBadRune(f *testing.F) {
	for _, s := range []string{"MyApp", "a\r\nb", "\u202E", "رمز\u200F", "\x00"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, text bool) {
		pos, r, ok := BadRune(s, text)
		if ok {
			return
		}
		i := 0
		for _, c := range s {
			i++
			if i == pos {
				if c != r {
					t.Fatalf("BadRune(%q) says %U at %d, the string has %U there", s, r, pos, c)
				}
				return
			}
		}
		t.Fatalf("BadRune(%q) gave position %d past its %d characters", s, pos, i)
	})
}
