package main

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/smpptest"
)

// silentSMSC binds every client and answers enquire_link, but never answers
// a submit_sm: an SMSC hung after the bind.
func silentSMSC(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				hdr := make([]byte, 16)
				for {
					if _, err := io.ReadFull(c, hdr); err != nil {
						return
					}
					n := binary.BigEndian.Uint32(hdr[0:])
					cmd := binary.BigEndian.Uint32(hdr[4:])
					seq := binary.BigEndian.Uint32(hdr[12:])
					if n < 16 || n > 64<<10 {
						return
					}
					if _, err := io.CopyN(io.Discard, c, int64(n-16)); err != nil {
						return
					}
					var body []byte
					switch cmd {
					case 0x00000009, 0x00000002, 0x00000001: // bind_transceiver, bind_transmitter, bind_receiver
						body = append([]byte("silent"), 0)
					case 0x00000015, 0x00000006: // enquire_link, unbind
					default: // submit_sm and the rest: never answered
						continue
					}
					resp := binary.BigEndian.AppendUint32(nil, uint32(16+len(body)))
					resp = binary.BigEndian.AppendUint32(resp, cmd|0x80000000)
					resp = binary.BigEndian.AppendUint32(resp, 0)
					resp = binary.BigEndian.AppendUint32(resp, seq)
					if _, err := c.Write(append(resp, body...)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// An SMSC that binds but never answers submit_sm: the send times out after
// the connector's response_timeout and fails over to the next connector of
// the route, where it is delivered.
func TestSilentSMSCFailsOver(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	peer.AutoReceipt(t, "DELIVRD", 20*time.Millisecond)
	s := mustServeSMPP(t, "smpp://otpgate:secret@"+silentSMSC(t)+"?name=silent&response_timeout=1s",
		"smpp://otpgate:secret@"+peer.Addr+"?name=zain")
	r := s.send(t, "app", "+962790380001")
	if r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	start := time.Now()
	m := s.waitMessage(t, r.str("message_sid"), message.Delivered)
	if m.Connector != "zain" {
		t.Fatalf("delivered through %q, want the second connector", m.Connector)
	}
	t.Logf("delivered through %s %s after the send", m.Connector, time.Since(start).Round(time.Millisecond))
}
