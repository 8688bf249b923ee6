package smsenc

import "fmt"

// Part is one SMS of a split body: its text and its encoded payload,
// without UDH.
type Part struct {
	Text    string
	Payload []byte
}

// SplitOptions sets the per-part limits of a concatenated message. Zero
// values mean PartSeptets (153) and PartUnits (67), the limits behind an
// 8-bit reference UDH. Use PartSeptets16/PartUnits16 (152/66) behind a
// 16-bit reference UDH; parts concatenated with SAR TLVs carry no UDH and
// may use SingleSeptets/SingleUnits (160/70), though many SMSCs expect
// 153/67 there too (a connector setting).
type SplitOptions struct {
	PerPartSeptets int // 2..160
	PerPartUnits   int // 2..70
}

func (o SplitOptions) limit(enc Encoding) (int, error) {
	per, def, most, name := o.PerPartUnits, PartUnits, SingleUnits, "PerPartUnits"
	if enc == GSM7 {
		per, def, most, name = o.PerPartSeptets, PartSeptets, SingleSeptets, "PerPartSeptets"
	}
	switch {
	case per == 0:
		return def, nil
	case per < 2 || per > most:
		// Below 2 a two-unit character (escape or surrogate pair) fits no part.
		return 0, fmt.Errorf("smsenc: SplitOptions.%s %d out of range 2..%d", name, per, most)
	}
	return per, nil
}

// Split splits body into the parts of a concatenated SMS in enc. It returns
// exactly one part when body fits one SMS (160 septets / 70 units, whatever
// the options), else parts of at most the per-part limit each. It never
// splits an escape sequence (0x1B + code) or a UTF-16 surrogate pair: a
// character that does not fit whole starts the next part. The parts' texts
// concatenate to body. An empty body gives one part with no payload.
//
// Split fails on invalid UTF-8, on characters enc cannot write, on an
// unknown encoding and on out-of-range options. It does not limit the
// number of parts; callers check against MaxParts.
func Split(body string, enc Encoding, opt SplitOptions) ([]Part, error) {
	if err := checkEncoding(enc); err != nil {
		return nil, err
	}
	per, err := opt.limit(enc)
	if err != nil {
		return nil, err
	}
	// Encoding the whole body validates it and gives every part's payload:
	// unpacked GSM-7 is one octet per septet and UCS-2 two per unit, so a
	// part of n units is the next n or 2n octets.
	payload, err := Encode(body, enc)
	if err != nil {
		return nil, err
	}
	single, octetsPerUnit := SingleUnits, 2
	if enc == GSM7 {
		single, octetsPerUnit = SingleSeptets, 1
	}
	if len(payload)/octetsPerUnit <= single {
		return []Part{{Text: body, Payload: payload}}, nil
	}
	parts := make([]Part, 0, len(payload)/octetsPerUnit/per+1)
	off := 0
	for start := 0; start < len(body); {
		end, used := scanPart(body, start, enc, per)
		n := used * octetsPerUnit
		parts = append(parts, Part{
			Text:    body[start:end],
			Payload: payload[off : off+n : off+n],
		})
		start, off = end, off+n
	}
	return parts, nil
}
