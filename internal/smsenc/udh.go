package smsenc

// Information element identifiers of the concatenation IEs (TS 23.040
// 9.2.3.24.1 and 9.2.3.24.8).
const (
	ieiConcat8  = 0x00
	ieiConcat16 = 0x08
)

// UDH builds a concatenation user data header: with an 8-bit reference
// 05 00 03 ref total seq (6 octets, ref's low byte), with a 16-bit reference
// 06 08 04 refHi refLo total seq (7 octets). total and seq go in one octet
// each: callers keep 1 <= seq <= total <= MaxParts (larger values wrap).
func UDH(ref uint16, total, seq int, sixteenBit bool) []byte {
	if sixteenBit {
		return []byte{0x06, ieiConcat16, 0x04, byte(ref >> 8), byte(ref), byte(total), byte(seq)}
	}
	return []byte{0x05, ieiConcat8, 0x03, byte(ref), byte(total), byte(seq)}
}

// ParseUDH parses the user data header at the start of b (the short_message
// of a PDU with the UDHI bit set) for reassembling inbound long messages. It
// reads the UDHL, walks the information elements and returns the reference,
// total and sequence of the concatenation IE (IEI 0x00 or 0x08; if several
// are present the last valid one wins, per TS 23.040 9.2.3.24). An IE with
// the wrong length, total 0, or seq outside 1..total is ignored, as the spec
// tells receivers to. ok is false when no valid concatenation IE is found.
//
// headerLen is the length of the whole header, UDHL octet included, so the
// text starts at b[headerLen:]. It is set whenever the header is well formed,
// even when ok is false (a UDH with only other IEs); it is 0 when the header
// is truncated or an IE overruns it. headerLen never exceeds len(b).
func ParseUDH(b []byte) (ref uint16, total, seq int, headerLen int, ok bool) {
	if len(b) == 0 {
		return 0, 0, 0, 0, false
	}
	end := 1 + int(b[0])
	if end > len(b) {
		return 0, 0, 0, 0, false
	}
	for i := 1; i < end; {
		if i+2 > end {
			return 0, 0, 0, 0, false
		}
		iei, iel := b[i], int(b[i+1])
		data := i + 2
		if data+iel > end {
			return 0, 0, 0, 0, false
		}
		ie := b[data : data+iel]
		switch {
		case iei == ieiConcat8 && iel == 3 && validSeq(ie[1], ie[2]):
			ref, total, seq, ok = uint16(ie[0]), int(ie[1]), int(ie[2]), true
		case iei == ieiConcat16 && iel == 4 && validSeq(ie[2], ie[3]):
			ref, total, seq, ok = uint16(ie[0])<<8|uint16(ie[1]), int(ie[2]), int(ie[3]), true
		}
		i = data + iel
	}
	return ref, total, seq, end, ok
}

func validSeq(total, seq byte) bool { return total > 0 && seq > 0 && seq <= total }
