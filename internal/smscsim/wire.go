package smscsim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"

	"github.com/linxGnu/gosmpp/data"
)

// The hot path (submit_sm in, submit_sm_resp out, deliver_sm_resp in) is
// handled here by hand on the bytes bufio.Reader already holds: gosmpp's
// pdu.Parse copies the frame twice, builds a map and allocates every field
// (about 20 allocations per submit_sm, see BenchmarkParseSubmit). Everything
// else goes through gosmpp's pdu package.

const (
	headerLen = 16
	// maxPDULen is the largest command_length accepted, as gosmpp's
	// data.MAX_PDU_LEN. A longer one means the framing is lost.
	maxPDULen = data.MAX_PDU_LEN

	cmdGenericNack     = uint32(0x80000000)
	cmdBindReceiver    = uint32(0x00000001)
	cmdBindTransmitter = uint32(0x00000002)
	cmdSubmitSM        = uint32(0x00000004)
	cmdSubmitSMResp    = uint32(0x80000004)
	cmdDeliverSM       = uint32(0x00000005)
	cmdDeliverSMResp   = uint32(0x80000005)
	cmdUnbind          = uint32(0x00000006)
	cmdUnbindResp      = uint32(0x80000006)
	cmdBindTransceiver = uint32(0x00000009)
	cmdEnquireLink     = uint32(0x00000015)
	cmdEnquireLinkResp = uint32(0x80000015)

	statusOK          = uint32(data.ESME_ROK)
	statusInvMsgLen   = uint32(data.ESME_RINVMSGLEN)
	statusInvCmdLen   = uint32(data.ESME_RINVCMDLEN)
	statusInvCmdID    = uint32(data.ESME_RINVCMDID)
	statusInvBndSts   = uint32(data.ESME_RINVBNDSTS)
	statusAlyBnd      = uint32(data.ESME_RALYBND)
	statusInvSrcAdr   = uint32(data.ESME_RINVSRCADR)
	statusInvDstAdr   = uint32(data.ESME_RINVDSTADR)
	statusBindFail    = uint32(data.ESME_RBINDFAIL)
	statusInvSerTyp   = uint32(data.ESME_RINVSERTYP)
	statusInvEsmClass = uint32(data.ESME_RINVESMCLASS)
	statusThrottled   = uint32(data.ESME_RTHROTTLED)
	statusInvSched    = uint32(data.ESME_RINVSCHED)
	statusInvExpiry   = uint32(data.ESME_RINVEXPIRY)

	tagReceiptedMessageID = uint16(0x001E)
	tagMessagePayload     = uint16(0x0424)
	tagMessageState       = uint16(0x0427)

	esmUDHI = 0x40
)

var errMalformed = errors.New("smscsim: malformed PDU body")

// submitView is a parsed submit_sm body. Its slices alias the parsed bytes.
type submitView struct {
	serviceType      []byte
	srcTON, srcNPI   byte
	src              []byte
	dstTON, dstNPI   byte
	dst              []byte
	esmClass         byte
	protocolID       byte
	priority         byte
	schedule         []byte
	validity         []byte
	regDelivery      byte
	replaceIfPresent byte
	dataCoding       byte
	defaultMsgID     byte
	sm               []byte
	tlvs             []byte // the raw, well-formed TLV area
}

// parseSubmit parses a submit_sm body (the PDU after its 16-byte header)
// without allocating. It checks structure only: every C-string terminated,
// short_message and every TLV inside the body, nothing left over.
func parseSubmit(b []byte, v *submitView) error {
	var ok bool
	p := 0
	cstr := func() []byte {
		if !ok {
			return nil
		}
		i := bytes.IndexByte(b[p:], 0)
		if i < 0 {
			ok = false
			return nil
		}
		s := b[p : p+i]
		p += i + 1
		return s
	}
	u8 := func() byte {
		if !ok || p >= len(b) {
			ok = false
			return 0
		}
		p++
		return b[p-1]
	}
	ok = true
	v.serviceType = cstr()
	v.srcTON, v.srcNPI = u8(), u8()
	v.src = cstr()
	v.dstTON, v.dstNPI = u8(), u8()
	v.dst = cstr()
	v.esmClass, v.protocolID, v.priority = u8(), u8(), u8()
	v.schedule = cstr()
	v.validity = cstr()
	v.regDelivery, v.replaceIfPresent, v.dataCoding, v.defaultMsgID = u8(), u8(), u8(), u8()
	n := int(u8())
	if !ok || p+n > len(b) {
		return errMalformed
	}
	v.sm = b[p : p+n]
	p += n
	v.tlvs = b[p:]
	for q := v.tlvs; len(q) > 0; {
		if len(q) < 4 {
			return errMalformed
		}
		l := int(binary.BigEndian.Uint16(q[2:]))
		if len(q) < 4+l {
			return errMalformed
		}
		q = q[4+l:]
	}
	return nil
}

// tlv returns the value of the first TLV with tag, if any.
func (v *submitView) tlv(tag uint16) ([]byte, bool) {
	for q := v.tlvs; len(q) >= 4; {
		t, l := binary.BigEndian.Uint16(q), int(binary.BigEndian.Uint16(q[2:]))
		if t == tag {
			return q[4 : 4+l], true
		}
		q = q[4+l:]
	}
	return nil, false
}

// content is the user data: short_message, or message_payload when
// short_message is empty.
func (v *submitView) content() []byte {
	if len(v.sm) == 0 {
		if p, ok := v.tlv(tagMessagePayload); ok {
			return p
		}
	}
	return v.sm
}

// text is the content without its user data header.
func (v *submitView) text() []byte {
	c := v.content()
	if v.esmClass&esmUDHI != 0 && len(c) > 0 && int(c[0])+1 <= len(c) {
		return c[int(c[0])+1:]
	}
	return c
}

// validateSubmit checks the fields a real SMSC would refuse, answering with
// the command_status it would use.
func validateSubmit(v *submitView) uint32 {
	switch {
	case len(v.serviceType) > 5:
		return statusInvSerTyp
	case len(v.src) > 20:
		return statusInvSrcAdr
	case len(v.dst) == 0 || len(v.dst) > 20:
		return statusInvDstAdr
	case len(v.schedule) != 0 && len(v.schedule) != 16:
		return statusInvSched
	case len(v.validity) != 0 && len(v.validity) != 16:
		return statusInvExpiry
	case len(v.sm) > 254:
		return statusInvMsgLen
	}
	if v.esmClass&esmUDHI != 0 {
		c := v.content()
		if len(c) == 0 || c[0] == 0 || int(c[0])+1 > len(c) {
			return statusInvEsmClass
		}
	}
	return statusOK
}

// appendHeader appends a PDU header.
func appendHeader(b []byte, length, cmd, status, seq uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, length)
	b = binary.BigEndian.AppendUint32(b, cmd)
	b = binary.BigEndian.AppendUint32(b, status)
	return binary.BigEndian.AppendUint32(b, seq)
}

// appendSubmitResp appends a successful submit_sm_resp carrying id.
func appendSubmitResp(b []byte, seq uint32, id uint64, hex bool) []byte {
	start := len(b)
	b = appendHeader(b, 0, cmdSubmitSMResp, statusOK, seq)
	b = appendID(b, id, hex)
	b = append(b, 0)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// appendID appends a message id as submit_sm_resp carries it.
func appendID(b []byte, id uint64, hex bool) []byte {
	if hex {
		return strconv.AppendUint(b, id, 16)
	}
	return strconv.AppendUint(b, id, 10)
}

func formatID(id uint64, hex bool) string {
	return string(appendID(nil, id, hex))
}

// cmdName names a command id for the log.
func cmdName(cmd uint32) string {
	return strings.ToLower(data.CommandIDType(int32(cmd)).String())
}
