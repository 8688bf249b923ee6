package smscsim

import (
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otpgate/otpgate/internal/smsenc"
)

// Message is a text message the simulator took: one submit_sm, or the
// parts of a concatenated one joined, decoded by its data_coding.
type Message struct {
	// IDs are the message ids of its parts (as sent in submit_sm_resp),
	// in part order; an incomplete message has only those that came.
	IDs       []string
	SystemID  string // of the bind its last part came on
	Source    string // as sent: "MyApp", "962790320012"
	SourceTON byte
	Dest      string // as sent: "962790320012"
	DestTON   byte
	// Text is the decoded text (see Encoding); binary data is in hex.
	Text string
	// Encoding is "GSM-7", "UCS-2", "Latin-1" or "binary".
	Encoding   string
	DataCoding byte // of its first part
	Parts      int  // parts it was sent in: 1 unless concatenated
	// Missing lists the part numbers (1-based) that never came, for an
	// incomplete message given up after Config.PartsTimeout; nil when whole.
	// Its Text joins the parts that came, with "…" for each one missing.
	Missing []int
	At      time.Time // when its last part arrived
}

// To is the destination as a phone number is written: with '+' when sent
// as an international number (TON 1) of digits, else as sent.
func (m Message) To() string { return addrString(m.Dest, m.DestTON) }

// From is the sender as To writes the destination.
func (m Message) From() string { return addrString(m.Source, m.SourceTON) }

func addrString(a string, ton byte) string {
	if ton == 1 && a != "" && strings.Trim(a, "0123456789") == "" {
		return "+" + a
	}
	return a
}

// Line is the message as `otpgate smsc-sim` prints it: the time (UTC), the
// destination, the sender and the text, quoted as a Go string (control
// characters and invisible format marks escaped, any script kept), e.g.
//
//	2026-12-06 12:00:01  +962790320012  from MyApp  "Your verification code is: 123456"
//
// The encoding and the parts are named when it is not a single GSM-7 SMS.
func (m Message) Line() string {
	var b strings.Builder
	b.WriteString(m.At.UTC().Format(time.DateTime))
	b.WriteString("  ")
	b.WriteString(quoteIfOdd(m.To()))
	b.WriteString("  from ")
	b.WriteString(quoteIfOdd(m.From()))
	b.WriteString("  ")
	if m.Encoding != string(smsenc.GSM7) || m.Parts > 1 {
		b.WriteString(m.Encoding)
		if m.Parts > 1 {
			b.WriteString(", ")
			b.WriteString(itoa(m.Parts))
			b.WriteString(" parts")
		}
		b.WriteString("  ")
	}
	if len(m.Missing) > 0 {
		b.WriteString("INCOMPLETE, never came: part")
		if len(m.Missing) > 1 {
			b.WriteString("s")
		}
		for i, n := range m.Missing {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(" ")
			b.WriteString(itoa(n))
		}
		b.WriteString("  ")
	}
	b.WriteString(quote(m.Text))
	return b.String()
}

// quoteIfOdd quotes an address holding a space, a quote or anything not
// printable, so a line always reads as its fields.
func quoteIfOdd(s string) string {
	if s == "" || strings.ContainsAny(s, " \"\\") || quote(s) != `"`+s+`"` {
		return quote(s)
	}
	return s
}

// quote is strconv.Quote: printable characters of any script kept, the
// rest escaped (a terminal never gets a control character from a peer).
func quote(s string) string { return strconv.Quote(s) }

func itoa(n int) string { return strconv.Itoa(n) }

// decodeText decodes user data (without its UDH) by its data_coding, as an
// SMSC would for the handset: 0x00 and 0x01 as unpacked GSM-7 with its
// extension table (node-smpp and most SMSCs send GSM 03.38 under 0x01
// too), 0x03 Latin-1, 0x08 UCS-2 (UTF-16BE, surrogate pairs joined), and
// the GSM 03.38 coding groups (0x10-0x1F, 0xC0-0xEF, 0xF0-0xFF) by the
// alphabet they name. Anything else is binary, shown in hex. It never
// fails: an octet GSM-7 cannot hold and a lone or cut UTF-16 unit decode as
// U+FFFD.
func decodeText(dc byte, b []byte) (text, encoding string) {
	switch alphabetOf(dc) {
	case alphaGSM7:
		return decodeGSM7Lenient(b), string(smsenc.GSM7)
	case alphaUCS2:
		return decodeUCS2Lenient(b), string(smsenc.UCS2)
	case alphaLatin1:
		s, _ := smsenc.DecodeDataCoding(b, smsenc.DataCodingLatin1)
		return s, "Latin-1"
	}
	return hex.EncodeToString(b), "binary"
}

type alphabet uint8

const (
	alphaBinary alphabet = iota
	alphaGSM7
	alphaUCS2
	alphaLatin1
)

func alphabetOf(dc byte) alphabet {
	switch {
	case dc == 0x00 || dc == 0x01:
		return alphaGSM7
	case dc == 0x03:
		return alphaLatin1
	case dc == 0x08:
		return alphaUCS2
	case dc < 0x10:
		return alphaBinary // 8-bit data, JIS, Cyrillic, Hebrew, pictograms...
	case dc < 0x20: // general data coding, uncompressed, with a message class
		return [4]alphabet{alphaGSM7, alphaBinary, alphaUCS2, alphaBinary}[dc>>2&3]
	case dc >= 0xC0 && dc < 0xE0: // message waiting indication, GSM-7
		return alphaGSM7
	case dc >= 0xE0 && dc < 0xF0: // message waiting indication, UCS-2
		return alphaUCS2
	case dc >= 0xF0: // data coding / message class: bit 2 is 8-bit data
		if dc&0x04 != 0 {
			return alphaBinary
		}
		return alphaGSM7
	}
	return alphaBinary // compressed or reserved
}

// decodeGSM7Lenient decodes unpacked GSM-7; an octet above 0x7F becomes
// U+FFFD.
func decodeGSM7Lenient(b []byte) string {
	if s, err := smsenc.Decode(b, smsenc.GSM7); err == nil {
		return s
	}
	var sb strings.Builder
	start := 0
	for i, c := range b {
		if c > 0x7F {
			s, _ := smsenc.Decode(b[start:i], smsenc.GSM7)
			sb.WriteString(s)
			sb.WriteRune(utf8.RuneError)
			start = i + 1
		}
	}
	s, _ := smsenc.Decode(b[start:], smsenc.GSM7)
	sb.WriteString(s)
	return sb.String()
}

// decodeUCS2Lenient decodes UTF-16BE; an odd last octet becomes U+FFFD.
func decodeUCS2Lenient(b []byte) string {
	odd := len(b)%2 != 0
	s, _ := smsenc.Decode(b[:len(b)&^1], smsenc.UCS2)
	if odd {
		s += string(utf8.RuneError)
	}
	return s
}

// SAR TLVs (SMPP 3.4 5.3.2.22-24).
const (
	tagSARMsgRefNum     = uint16(0x020C)
	tagSARTotalSegments = uint16(0x020E)
	tagSARSegmentSeqnum = uint16(0x020F)
)

// part is one submit_sm as the joiner sees it.
type part struct {
	id         string
	sys        string
	src, dst   string
	srcTON     byte
	dstTON     byte
	dc         byte
	ud         []byte // user data without UDH; aliases the PDU until kept
	ref        uint16
	total, seq int  // 1, 1 for a message on its own
	sar        bool // concatenated with SAR TLVs, not a UDH
	at         time.Time
}

// partOf reads a parsed submit_sm as a part: its user data (short_message,
// or message_payload when short_message is empty) without the UDH, and
// where it belongs, from a concatenation IE (IEI 0x00 or 0x08) in its UDH
// or else from the SAR TLVs. A part that names no valid place (total 0, seq
// outside 1..total) is taken as a message on its own, as handsets do.
func partOf(v *submitView) part {
	p := part{
		src: string(v.src), dst: string(v.dst), srcTON: v.srcTON, dstTON: v.dstTON,
		dc: v.dataCoding, ud: v.content(), total: 1, seq: 1,
	}
	if v.esmClass&esmUDHI != 0 && len(p.ud) > 0 {
		ref, total, seq, hl, ok := smsenc.ParseUDH(p.ud)
		if hl == 0 { // an IE overruns the header: skip the header whole
			hl = min(1+int(p.ud[0]), len(p.ud))
		}
		p.ud = p.ud[hl:]
		if ok && total > 1 {
			p.ref, p.total, p.seq = ref, total, seq
		}
		return p
	}
	ref, ok1 := v.tlv(tagSARMsgRefNum)
	total, ok2 := v.tlv(tagSARTotalSegments)
	seq, ok3 := v.tlv(tagSARSegmentSeqnum)
	if ok1 && ok2 && ok3 && len(ref) == 2 && len(total) == 1 && len(seq) == 1 &&
		total[0] > 1 && seq[0] >= 1 && seq[0] <= total[0] {
		p.ref, p.total, p.seq, p.sar = binary.BigEndian.Uint16(ref), int(total[0]), int(seq[0]), true
	}
	return p
}

// joinKey tells concatenated messages apart: the same reference from
// another sender, to another number, on another account or with another
// part count is another message.
type joinKey struct {
	sys, src, dst string
	ref           uint16
	total         int
	sar           bool
}

// pending is a concatenated message some of whose parts came.
type pending struct {
	parts []*part // by seq-1; nil until it came
	got   int
	size  int // octets of user data kept
	first time.Time
	last  time.Time
}

// Bounds of the joiner's memory.
const (
	// DefaultPartsTimeout is how long a concatenated message waits for its
	// next part before it is given up as incomplete.
	DefaultPartsTimeout = time.Minute
	// maxPendingBytes caps the user data of incomplete messages kept;
	// past it the oldest is given up.
	maxPendingBytes = 16 << 20
)

// joiner joins the parts of concatenated messages. It is not safe for
// concurrent use: Server guards it.
type joiner struct {
	timeout  time.Duration
	maxBytes int // maxPendingBytes; tests lower it
	pending  map[joinKey]*pending
	size     int
}

func newJoiner(timeout time.Duration) *joiner {
	if timeout <= 0 {
		timeout = DefaultPartsTimeout
	}
	return &joiner{timeout: timeout, maxBytes: maxPendingBytes, pending: make(map[joinKey]*pending)}
}

// add takes a part and appends to out the messages it completes: itself
// when on its own, the joined message when it is the last part to come,
// and any incomplete message it pushed out of memory. A part that repeats
// one already kept replaces it.
func (j *joiner) add(p part, out []Message) []Message {
	if p.total <= 1 {
		text, enc := decodeText(p.dc, p.ud)
		return append(out, Message{
			IDs: []string{p.id}, SystemID: p.sys, Source: p.src, SourceTON: p.srcTON, Dest: p.dst, DestTON: p.dstTON,
			Text: text, Encoding: enc, DataCoding: p.dc, Parts: 1, At: p.at,
		})
	}
	k := joinKey{sys: p.sys, src: p.src, dst: p.dst, ref: p.ref, total: p.total, sar: p.sar}
	pm := j.pending[k]
	if pm == nil {
		pm = &pending{parts: make([]*part, p.total), first: p.at}
		j.pending[k] = pm
	}
	p.ud = slices.Clone(p.ud)
	if old := pm.parts[p.seq-1]; old != nil {
		pm.size -= len(old.ud)
		j.size -= len(old.ud)
	} else {
		pm.got++
	}
	pm.parts[p.seq-1] = &p
	pm.size += len(p.ud)
	j.size += len(p.ud)
	pm.last = p.at
	if pm.got == p.total {
		j.drop(k, pm)
		out = append(out, pm.message())
	}
	for j.size > j.maxBytes {
		ok, opm := j.oldest()
		j.drop(ok, opm)
		out = append(out, opm.message())
	}
	return out
}

// expire gives up the messages whose last part came longer than the
// timeout before now, appending them to out as incomplete.
func (j *joiner) expire(now time.Time, out []Message) []Message {
	start := len(out)
	for k, pm := range j.pending {
		if now.Sub(pm.last) >= j.timeout {
			j.drop(k, pm)
			out = append(out, pm.message())
		}
	}
	slices.SortFunc(out[start:], func(a, b Message) int { return a.At.Compare(b.At) })
	return out
}

func (j *joiner) drop(k joinKey, pm *pending) {
	delete(j.pending, k)
	j.size -= pm.size
}

func (j *joiner) oldest() (joinKey, *pending) {
	var ok joinKey
	var opm *pending
	for k, pm := range j.pending {
		if opm == nil || pm.first.Before(opm.first) {
			ok, opm = k, pm
		}
	}
	return ok, opm
}

// message joins what came. Parts of one data_coding are joined before
// decoding, so an escape sequence or a surrogate pair cut between two parts
// still decodes; parts of mixed codings are decoded one by one.
func (pm *pending) message() Message {
	var first, last *part
	same := true
	var missing []int
	for i, p := range pm.parts {
		if p == nil {
			missing = append(missing, i+1)
			continue
		}
		if first == nil {
			first = p
		}
		if last == nil || p.at.After(last.at) {
			last = p // the last to arrive
		}
		same = same && p.dc == first.dc
	}
	m := Message{
		SystemID: last.sys, Source: first.src, SourceTON: first.srcTON, Dest: first.dst, DestTON: first.dstTON,
		DataCoding: first.dc, Parts: len(pm.parts), Missing: missing, At: last.at,
	}
	var text strings.Builder
	var run []byte
	flush := func() {
		if len(run) > 0 {
			s, enc := decodeText(first.dc, run)
			text.WriteString(s)
			m.Encoding = enc
			run = run[:0]
		}
	}
	for _, p := range pm.parts {
		switch {
		case p == nil:
			flush()
			text.WriteString("…")
		case same:
			run = append(run, p.ud...)
		default:
			s, enc := decodeText(p.dc, p.ud)
			text.WriteString(s)
			if m.Encoding == "" {
				m.Encoding = enc
			}
		}
		if p != nil {
			m.IDs = append(m.IDs, p.id)
		}
	}
	flush()
	if m.Encoding == "" {
		_, m.Encoding = decodeText(first.dc, nil)
	}
	m.Text = text.String()
	return m
}
