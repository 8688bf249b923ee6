package smpp

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
)

// What otpgate doctor prints for each way a bind fails (the process tests in
// cmd/otpgate drive refused binds, closed ports and silent ones end to end;
// these are the statuses the test SMSCs never answer).
func TestProbeErrorWords(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  ProbeError
		want string
	}{
		{"wrong password", ProbeError{Stage: "bind", Addr: "10.0.0.3:2775", Command: "bind_transceiver", SystemID: "otpgate", Status: data.ESME_RINVPASWD},
			"the SMSC at 10.0.0.3:2775 refused the bind_transceiver as system_id otpgate: invalid password (ESME_RINVPASWD, 0x0000000E); check the password"},
		{"wrong system_id", ProbeError{Stage: "bind", Addr: "10.0.0.3:2775", Command: "bind_transmitter", SystemID: "otpgat", Status: data.ESME_RINVSYSID},
			"the SMSC at 10.0.0.3:2775 refused the bind_transmitter as system_id otpgat: invalid system id (ESME_RINVSYSID, 0x0000000F); check the system_id"},
		{"SMPP 3.3", ProbeError{Stage: "bind", Addr: "10.0.0.3:2775", Command: "bind_transceiver (answered with generic_nack)", SystemID: "otpgate", Status: data.ESME_RINVCMDID},
			"the SMSC at 10.0.0.3:2775 refused the bind_transceiver (answered with generic_nack) as system_id otpgate: invalid command id (ESME_RINVCMDID, 0x00000003); the SMSC does not know this bind (an SMPP 3.3 SMSC knows no bind_transceiver: try bind=txrx)"},
		{"refused", ProbeError{Stage: "connect", Addr: "10.0.0.2:2775", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}},
			"cannot connect to 10.0.0.2:2775: connection refused"},
		{"dropped", ProbeError{Stage: "connect", Addr: "10.0.0.2:2775", Timeout: 10 * time.Second, Err: errTimeout{}},
			"cannot connect to 10.0.0.2:2775: no answer within 10s (a firewall dropping the packets, or the wrong address)"},
		{"not SMPP", ProbeError{Stage: "answer", Addr: "10.0.0.2:80", Command: "bind_transceiver", Err: errNotSMPP},
			"connected to 10.0.0.2:80, but what it answered to bind_transceiver is not SMPP (is it the right port?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

type errTimeout struct{}

func (errTimeout) Error() string   { return "i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }
