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
		// Separators and characters that show as nothing, or as blank, in
		// names and in text alike.
		{"My\u2028App", false, 3, '\u2028'},
		{"line 1\u2028line 2", true, 7, '\u2028'},
		{"para\u2029", true, 5, '\u2029'},
		{"\u3164login", false, 1, '\u3164'},
		{"log\u115Fin", false, 4, '\u115F'},
		{"log\u1160in", true, 4, '\u1160'},
		{"My\uFFA0App", false, 3, '\uFFA0'},
		{"\u2800", false, 1, '\u2800'},
		{"Code \u2800 1234", true, 6, '\u2800'},
		{"My\u180EApp", false, 3, '\u180E'},
		{"ab\u17B4", true, 3, '\u17B4'},
		{"ab\u17B5", false, 3, '\u17B5'},
		{"lo\u034Fgin", false, 3, '\u034F'},
		{"a\U000E0001b", true, 2, '\U000E0001'},
		// What text needs stays accepted: Arabic letters, Arabic-Indic
		// and Persian digits, Korean syllables, Khmer, an emoji with its
		// presentation selector and a ZWJ sequence.
		{"رمز التحقق: ١٢٣٤ ۱۲۳۴", true, 0, 0},
		{"شركة", false, 0, 0},
		{"인증 코드", false, 0, 0},
		{"លេខកូដ", true, 0, 0},
		{"\u2764\uFE0F \U0001F469\u200D\U0001F4BB", true, 0, 0},
	} {
		pos, r, ok := BadRune(tc.s, tc.text)
		if ok != (tc.pos == 0) || pos != tc.pos || r != tc.r {
			t.Errorf("BadRune(%q, %v) = %d %U %v, want %d %U", tc.s, tc.text, pos, r, ok, tc.pos, tc.r)
		}
	}
}

func FuzzBadRune(f *testing.F) {
	for _, s := range []string{"MyApp", "a\r\nb", "\u202E", "رمز\u200F", "\x00", "a\u2028b", "\u3164"} {
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

func TestRuneProblem(t *testing.T) {
	for _, tc := range []struct {
		r    rune
		text bool
		want string
	}{
		{'\r', false, ": it contains U+000D at character 3, a control character; control characters, line and paragraph separators and invisible characters are not accepted"},
		{'\u2028', false, ": it contains U+2028 at character 3, a line separator; control characters, line and paragraph separators and invisible characters are not accepted"},
		{'\u2029', true, ": it contains U+2029 at character 3, a paragraph separator; control characters, line and paragraph separators and invisible characters are not accepted, apart from newline, tab and the marks Arabic text uses (LRM, RLM, ALM, ZWJ, ZWNJ)"},
		{'\u202E', false, ": it contains U+202E at character 3, an invisible formatting character; control characters, line and paragraph separators and invisible characters are not accepted"},
		{'\u3164', false, ": it contains U+3164 at character 3, a blank filler; control characters, line and paragraph separators and invisible characters are not accepted"},
		{'\u2800', false, ": it contains U+2800 at character 3, a blank filler; control characters, line and paragraph separators and invisible characters are not accepted"},
		{'\u034F', false, ": it contains U+034F at character 3, an invisible character; control characters, line and paragraph separators and invisible characters are not accepted"},
		{'\uFFFD', true, ": it contains U+FFFD at character 3, the replacement character, which stands for bytes that were not UTF-8; control characters, line and paragraph separators and invisible characters are not accepted, apart from newline, tab and the marks Arabic text uses (LRM, RLM, ALM, ZWJ, ZWNJ)"},
	} {
		if got := RuneProblem(3, tc.r, tc.text); got != tc.want {
			t.Errorf("RuneProblem(3, %U, %v) =\n%s\nwant\n%s", tc.r, tc.text, got, tc.want)
		}
	}
}
