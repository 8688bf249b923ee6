package dlr

import (
	"strconv"
	"strings"
)

// IDKeys returns the forms under which an SMSC message id may be stored or
// looked up, so that an id the SMSC wrote in hex in submit_sm_resp and in
// decimal in the receipt (or the reverse) still matches. The rule:
//
//   - The id is trimmed of white space and NUL bytes; an empty id has no
//     keys (nil).
//   - An id that is not all hex digits (a UUID with dashes, "msg-42",
//     "ABCG") is compared exactly: its only key is itself, case kept.
//   - An id that is all hex digits is a number. Its first key, the canonical
//     form, is the id lower-cased with leading zeros removed ("0" if nothing
//     is left): "000123" -> "123", "00AbC" -> "abc". Then, if it is all
//     decimal digits and its decimal value fits a uint64, that value in
//     lower-case hex ("1234567890" -> "499602d2"); then, if its hex value
//     fits a uint64, that value in decimal ("499602d2" -> "1234567890";
//     "123" -> "291" too, since digits alone do not say which base the SMSC
//     meant). Duplicates are left out. So a number too big for a uint64 ("a
//     30-digit decimal") has only its canonical form.
//
// Every key is its own canonical form, and keys depend only on the
// canonical form. The relation is symmetric: a's first key is among b's
// keys exactly when b's first key is among a's. So store a message under
// the first key of the id in submit_sm_resp, and look a receipt up under
// each key of its id in order, taking the first that matches; the exact
// form comes first, so it wins over a converted one.
//
// The converted keys are guesses about the base. On an SMSC whose ids are
// all decimal, a receipt for "291" whose own message is not stored yet (a
// receipt can overtake the submit_sm_resp that names its id) would match a
// message stored as "123". Keep lookups to messages sent through the same
// connector, and recently, to make that rare.
func IDKeys(id string) []string {
	id = trimSpaceNUL(id)
	if id == "" {
		return nil
	}
	if !allDigits(id, true) {
		return []string{id}
	}
	canon := strings.TrimLeft(strings.ToLower(id), "0")
	if canon == "" {
		canon = "0"
	}
	keys := []string{canon}
	add := func(k string) {
		for _, have := range keys {
			if have == k {
				return
			}
		}
		keys = append(keys, k)
	}
	if allDigits(canon, false) {
		if v, err := strconv.ParseUint(canon, 10, 64); err == nil {
			add(strconv.FormatUint(v, 16))
		}
	}
	if v, err := strconv.ParseUint(canon, 16, 64); err == nil {
		add(strconv.FormatUint(v, 10))
	}
	return keys
}
