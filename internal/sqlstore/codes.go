package sqlstore

import (
	"encoding/binary"
	"fmt"

	"github.com/otpgate/otpgate/internal/verification"
)

// A verification's codes are kept as a blob of 40-byte entries: expiry (8
// bytes, big-endian Unix nanoseconds) then the 32-byte HMAC. When a code
// went by another channel than its verification's (an email fallback), the
// blob is channelsMark then 41-byte entries: the same 40 bytes and the
// channel (channelCodes). A blob of the first form reads as codes of the
// verification's channel. The mark cannot begin the first form: it would
// be an expiry before 1970.
const (
	codeEntryLen    = 40
	channelEntryLen = 41
	channelsMark    = 0xff
)

// channelCodes are the channels' bytes in an entry; 0 is the
// verification's channel.
var channelCodes = map[string]byte{"": 0, "sms": 1, "email": 2}

// EncodeCodes is the codes column of codes.
func EncodeCodes(codes []verification.Code) []byte {
	withChannels := false
	for _, c := range codes {
		withChannels = withChannels || c.Channel != ""
	}
	n := codeEntryLen
	if withChannels {
		n = channelEntryLen
	}
	b := make([]byte, 0, 1+len(codes)*n)
	if withChannels {
		b = append(b, channelsMark)
	}
	for _, c := range codes {
		b = binary.BigEndian.AppendUint64(b, uint64(Nanos(c.ExpiresAt)))
		var h [32]byte
		copy(h[:], c.Hash)
		b = append(b, h[:]...)
		if withChannels {
			b = append(b, channelCodes[c.Channel])
		}
	}
	return b
}

// DecodeCodes reads a codes column EncodeCodes wrote.
func DecodeCodes(b []byte) ([]verification.Code, error) {
	n := codeEntryLen
	if len(b) > 0 && b[0] == channelsMark {
		b, n = b[1:], channelEntryLen
	}
	if len(b)%n != 0 {
		return nil, fmt.Errorf("corrupt codes column (%d bytes)", len(b))
	}
	codes := make([]verification.Code, 0, len(b)/n)
	for ; len(b) > 0; b = b[n:] {
		c := verification.Code{
			ExpiresAt: FromNanos(int64(binary.BigEndian.Uint64(b[:8]))),
			Hash:      append([]byte(nil), b[8:codeEntryLen]...),
		}
		if n == channelEntryLen {
			found := false
			for name, code := range channelCodes {
				if code == b[codeEntryLen] {
					c.Channel, found = name, true
				}
			}
			if !found {
				return nil, fmt.Errorf("corrupt codes column (channel %d)", b[codeEntryLen])
			}
		}
		codes = append(codes, c)
	}
	return codes, nil
}
