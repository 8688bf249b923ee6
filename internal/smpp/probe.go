package smpp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// ProbeResult is what one Probe found: the binds it made and how long each
// took, from dialling to the SMSC's bind response.
type ProbeResult struct {
	Binds    []string        // "bind_transceiver", or "bind_transmitter" and "bind_receiver"
	Took     []time.Duration // per bind
	Unbound  bool            // the SMSC answered every unbind
	UnbindOf string          // when not Unbound: what happened to the unbind
}

// ProbeError says in words why a Probe failed. Stage is "connect" (no TCP
// connection), "bind" (the SMSC answered the bind with an error status), or
// "answer" (connected, but no bind response came).
type ProbeError struct {
	Stage    string
	Addr     string
	Command  string // the bind command
	SystemID string
	Status   data.CommandStatusType // when Stage is "bind"
	Timeout  time.Duration
	Err      error
}

func (e *ProbeError) Unwrap() error { return e.Err }

func (e *ProbeError) Error() string {
	switch e.Stage {
	case "connect":
		if isTimeout(e.Err) {
			return fmt.Sprintf("cannot connect to %s: no answer within %s (a firewall dropping the packets, or the wrong address)", e.Addr, e.Timeout)
		}
		return fmt.Sprintf("cannot connect to %s: %s", e.Addr, netReason(e.Err))
	case "bind":
		s := fmt.Sprintf("the SMSC at %s refused the %s as system_id %s: %s (%s, 0x%08X)",
			e.Addr, e.Command, e.SystemID, strings.ToLower(e.Status.Desc()), e.Status, uint32(e.Status))
		if h := bindHint(e.Status); h != "" {
			s += "; " + h
		}
		return s
	default:
		if isTimeout(e.Err) {
			s := fmt.Sprintf("connected to %s, but no answer to %s within %s (is it an SMPP port? one that wants TLS?)", e.Addr, e.Command, e.Timeout)
			if e.Command == "bind_transceiver" {
				s += "; an SMPP 3.3 SMSC knows no bind_transceiver: try bind=txrx"
			}
			return s
		}
		if errors.Is(e.Err, io.EOF) || errors.Is(e.Err, syscall.ECONNRESET) {
			return fmt.Sprintf("connected to %s, but the SMSC closed the connection without answering %s", e.Addr, e.Command)
		}
		if errors.Is(e.Err, errNotSMPP) {
			return fmt.Sprintf("connected to %s, but what it answered to %s is not SMPP (is it the right port?)", e.Addr, e.Command)
		}
		return fmt.Sprintf("connected to %s, but %s failed: %v", e.Addr, e.Command, e.Err)
	}
}

// bindHint says what to look at for a refused bind.
func bindHint(s data.CommandStatusType) string {
	switch s {
	case data.ESME_RINVPASWD:
		return "check the password"
	case data.ESME_RINVSYSID:
		return "check the system_id"
	case data.ESME_RBINDFAIL:
		return "check the system_id and password; an SMSC also refuses binds past the account's limit (a running otpgate serve holds its binds)"
	case data.ESME_RINVSYSTYP:
		return "check system_type"
	case data.ESME_RALYBND:
		return "the account is already bound elsewhere and allows one bind"
	case data.ESME_RINVCMDID:
		return "the SMSC does not know this bind (an SMPP 3.3 SMSC knows no bind_transceiver: try bind=txrx)"
	}
	return ""
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// netReason is the end of a dial error: "connection refused", "no such host".
func netReason(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsNotFound {
			return "no such host " + dns.Name
		}
		return "looking up " + dns.Name + ": " + dns.Err
	}
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		return sys.Err.Error()
	}
	return err.Error()
}

// Probe binds to the SMSC once as the connector would (a bind_transceiver,
// or a bind_transmitter and a bind_receiver for bind=txrx, with gosmpp's
// PDUs), then unbinds: it checks the address and the credentials and sends
// no message. timeout bounds each connection and bind, and each unbind. A
// deliver_sm the SMSC pushes meanwhile is left unanswered, so the SMSC
// sends it again to the next bind.
func Probe(ctx context.Context, cfg Config, timeout time.Duration) (ProbeResult, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return ProbeResult{}, err
	}
	kinds := []pdu.BindingType{pdu.Transceiver}
	if cfg.Bind == "txrx" {
		kinds = []pdu.BindingType{pdu.Transmitter, pdu.Receiver}
	}
	var res ProbeResult
	var conns []*gosmpp.Connection
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, kind := range kinds {
		start := time.Now()
		conn, err := probeBind(ctx, cfg, kind, timeout)
		if err != nil {
			// Unbind what is bound already (the transmitter of a pair).
			unbindAll(conns, timeout)
			return res, err
		}
		conns = append(conns, conn)
		res.Binds = append(res.Binds, bindName(kind))
		res.Took = append(res.Took, time.Since(start))
	}
	res.Unbound, res.UnbindOf = unbindAll(conns, timeout)
	return res, nil
}

// probeBind dials and binds once. It reads the SMSC's answer itself, one
// frame at a time, because gosmpp fails to parse a bind_transceiver_resp
// that carries an error status and no body (as SMPP 3.4 section 4.1.2 says
// it should be), and reports EOF instead of the status.
func probeBind(ctx context.Context, cfg Config, kind pdu.BindingType, timeout time.Duration) (*gosmpp.Connection, error) {
	pe := &ProbeError{Addr: cfg.Addr, Command: bindName(kind), SystemID: cfg.SystemID, Timeout: timeout}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", cfg.Addr)
	if err != nil {
		pe.Stage, pe.Err = "connect", err
		return nil, pe
	}
	nc.SetDeadline(time.Now().Add(timeout))
	// ctx ending (a connector stopping) ends the wait for the answer.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	c := gosmpp.NewConnection(newBatchWriter(nc, writeTimeout))
	req := pdu.NewBindRequest(kind)
	req.SystemID, req.Password, req.SystemType = cfg.SystemID, cfg.Password, cfg.SystemType
	want := req.GetResponse().GetHeader().CommandID
	pe.Stage = "answer"
	if _, err := c.WritePDU(req); err != nil {
		c.Close()
		pe.Err = err
		return nil, pe
	}
	for {
		var hdr [16]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			c.Close()
			pe.Err = err
			return nil, pe
		}
		h := pdu.ParseHeader(hdr)
		if h.CommandLength < 16 || h.CommandLength > data.MAX_PDU_LEN {
			c.Close()
			pe.Err = errNotSMPP
			return nil, pe
		}
		frame := make([]byte, h.CommandLength)
		copy(frame, hdr[:])
		if _, err := io.ReadFull(c, frame[16:]); err != nil {
			c.Close()
			pe.Err = err
			return nil, pe
		}
		if h.SequenceNumber != req.GetSequenceNumber() || (h.CommandID != want && h.CommandID != data.GENERIC_NACK) {
			continue // not the answer (an enquire_link, say)
		}
		if h.CommandStatus != data.ESME_ROK {
			c.Close()
			pe.Stage, pe.Status = "bind", h.CommandStatus
			if h.CommandID == data.GENERIC_NACK {
				pe.Command += " (answered with generic_nack)"
			}
			return nil, pe
		}
		if _, err := pdu.Parse(bytes.NewReader(frame)); err != nil || h.CommandID != want {
			c.Close()
			pe.Err = fmt.Errorf("an unreadable %s: %v", h.CommandID, err)
			return nil, pe
		}
		return c, nil
	}
}

var errNotSMPP = errors.New("what it answered is not SMPP")

// unbindAll unbinds each connection and waits for each unbind_resp.
func unbindAll(conns []*gosmpp.Connection, timeout time.Duration) (ok bool, why string) {
	ok = true
	for _, c := range conns {
		if w := unbind(c, timeout); w != "" && ok {
			ok, why = false, w
		}
	}
	return ok, why
}

func unbind(c *gosmpp.Connection, timeout time.Duration) string {
	c.SetDeadline(time.Now().Add(timeout))
	u := pdu.NewUnbind()
	if _, err := c.WritePDU(u); err != nil {
		return "the unbind could not be written: " + err.Error()
	}
	for {
		p, err := pdu.Parse(c)
		if err != nil {
			if isTimeout(err) {
				return fmt.Sprintf("no unbind_resp within %s", timeout)
			}
			return "the SMSC closed the connection instead of answering unbind"
		}
		if r, ok := p.(*pdu.UnbindResp); ok && r.SequenceNumber == u.GetSequenceNumber() {
			return ""
		}
		// enquire_link, or a deliver_sm waiting for this system_id: left
		// unanswered (the SMSC sends it again to the next bind).
	}
}

func bindName(t pdu.BindingType) string {
	switch t {
	case pdu.Transmitter:
		return "bind_transmitter"
	case pdu.Receiver:
		return "bind_receiver"
	}
	return "bind_transceiver"
}
