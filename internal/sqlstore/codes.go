package sqlstore

import (
	"encoding/binary"
	"fmt"

	"github.com/otpgate/otpgate/internal/verification"
)

// A verification's codes are kept as a blob of 40-byte entries: expiry (8
// bytes, big-endian Unix nanoseconds) then the 32-byte HMAC.
const codeEntryLen = 40

// EncodeCodes is the codes column of codes.
func EncodeCodes(codes []verification.Code) []byte {
	b := make([]byte, 0, len(codes)*codeEntryLen)
	for _, c := range codes {
		b = binary.BigEndian.AppendUint64(b, uint64(Nanos(c.ExpiresAt)))
		var h [32]byte
		copy(h[:], c.Hash)
		b = append(b, h[:]...)
	}
	return b
}

// DecodeCodes reads a codes column EncodeCodes wrote.
func DecodeCodes(b []byte) ([]verification.Code, error) {
	if len(b)%codeEntryLen != 0 {
		return nil, fmt.Errorf("corrupt codes column (%d bytes)", len(b))
	}
	codes := make([]verification.Code, 0, len(b)/codeEntryLen)
	for ; len(b) > 0; b = b[codeEntryLen:] {
		codes = append(codes, verification.Code{
			ExpiresAt: FromNanos(int64(binary.BigEndian.Uint64(b[:8]))),
			Hash:      append([]byte(nil), b[8:codeEntryLen]...),
		})
	}
	return codes, nil
}
