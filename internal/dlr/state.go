// Package dlr turns SMPP 3.4 delivery receipts into facts otpgate stores.
//
// An SMSC reports the fate of a message in a deliver_sm with esm_class 0x04.
// It says which message in one of two ways: the TLVs receipted_message_id
// (0x001E), message_state (0x0427) and network_error_code (0x0423), read by
// [FromTLVs]; or the de-facto text form of SMPP 3.4 Appendix B in
// short_message, read by [ParseText]. Prefer the TLVs when they are there.
// [IDKeys] gives the forms under which the SMSC's message id is stored and
// looked up, so that an SMSC that writes the id in hex in submit_sm_resp and
// in decimal in the receipt (or the reverse) still finds its message, and
// [State.Status] maps the receipt to an otpgate message status.
//
// The package only parses; it does no I/O and keeps no state.
package dlr

import "strconv"

// State is an SMPP message_state (TLV 0x0427) value.
type State byte

// The message states of SMPP 3.4 section 5.2.28.
const (
	Enroute       State = 1
	Delivered     State = 2
	Expired       State = 3
	Deleted       State = 4
	Undeliverable State = 5
	Accepted      State = 6
	Unknown       State = 7
	Rejected      State = 8
)

var stateNames = [...]string{
	Enroute:       "ENROUTE",
	Delivered:     "DELIVRD",
	Expired:       "EXPIRED",
	Deleted:       "DELETED",
	Undeliverable: "UNDELIV",
	Accepted:      "ACCEPTD",
	Unknown:       "UNKNOWN",
	Rejected:      "REJECTD",
}

func (s State) valid() bool { return s >= Enroute && s <= Rejected }

// String returns the stat word of the text form ("DELIVRD", "UNDELIV", ...),
// or "State(N)" for a value SMPP 3.4 does not define.
func (s State) String() string {
	if !s.valid() {
		return "State(" + strconv.Itoa(int(s)) + ")"
	}
	return stateNames[s]
}

// Final reports whether the state ends the message's life: Delivered,
// Expired, Deleted, Undeliverable and Rejected.
//
// Accepted and Unknown are not final here, although SMPP 3.4 lists them
// among the final states: SMSCs commonly send ACCEPTD as an intermediate
// "the SMSC (or the next network) has taken it" notice before the real
// outcome, and UNKNOWN says nothing about the outcome. A final receipt may
// still follow either; a message that never gets one stays "sent".
func (s State) Final() bool {
	switch s {
	case Delivered, Expired, Deleted, Undeliverable, Rejected:
		return true
	}
	return false
}

// Status maps the state to an otpgate message status (the values of
// store.MsgDelivered, store.MsgUndelivered and store.MsgFailed):
//
//	Delivered              -> "delivered"
//	Undeliverable, Expired -> "undelivered" (the network tried and could not)
//	Rejected, Deleted      -> "failed"      (the SMSC refused or dropped it)
//	anything else          -> ""            (no change)
func (s State) Status() string {
	switch s {
	case Delivered:
		return "delivered"
	case Undeliverable, Expired:
		return "undelivered"
	case Rejected, Deleted:
		return "failed"
	}
	return ""
}

// statWords are the stat values ParseStat knows, upper case.
var statWords = map[string]State{
	"ENROUTE":       Enroute,
	"DELIVRD":       Delivered,
	"DELIVERED":     Delivered,
	"EXPIRED":       Expired,
	"DELETED":       Deleted,
	"UNDELIV":       Undeliverable,
	"UNDELIVERABLE": Undeliverable,
	"UNDELIVERED":   Undeliverable,
	"FAILED":        Undeliverable,
	"ACCEPTD":       Accepted,
	"ACCEPTED":      Accepted,
	"UNKNOWN":       Unknown,
	"REJECTD":       Rejected,
	"REJECTED":      Rejected,
}

// ParseStat reads the stat field of the text form. It knows the seven-letter
// words of SMPP 3.4 Appendix B (DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD,
// UNKNOWN, REJECTD) and ENROUTE, and the full words some SMSCs write instead
// (DELIVERED, UNDELIVERABLE, UNDELIVERED, ACCEPTED, REJECTED), in any ASCII
// case, with surrounding spaces ignored. FAILED, which some SMSCs send for a
// message the network could not deliver, reads as Undeliverable (status
// "undelivered", as for UNDELIV). Anything else is not a state: ok is false.
func ParseStat(stat string) (State, bool) {
	stat = trimSpaceNUL(stat)
	if len(stat) > len("UNDELIVERABLE") {
		return 0, false
	}
	var buf [len("UNDELIVERABLE")]byte
	for i := 0; i < len(stat); i++ {
		c := stat[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	st, ok := statWords[string(buf[:len(stat)])]
	return st, ok
}

// trimSpaceNUL trims ASCII white space and NUL bytes from both ends of s.
func trimSpaceNUL(s string) string {
	for len(s) > 0 && isTrim(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isTrim(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isTrim(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0
}
