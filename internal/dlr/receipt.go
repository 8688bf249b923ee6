package dlr

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Receipt is what a delivery receipt says about one message.
type Receipt struct {
	ID         string    // the SMSC's message id as written in the receipt; see IDKeys to look it up
	State      State     // always valid (1..8) in a Receipt this package returns
	Err        int       // the network error code (err: field or network_error_code TLV), 0 if none
	Sub, Dlvrd int       // -1 when absent
	SubmitDate time.Time // zero when absent/unparseable; the SMSC's local time read as UTC
	DoneDate   time.Time // as SubmitDate
	// Text is the first characters of the message as the SMSC echoed them.
	// For a verification SMS it holds the code: never log it.
	Text string
}

// ParseText parses the de-facto text form of a receipt (SMPP 3.4 Appendix B):
//
//	id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
//
// It is lenient, because SMSCs are:
//
//   - A key is recognised at the start of s or after white space, ',' or
//     ';', in any ASCII case, with optional spaces before its ':'. "submit
//     date" and "done date" may also be written with '_' or nothing between
//     the words. Fields may come in any order; the first of a repeated key
//     wins; unknown fields are ignored.
//   - The value of a field other than text is the first word after its ':'
//     (words end at white space, ',' or ';'), unless the next key comes
//     first, in which case it is empty ("err: text:hi" has no err).
//   - text: runs to the end of s and is kept exactly as written, so it may
//     hold anything, "stat:" and colons included; no key is looked for after
//     it, so fields written after text: are not seen.
//   - Dates have 10 digits (YYMMDDhhmm), 12 (YYMMDDhhmmss) or 14
//     (YYYYMMDDhhmmss); a two-digit year is 20YY. SMSCs write their local
//     time with no zone: ParseText reads it as UTC, so the instant is only as
//     right as the SMSC's clock and zone. A date that is missing or not a
//     real date is left zero.
//   - err is read as decimal ("000", "0001"); as hex when it has a 0x prefix
//     ("0x0B") or hex letters ("00B"). sub and dlvrd are decimal. A value
//     that does not read leaves err 0 and sub or dlvrd -1.
//   - stat is read by ParseStat.
//   - Trailing NUL bytes of s are ignored.
//
// An id made of printable ASCII and a stat ParseStat knows are required; else
// the error says what is missing or wrong, and the Receipt is zero. Errors
// never quote the text field.
func ParseText(s string) (Receipt, error) {
	s = strings.TrimRight(s, "\x00")
	if trimSpaceNUL(s) == "" {
		return Receipt{}, errors.New("dlr: empty receipt text")
	}

	var val [numFields]string
	var seen [numFields]bool
	type key struct {
		f          field
		start, val int // where the key starts and where its value starts
	}
	var keys []key
	for i := 0; i < len(s); i++ {
		if i > 0 && !isSep(s[i-1]) {
			continue
		}
		f, v, ok := keyAt(s, i)
		if !ok {
			continue
		}
		keys = append(keys, key{f, i, v})
		if f == fieldText {
			break
		}
		i = v - 1
	}
	for n, k := range keys {
		if seen[k.f] {
			continue
		}
		seen[k.f] = true
		if k.f == fieldText {
			val[k.f] = s[k.val:]
			continue
		}
		end := len(s)
		if n+1 < len(keys) {
			end = keys[n+1].start
		}
		val[k.f] = firstWord(s[k.val:end])
	}

	id, stat := val[fieldID], val[fieldStat]
	switch {
	case id == "" && stat == "":
		return Receipt{}, errors.New("dlr: receipt text has no id and no stat")
	case id == "":
		return Receipt{}, errors.New("dlr: receipt text has no id")
	case stat == "":
		return Receipt{}, errors.New("dlr: receipt text has no stat")
	}
	if !validID(id) {
		return Receipt{}, errors.New("dlr: receipt id " + quote(id) + " is not printable ASCII")
	}
	st, ok := ParseStat(stat)
	if !ok {
		return Receipt{}, errors.New("dlr: receipt stat " + quote(stat) + " is not a known message state")
	}
	return Receipt{
		ID:         id,
		State:      st,
		Err:        parseErr(val[fieldErr]),
		Sub:        parseCount(val[fieldSub]),
		Dlvrd:      parseCount(val[fieldDlvrd]),
		SubmitDate: parseDate(val[fieldSubmitDate]),
		DoneDate:   parseDate(val[fieldDoneDate]),
		Text:       val[fieldText],
	}, nil
}

// FromTLVs builds a Receipt from the TLV values of a deliver_sm:
// receipted_message_id (0x001E, a C-string: it ends at its first NUL, and
// surrounding white space is trimmed), message_state (0x0427, one byte,
// 1..8) and network_error_code (0x0423, three bytes: the network type, then
// the error code big-endian; Err takes the error code). Pass nil for a TLV
// that is absent. ok is false when the id is missing, empty or not printable
// ASCII, or the state is missing, not one byte or not 1..8; a
// network_error_code that is not three bytes is ignored (Err 0).
//
// The TLVs carry no counts, dates or text: Sub and Dlvrd are -1, the dates
// zero and Text empty.
func FromTLVs(receiptedID []byte, messageState []byte, networkErrorCode []byte) (Receipt, bool) {
	id := receiptedID
	for i, c := range id {
		if c == 0 {
			id = id[:i]
			break
		}
	}
	sid := trimSpaceNUL(string(id))
	if sid == "" || !validID(sid) || len(messageState) != 1 {
		return Receipt{}, false
	}
	st := State(messageState[0])
	if !st.valid() {
		return Receipt{}, false
	}
	r := Receipt{ID: sid, State: st, Sub: -1, Dlvrd: -1}
	if len(networkErrorCode) == 3 {
		r.Err = int(binary.BigEndian.Uint16(networkErrorCode[1:]))
	}
	return r, true
}

type field uint8

const (
	fieldID field = iota
	fieldSub
	fieldDlvrd
	fieldSubmitDate
	fieldDoneDate
	fieldStat
	fieldErr
	fieldText
	numFields
)

// keyNames are the keys of the text form, lower case. Their order does not
// matter: "sub" needs its ':' right after it, so it never takes "submit".
var keyNames = [...]struct {
	name string
	date bool // followed by "date", with ' ', '_' or nothing between
	f    field
}{
	{"id", false, fieldID},
	{"submit", true, fieldSubmitDate},
	{"sub", false, fieldSub},
	{"dlvrd", false, fieldDlvrd},
	{"done", true, fieldDoneDate},
	{"stat", false, fieldStat},
	{"err", false, fieldErr},
	{"text", false, fieldText},
}

// keyAt reports whether a key starts at s[i:], which field it names, and
// where its value starts (just after the ':').
func keyAt(s string, i int) (field, int, bool) {
	for _, k := range keyNames {
		j, ok := hasFold(s, i, k.name)
		if !ok {
			continue
		}
		if k.date {
			for j < len(s) && (s[j] == ' ' || s[j] == '_') {
				j++
			}
			if j, ok = hasFold(s, j, "date"); !ok {
				continue
			}
		}
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if j < len(s) && s[j] == ':' {
			return k.f, j + 1, true
		}
	}
	return 0, 0, false
}

// hasFold reports whether s[i:] starts with lower, ignoring ASCII case only
// (so no Unicode folding turns "ſtat" or "K" into a key), and the index
// after it.
func hasFold(s string, i int, lower string) (int, bool) {
	if len(s)-i < len(lower) {
		return i, false
	}
	for n := 0; n < len(lower); n++ {
		c := s[i+n]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[n] {
			return i, false
		}
	}
	return i + len(lower), true
}

// isSep reports whether c separates fields and words.
func isSep(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == ',' || c == ';'
}

// firstWord returns the first run of non-separators in s.
func firstWord(s string) string {
	i := 0
	for i < len(s) && isSep(s[i]) {
		i++
	}
	j := i
	for j < len(s) && !isSep(s[j]) {
		j++
	}
	return s[i:j]
}

// validID reports whether id is printable ASCII without spaces.
func validID(id string) bool {
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return id != ""
}

// quote quotes s for an error message, cut to a sensible length.
func quote(s string) string {
	const max = 32
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

func allDigits(s string, hex bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || hex && ('a' <= c && c <= 'f' || 'A' <= c && c <= 'F')) {
			return false
		}
	}
	return s != ""
}

// parseErr reads an err value: decimal, or hex with a 0x prefix or hex
// letters; 0 when absent or unreadable.
func parseErr(s string) int {
	base := 10
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		s, base = s[2:], 16
	case allDigits(s, false):
	default:
		base = 16
	}
	if !allDigits(s, base == 16) {
		return 0
	}
	v, err := strconv.ParseInt(s, base, 32)
	if err != nil {
		return 0
	}
	return int(v)
}

// parseCount reads a sub or dlvrd value; -1 when absent or unreadable.
func parseCount(s string) int {
	if !allDigits(s, false) {
		return -1
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return -1
	}
	return int(v)
}

// parseDate reads YYMMDDhhmm, YYMMDDhhmmss or YYYYMMDDhhmmss as UTC; the
// zero time when s is none of those or not a real date and time.
func parseDate(s string) time.Time {
	if !allDigits(s, false) {
		return time.Time{}
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			v = v*10 + int(c-'0')
		}
		return v
	}
	var year, rest int
	switch len(s) {
	case 10, 12:
		year, rest = 2000+num(0, 2), 2
	case 14:
		year, rest = num(0, 4), 4
	default:
		return time.Time{}
	}
	month, day, hour, min := num(rest, 2), num(rest+2, 2), num(rest+4, 2), num(rest+6, 2)
	sec := 0
	if len(s) > 10 {
		sec = num(rest+8, 2)
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || min > 59 || sec > 59 {
		return time.Time{}
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, 0, time.UTC)
	if t.Day() != day { // 31 April and the like
		return time.Time{}
	}
	return t
}
