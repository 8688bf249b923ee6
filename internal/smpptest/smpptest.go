// Package smpptest runs an independent SMSC for tests: node-smpp (npm "smpp" 0.5.1)
// in the script node/smsc.js, driven over its stdin and stdout with JSON lines.
//
// The peer reports every submit_sm with the exact octets the client sent
// (short_message including any UDH, and every TLV), answers with message ids, and
// on command sends delivery receipts and mobile-originated messages, throttles, or
// drops every connection.
//
// It needs Node.js and the script's packages:
//
//	npm ci --prefix internal/smpptest/node
//
// Without them Start skips the test, unless the environment variable CI is set:
// then it fails it, so that CI always runs these tests.
package smpptest

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/syncbuf"
)

// InstallHint is how to install what the peer needs, from the module root.
const InstallHint = "npm ci --prefix internal/smpptest/node"

// smppVersion is the node-smpp version the script is written against.
const smppVersion = "0.5.1"

const (
	startTimeout   = 15 * time.Second
	commandTimeout = 10 * time.Second
	stopTimeout    = 5 * time.Second
)

// Options configures a peer.
type Options struct {
	// SystemID and Password, when SystemID is set, are the only credentials a
	// bind may use; others get ESME_RBINDFAIL. An empty SystemID accepts any bind.
	SystemID, Password string
	// HexIDs makes submit_sm_resp carry message ids in lower-case hexadecimal.
	HexIDs bool
	// FirstID is the first message id handed out (then counting up); 0 means 1.
	FirstID uint64
}

// Submit is one submit_sm as the peer read it off the wire.
type Submit struct {
	// SequenceNumber is the client's sequence number.
	SequenceNumber uint32
	// CommandStatus is what the peer answered: 0, or ESME_RTHROTTLED (0x58).
	CommandStatus uint32
	// MessageID is the id in the submit_sm_resp; empty when throttled.
	MessageID string
	// SystemID is the system_id the session was bound with.
	SystemID string

	ServiceType                            string
	Source, Dest                           string
	SourceTON, SourceNPI, DestTON, DestNPI byte
	ESMClass, ProtocolID, PriorityFlag     byte
	DataCoding, RegisteredDelivery         byte
	ScheduleDeliveryTime, ValidityPeriod   string
	// ShortMessage is the short_message field exactly as sent, UDH included.
	ShortMessage []byte
	// TLVs holds each optional parameter's value exactly as sent, by tag. When
	// a tag occurs twice the later value is kept; TLVTags shows the wire order.
	TLVs    map[uint16][]byte
	TLVTags []uint16
}

// DeliverAck is a deliver_sm_resp the client sent.
type DeliverAck struct {
	SequenceNumber uint32
	CommandStatus  uint32
	// Kind is "receipt" or "mo"; empty for a sequence number the peer never sent.
	Kind string
	// MessageID is the receipt's message id (the key given to Receipt).
	MessageID string
}

// Bind is a bind request the peer answered.
type Bind struct {
	// Command is bind_transmitter, bind_receiver or bind_transceiver.
	Command       string
	SystemID      string
	CommandStatus uint32
}

// ReceiptSpec describes a delivery receipt for SendReceipt.
type ReceiptSpec struct {
	// MessageID names the submit the receipt is for: it picks the session (the
	// one that submitted it, else any receiver of the same system_id) and the
	// addresses. It is the default for TextID and TLVID.
	MessageID string
	// TextID is the id written in the text ("id:..."); TLVID the value of
	// receipted_message_id.
	TextID, TLVID string
	// Stat (default DELIVRD) and Err (default "000") go in the text; Stat also
	// sets message_state.
	Stat, Err string
	// NoTLVs leaves out receipted_message_id and message_state: text only.
	NoTLVs bool
	// Text, when set, replaces the whole receipt text.
	Text string
	// SystemID, when set, sends the receipt to a session bound with it.
	SystemID string
}

// Peer is a running node-smpp SMSC.
type Peer struct {
	// Addr is the host:port the SMSC listens on.
	Addr string
	// Port is the port of Addr.
	Port int

	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced whenever an event arrives
	submits   []Submit
	acks      []DeliverAck
	binds     []Bind
	log       []string // events that are neither submits nor command replies
	pending   map[int64]chan reply
	nextCmdID int64
	exited    bool
	exitErr   error
	stderr    syncbuf.Buffer
	done      chan struct{}
}

type reply struct {
	ok   bool
	line []byte
}

// Dir is the folder of smsc.js and its package.json: beside this file's source,
// or, when the build trimmed source paths, found from the working directory (a
// test's is its package folder) up to the module root.
func Dir() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		return filepath.Join(filepath.Dir(file), "node")
	}
	rel := filepath.Join("internal", "smpptest", "node")
	dir, err := os.Getwd()
	if err != nil {
		return rel
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return rel
		}
		dir = parent
	}
}

// unavailable reports why the peer cannot run here, or "".
func unavailable(dir string) (node, why string) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", "node (Node.js 20) is not on PATH; install it (apt-get install nodejs npm), then run " + InstallHint
	}
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "smpp", "package.json"))
	if err != nil {
		return "", "node-smpp is not installed in " + dir + "; run " + InstallHint
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(b, &pkg); err != nil || pkg.Version != smppVersion {
		return "", fmt.Sprintf("node-smpp %q is installed in %s, want %s; run %s", pkg.Version, dir, smppVersion, InstallHint)
	}
	return node, ""
}

// Start starts node smsc.js for the test and stops it at cleanup. If node or the
// installed node_modules are missing it skips the test with how to install
// them, except when the environment variable CI is set, where it fails it.
func Start(t testing.TB, opt Options) *Peer {
	t.Helper()
	dir := Dir()
	node, why := unavailable(dir)
	if why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("smpptest: %s (CI is set: these tests must run)", why)
		}
		t.Skipf("smpptest: %s", why)
	}

	args := []string{filepath.Join(dir, "smsc.js")}
	if opt.SystemID != "" {
		args = append(args, "--system-id", opt.SystemID, "--password", opt.Password)
	}
	if opt.HexIDs {
		args = append(args, "--hex-ids")
	}
	if opt.FirstID != 0 {
		args = append(args, "--first-id", strconv.FormatUint(opt.FirstID, 10))
	}
	p := &Peer{
		changed: make(chan struct{}),
		pending: make(map[int64]chan reply),
		done:    make(chan struct{}),
	}
	p.cmd = exec.Command(node, args...)
	p.cmd.Dir = dir
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = stopTimeout
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatalf("smpptest: %v", err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("smpptest: %v", err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("smpptest: start node: %v", err)
	}
	listening := make(chan int, 1)
	go p.read(stdout, listening)
	t.Cleanup(func() { p.stop(t) })

	select {
	case port := <-listening:
		p.Port = port
		p.Addr = "127.0.0.1:" + strconv.Itoa(port)
	case <-p.done:
		t.Fatalf("smpptest: node exited before listening: %v\n%s", p.exitErr, p.stderr.String())
	case <-time.After(startTimeout):
		t.Fatalf("smpptest: node did not listen within %v\n%s", startTimeout, p.stderr.String())
	}
	return p
}

func (p *Peer) stop(t testing.TB) {
	p.mu.Lock()
	exited, exitErr := p.exited, p.exitErr
	p.mu.Unlock()
	if exited {
		t.Errorf("smpptest: node exited during the test: %v", exitErr)
	}
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		<-p.done
	}
	if t.Failed() {
		p.mu.Lock()
		defer p.mu.Unlock()
		t.Logf("smpptest: peer events:\n%s", strings.Join(p.log, "\n"))
		if s := p.stderr.String(); s != "" {
			t.Logf("smpptest: node stderr:\n%s", s)
		}
	}
}

// read handles the script's events until its stdout closes, then waits for it.
func (p *Peer) read(stdout io.Reader, listening chan<- int) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		p.handle(line, listening)
	}
	err := p.cmd.Wait()
	p.mu.Lock()
	p.exited = true
	p.exitErr = err
	for id, ch := range p.pending {
		delete(p.pending, id)
		close(ch)
	}
	p.notifyLocked()
	p.mu.Unlock()
	close(p.done)
}

type wireEvent struct {
	Event          string `json:"event"`
	ID             *int64 `json:"id"`
	Port           int    `json:"port"`
	SequenceNumber uint32 `json:"sequence_number"`
	CommandStatus  uint32 `json:"command_status"`
	Kind           string `json:"kind"`
	MessageID      string `json:"message_id"`
	Command        string `json:"command"`
	SystemID       string `json:"system_id"`
}

type wireSubmit struct {
	SequenceNumber       uint32            `json:"sequence_number"`
	CommandStatus        uint32            `json:"command_status"`
	MessageID            string            `json:"message_id"`
	SystemID             string            `json:"system_id"`
	ServiceType          string            `json:"service_type"`
	SourceAddr           string            `json:"source_addr"`
	SourceAddrTON        byte              `json:"source_addr_ton"`
	SourceAddrNPI        byte              `json:"source_addr_npi"`
	DestinationAddr      string            `json:"destination_addr"`
	DestAddrTON          byte              `json:"dest_addr_ton"`
	DestAddrNPI          byte              `json:"dest_addr_npi"`
	ESMClass             byte              `json:"esm_class"`
	ProtocolID           byte              `json:"protocol_id"`
	PriorityFlag         byte              `json:"priority_flag"`
	ScheduleDeliveryTime string            `json:"schedule_delivery_time"`
	ValidityPeriod       string            `json:"validity_period"`
	RegisteredDelivery   byte              `json:"registered_delivery"`
	DataCoding           byte              `json:"data_coding"`
	ShortMessageHex      string            `json:"short_message_hex"`
	TLVs                 map[string]string `json:"tlvs"`
	TLVTags              []string          `json:"tlv_tags"`
}

func decodeSubmit(line []byte) (Submit, error) {
	var w wireSubmit
	if err := json.Unmarshal(line, &w); err != nil {
		return Submit{}, err
	}
	sm, err := hex.DecodeString(w.ShortMessageHex)
	if err != nil {
		return Submit{}, fmt.Errorf("short_message_hex: %w", err)
	}
	s := Submit{
		SequenceNumber: w.SequenceNumber, CommandStatus: w.CommandStatus,
		MessageID: w.MessageID, SystemID: w.SystemID, ServiceType: w.ServiceType,
		Source: w.SourceAddr, Dest: w.DestinationAddr,
		SourceTON: w.SourceAddrTON, SourceNPI: w.SourceAddrNPI,
		DestTON: w.DestAddrTON, DestNPI: w.DestAddrNPI,
		ESMClass: w.ESMClass, ProtocolID: w.ProtocolID, PriorityFlag: w.PriorityFlag,
		DataCoding: w.DataCoding, RegisteredDelivery: w.RegisteredDelivery,
		ScheduleDeliveryTime: w.ScheduleDeliveryTime, ValidityPeriod: w.ValidityPeriod,
		ShortMessage: sm,
		TLVs:         make(map[uint16][]byte, len(w.TLVs)),
	}
	for k, v := range w.TLVs {
		tag, err := strconv.ParseUint(k, 0, 16)
		if err != nil {
			return Submit{}, fmt.Errorf("TLV tag %q: %w", k, err)
		}
		if s.TLVs[uint16(tag)], err = hex.DecodeString(v); err != nil {
			return Submit{}, fmt.Errorf("TLV %q: %w", k, err)
		}
	}
	for _, k := range w.TLVTags {
		tag, err := strconv.ParseUint(k, 0, 16)
		if err != nil {
			return Submit{}, fmt.Errorf("TLV tag %q: %w", k, err)
		}
		s.TLVTags = append(s.TLVTags, uint16(tag))
	}
	return s, nil
}

func (p *Peer) handle(line []byte, listening chan<- int) {
	var ev wireEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		p.mu.Lock()
		p.log = append(p.log, "unparsed: "+string(line))
		p.mu.Unlock()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case ev.Event == "listening":
		select {
		case listening <- ev.Port:
		default:
		}
	case ev.Event == "submit":
		s, err := decodeSubmit(line)
		if err != nil {
			p.log = append(p.log, fmt.Sprintf("bad submit event (%v): %s", err, line))
			break
		}
		p.submits = append(p.submits, s)
	case ev.Event == "deliver_sm_resp":
		p.acks = append(p.acks, DeliverAck{SequenceNumber: ev.SequenceNumber,
			CommandStatus: ev.CommandStatus, Kind: ev.Kind, MessageID: ev.MessageID})
	case ev.Event == "bind":
		p.binds = append(p.binds, Bind{Command: ev.Command, SystemID: ev.SystemID,
			CommandStatus: ev.CommandStatus})
	case (ev.Event == "ok" || ev.Event == "error") && ev.ID != nil:
		if ch, ok := p.pending[*ev.ID]; ok {
			delete(p.pending, *ev.ID)
			ch <- reply{ok: ev.Event == "ok", line: line}
			break
		}
		p.log = append(p.log, string(line))
	default:
		p.log = append(p.log, string(line))
	}
	p.notifyLocked()
}

func (p *Peer) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// command sends one command and returns the script's "ok" line.
func (p *Peer) command(t testing.TB, fields map[string]any) []byte {
	t.Helper()
	p.mu.Lock()
	if p.exited {
		p.mu.Unlock()
		t.Fatalf("smpptest: %v: node has exited: %v", fields["cmd"], p.exitErr)
	}
	p.nextCmdID++
	id := p.nextCmdID
	ch := make(chan reply, 1)
	p.pending[id] = ch
	p.mu.Unlock()

	fields["id"] = id
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatalf("smpptest: %v", err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("smpptest: write command: %v", err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			t.Fatalf("smpptest: %v: node exited: %v\n%s", fields["cmd"], p.exitErr, p.stderr.String())
		}
		if !r.ok {
			t.Fatalf("smpptest: %v failed: %s", fields["cmd"], r.line)
		}
		return r.line
	case <-time.After(commandTimeout):
		t.Fatalf("smpptest: %v: no answer within %v", fields["cmd"], commandTimeout)
		return nil
	}
}

func (p *Peer) commandSeq(t testing.TB, fields map[string]any) uint32 {
	t.Helper()
	var r struct {
		SequenceNumber uint32 `json:"sequence_number"`
	}
	if err := json.Unmarshal(p.command(t, fields), &r); err != nil {
		t.Fatalf("smpptest: %v", err)
	}
	return r.SequenceNumber
}

// Submits returns the submit_sm PDUs received so far, in order.
func (p *Peer) Submits() []Submit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Submit(nil), p.submits...)
}

// DeliverAcks returns the deliver_sm_resp PDUs received so far, in order.
func (p *Peer) DeliverAcks() []DeliverAck {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]DeliverAck(nil), p.acks...)
}

// Binds returns the bind requests answered so far, in order.
func (p *Peer) Binds() []Bind {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Bind(nil), p.binds...)
}

// wait waits until count() >= n, failing the test after timeout.
func (p *Peer) wait(t testing.TB, what string, n int, timeout time.Duration, count func() int) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		got, ch, exited := count(), p.changed, p.exited
		p.mu.Unlock()
		if got >= n {
			return
		}
		if exited {
			t.Fatalf("smpptest: waiting for %d %s, have %d: node exited: %v", n, what, got, p.exitErr)
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("smpptest: waiting for %d %s, have %d after %v", n, what, got, timeout)
		}
	}
}

// WaitSubmits waits until at least n submit_sm have arrived and returns them all.
func (p *Peer) WaitSubmits(t testing.TB, n int, timeout time.Duration) []Submit {
	t.Helper()
	p.wait(t, "submit_sm", n, timeout, func() int { return len(p.submits) })
	return p.Submits()
}

// WaitDeliverAcks waits until at least n deliver_sm_resp have arrived and returns them all.
func (p *Peer) WaitDeliverAcks(t testing.TB, n int, timeout time.Duration) []DeliverAck {
	t.Helper()
	p.wait(t, "deliver_sm_resp", n, timeout, func() int { return len(p.acks) })
	return p.DeliverAcks()
}

// WaitBinds waits until at least n binds have been answered and returns them all.
func (p *Peer) WaitBinds(t testing.TB, n int, timeout time.Duration) []Bind {
	t.Helper()
	p.wait(t, "binds", n, timeout, func() int { return len(p.binds) })
	return p.Binds()
}

// Receipt sends a delivery receipt (deliver_sm, esm_class 0x04, with the text form
// and the TLVs receipted_message_id and message_state) for messageID with stat
// (DELIVRD, UNDELIV, ...) and err ("000").
func (p *Peer) Receipt(t testing.TB, messageID, stat, errCode string) {
	t.Helper()
	p.SendReceipt(t, ReceiptSpec{MessageID: messageID, Stat: stat, Err: errCode})
}

// ReceiptWithTextID is Receipt with a different id in the text, as SMSCs do that
// answer submit_sm with a hex id and write the receipt's id in decimal.
func (p *Peer) ReceiptWithTextID(t testing.TB, messageID, textID, stat, errCode string) {
	t.Helper()
	p.SendReceipt(t, ReceiptSpec{MessageID: messageID, TextID: textID, Stat: stat, Err: errCode})
}

// SendReceipt sends the receipt r describes and returns its sequence number.
func (p *Peer) SendReceipt(t testing.TB, r ReceiptSpec) uint32 {
	t.Helper()
	f := map[string]any{"cmd": "receipt", "message_id": r.MessageID}
	set := func(k, v string) {
		if v != "" {
			f[k] = v
		}
	}
	set("text_id", r.TextID)
	set("tlv_id", r.TLVID)
	set("stat", r.Stat)
	set("err", r.Err)
	set("text", r.Text)
	set("system_id", r.SystemID)
	if r.NoTLVs {
		f["tlvs"] = false
	}
	return p.commandSeq(t, f)
}

// Throttle answers every nth submit_sm from now on with ESME_RTHROTTLED (0x58);
// 0 turns it off.
func (p *Peer) Throttle(t testing.TB, every int) {
	t.Helper()
	p.command(t, map[string]any{"cmd": "throttle", "every": every})
}

// Drop destroys every connection abruptly (no unbind). The peer keeps listening.
func (p *Peer) Drop(t testing.TB) {
	t.Helper()
	p.command(t, map[string]any{"cmd": "drop"})
}

// MO sends a mobile-originated deliver_sm (esm_class 0, or 0x40 when udh is set)
// from from (TON 1/NPI 1) to to (TON 1/NPI 1) to a bound receiver. udh is the
// whole header, its length octet included; short_message is udh followed by sm.
// It returns the deliver_sm's sequence number.
func (p *Peer) MO(t testing.TB, from, to string, dataCoding byte, sm, udh []byte) uint32 {
	t.Helper()
	return p.commandSeq(t, map[string]any{
		"cmd": "mo", "from": from, "to": to, "data_coding": dataCoding,
		"short_message_hex": hex.EncodeToString(sm), "udh_hex": hex.EncodeToString(udh),
	})
}

// AutoReceipt makes the peer send a receipt with stat after delay for each
// accepted submit_sm whose registered_delivery asks for one (bits 0-1: 1 always,
// 2 on failure only). An empty stat turns it off.
func (p *Peer) AutoReceipt(t testing.TB, stat string, delay time.Duration) {
	t.Helper()
	p.command(t, map[string]any{"cmd": "auto_receipt", "stat": stat, "delay_ms": delay.Milliseconds()})
}

// AutoReceiptFirst is AutoReceipt with each receipt sent before the
// submit_sm_resp that names its message id, as some SMSCs do.
func (p *Peer) AutoReceiptFirst(t testing.TB, stat string) {
	t.Helper()
	p.command(t, map[string]any{"cmd": "auto_receipt", "stat": stat, "before_resp": true})
}
