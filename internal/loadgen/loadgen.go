// Package loadgen is the load generator behind `otpgate bench`: it drives an
// otpgate (or anything speaking its 2FA API) with closed-loop HTTP load and
// reports throughput and latency per phase. With an SMSC of its own
// (StartSMSC, internal/smscsim) that the server under test delivers to, it
// also reports what users care about: sends accepted, handed to the SMSC and
// delivered per second, the backlog between acceptance and the SMSC, and the
// time from request to submit_sm.
//
// It is built to be cheap on CPU, because on a small benchmark machine the
// generator and the server share the cores, and a generator that costs more
// than the server's own load understates every ceiling. So no net/http on the
// hot path: each worker owns one keep-alive HTTP/1.1 connection (rawClient),
// sends one pre-built request in which only the seven digits of the number
// change, and parses the answer's status line and the headers it needs from
// a bufio.Reader; on Unix the request is written from the read callback of
// the raw socket, which saves the read that would find nothing yet. A
// request allocates nothing; latency histograms are per worker, merged at
// the end.
package loadgen

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Phase names accepted in Config.Phases.
const (
	PhaseSend   = "send"
	PhaseVerify = "verify"
)

// Defaults applied by Run to zero Config fields.
const (
	DefaultConcurrency = 64
	DefaultDuration    = 10 * time.Second
	DefaultWarmup      = time.Second
	DefaultService     = "bench"
	DefaultFrom        = "OTPGate"
	// DefaultDrainTimeout bounds the wait, after a send phase, for accepted
	// sends to reach the SMSC.
	DefaultDrainTimeout = time.Minute
)

const (
	// maxChecksPerNumber is how many wrong codes the verify phase sends per
	// number; the server answers 429 after the fifth.
	maxChecksPerNumber = 4
	// numberSpace is the count of +96279DDDDDDD numbers.
	numberSpace = 10_000_000
	// drainGrace is how long a phase waits for requests still in flight at
	// its end before cancelling them.
	drainGrace = 2 * time.Second
	// transportBackoff keeps a worker whose requests fail without reaching
	// the server (connection refused, ...) from spinning on the CPU.
	transportBackoff = 10 * time.Millisecond
	// probeTimeout bounds the wait for the answer to a run's first request.
	probeTimeout = 30 * time.Second
)

// Targets: what serves Config.URL.
const (
	TargetOtpgate = "otpgate"
	TargetKannel  = "kannel"
)

// ErrRefused is returned (wrapped) by Run when the server answers the first
// send with 401: the SID/token pair is wrong, so benchmarking is pointless.
var ErrRefused = errors.New("loadgen: the SID/token were refused")

// Config describes one benchmark run. Zero fields take the defaults above.
type Config struct {
	// URL is the base URL of the server, e.g. "http://127.0.0.1:8080".
	URL string
	// SID and Token are sent as HTTP Basic credentials.
	SID, Token string
	// Concurrency is the number of closed-loop workers (default 64).
	Concurrency int
	// Duration is the measured time of each phase (default 10s).
	Duration time.Duration
	// Warmup runs before each phase's measured window and is not counted
	// (default 1s; negative means no warmup).
	Warmup time.Duration
	// Service and From go into the request bodies (defaults "bench",
	// "OTPGate").
	Service, From string
	// Phases run in order (default {"send","verify"}). A verify phase
	// checks numbers sent by the send phase before it, so it needs one.
	Phases []string
	// SMSC, when set, is the SMSC the server under test delivers to: Run
	// matches what reaches it with the send phase's requests, and after the
	// send phase keeps watching until every accepted send has reached it (or
	// DrainTimeout passed) before the next phase. See StartSMSC.
	SMSC *SMSC
	// DrainTimeout bounds that wait (default 60s).
	DrainTimeout time.Duration
	// Target is what serves URL: TargetOtpgate (the default), or
	// TargetKannel: Kannel's smsbox, whose send phase GETs
	// /cgi-bin/sendsms with SID and Token as its username and password and
	// expects 202 (Kannel has no verify phase). A baseline to compare
	// otpgate with, delivering to the same SMSC.
	Target string
	// KannelDLRURL, with TargetKannel, asks Kannel for each message's
	// delivery receipt and to call this URL with it (as otpgate asks the
	// SMSC for receipts and records them); "" asks for none.
	KannelDLRURL string
	// MetricsToken, when set, is the server's --metrics-token: each phase
	// then reads the server's stage histograms from /metrics at the start
	// and the end of its measured window (PhaseResult.Stages).
	MetricsToken string
}

func (c Config) withDefaults() (Config, error) {
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	switch {
	case c.Warmup == 0:
		c.Warmup = DefaultWarmup
	case c.Warmup < 0:
		c.Warmup = 0
	}
	if c.Service == "" {
		c.Service = DefaultService
	}
	if c.From == "" {
		c.From = DefaultFrom
	}
	if len(c.Phases) == 0 {
		c.Phases = []string{PhaseSend, PhaseVerify}
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	c.URL = strings.TrimRight(c.URL, "/")
	return c, c.validate()
}

func (c Config) validate() error {
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("loadgen: bad URL %q: %w", c.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("loadgen: URL %q must look like http://host:port", c.URL)
	}
	if c.SID == "" || c.Token == "" {
		return errors.New("loadgen: SID and token are required")
	}
	if c.Target != "" && c.Target != TargetOtpgate && c.Target != TargetKannel {
		return fmt.Errorf("loadgen: unknown target %q (want %q or %q)", c.Target, TargetOtpgate, TargetKannel)
	}
	if c.Target == TargetKannel && slices.Contains(c.Phases, PhaseVerify) {
		return errors.New("loadgen: Kannel sends only: its phases are just send")
	}
	if c.Concurrency < 0 {
		return fmt.Errorf("loadgen: concurrency %d must be positive", c.Concurrency)
	}
	if c.Duration < 0 {
		return fmt.Errorf("loadgen: duration %s must be positive", c.Duration)
	}
	sent := false
	for _, p := range c.Phases {
		switch p {
		case PhaseSend:
			sent = true
		case PhaseVerify:
			if !sent {
				return errors.New("loadgen: a verify phase needs a send phase before it")
			}
		default:
			return fmt.Errorf("loadgen: unknown phase %q (want %q or %q)", p, PhaseSend, PhaseVerify)
		}
	}
	return nil
}

// Run benchmarks the server at cfg.URL, one phase after the other, and
// returns the measurements. If ctx ends early, Run returns what it measured so
// far along with ctx's error.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Report{}, err
	}
	r := newRunner(cfg)
	defer r.close()

	var rep Report
	for _, name := range cfg.Phases {
		res, err := r.runPhase(ctx, name)
		if err == nil || ctx.Err() != nil {
			// Keep what a cancelled phase measured.
			rep.Phases = append(rep.Phases, res)
		}
		rep.SMSC = r.smscResult
		if err != nil {
			rep.Notes = r.notes.all()
			return rep, err
		}
	}
	rep.Notes = r.notes.all()
	return rep, nil
}

// runner holds what the phases of one run share.
type runner struct {
	cfg     Config
	clients []*rawClient // one connection per worker, kept across phases
	smsc    *SMSC        // nil without an SMSC observer

	send, verify phaseSpec

	numberOffset uint64        // random per run
	sendCounter  atomic.Uint64 // sends so far
	pool         *numberPool   // numbers that got a 201, for verify
	notes        notes
	smscResult   *SMSCResult // the last send phase's, with an SMSC
}

// phaseSpec is what a phase sends and expects back.
type phaseSpec struct {
	name   string
	url    string
	expect int
	req    []byte // the whole request; each worker's client has a copy
	digits int    // offset in req of the number's seven digits
}

func newRunner(cfg Config) *runner {
	u, _ := url.Parse(cfg.URL) // validated
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	var tlsConf *tls.Config
	if u.Scheme == "https" {
		tlsConf = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}
	}
	r := &runner{
		cfg:          cfg,
		smsc:         cfg.SMSC,
		numberOffset: rand.Uint64N(numberSpace),
		pool:         &numberPool{},
	}
	for range cfg.Concurrency {
		r.clients = append(r.clients, &rawClient{addr: addr, tlsConf: tlsConf})
	}
	auth := base64.StdEncoding.EncodeToString([]byte(cfg.SID + ":" + cfg.Token))
	headers := []string{
		"Authorization: Basic " + auth,
		"Content-Type: application/json",
		"Accept: application/json",
		"User-Agent: otpgate-bench",
	}
	service, from := jsonString(cfg.Service), jsonString(cfg.From)
	spec := func(name, path string, expect int, prefix, suffix string) phaseSpec {
		body := prefix + "0000000" + suffix
		req, at := buildRequest(u.Host, u.Path+path, headers, []byte(body), len(prefix))
		return phaseSpec{name: name, url: cfg.URL + path, expect: expect, req: req, digits: at}
	}
	// The body is prefix + 7 digits + suffix.
	r.send = spec(PhaseSend, "/2fa/send", http.StatusCreated,
		`{"service":`+service+`,"from":`+from+`,"to":"+96279`, `","body":"Your code is {code}"}`)
	r.verify = spec(PhaseVerify, "/2fa/verify", http.StatusOK,
		`{"service":`+service+`,"number":"+96279`, `","code":"000000"}`)
	if cfg.Target == TargetKannel {
		// Kannel's sendsms: the number in the query, a code in the text as
		// otpgate would send it.
		q := "username=" + url.QueryEscape(cfg.SID) + "&password=" + url.QueryEscape(cfg.Token) +
			"&from=" + url.QueryEscape(cfg.From) + "&text=" + url.QueryEscape("Your bench code is 123456")
		if cfg.KannelDLRURL != "" {
			q += "&dlr-mask=3&dlr-url=" + url.QueryEscape(cfg.KannelDLRURL)
		}
		q += "&to=%2B96279"
		path := u.Path + "/cgi-bin/sendsms?" + q
		req, at := buildGet(u.Host, path+"0000000", []string{"User-Agent: otpgate-bench"}, len(path))
		r.send = phaseSpec{name: PhaseSend, url: cfg.URL + "/cgi-bin/sendsms", expect: http.StatusAccepted, req: req, digits: at}
	}
	return r
}

func (r *runner) close() {
	for _, c := range r.clients {
		c.close()
	}
}

// nextSendNumber returns the 7 digits after +96279 for the next send: a
// per-run random offset plus a counter, so every send of a run (up to ten
// million) goes to a different number.
func (r *runner) nextSendNumber() uint32 {
	n := r.sendCounter.Add(1) - 1
	return uint32((r.numberOffset + n) % numberSpace)
}

// numberPool hands out the numbers that got a 201, cycling through them, each
// at most maxChecksPerNumber times.
type numberPool struct {
	nums []uint32
	next atomic.Uint64
}

func (p *numberPool) take() (uint32, bool) {
	l := uint64(len(p.nums))
	if l == 0 {
		return 0, false
	}
	k := p.next.Add(1) - 1
	if k >= maxChecksPerNumber*l {
		return 0, false
	}
	return p.nums[k%l], true
}

// phaseRun is the shared state of one running phase. Times are offsets from
// base, on the monotonic clock.
type phaseRun struct {
	spec      phaseSpec
	base      time.Time
	start     time.Duration // end of warmup
	stopAt    atomic.Int64  // end of the window, moved earlier if verify runs dry
	exhausted atomic.Bool
}

func (p *phaseRun) stopEarly(at time.Duration) {
	p.exhausted.Store(true)
	for {
		cur := p.stopAt.Load()
		if int64(at) >= cur || p.stopAt.CompareAndSwap(cur, int64(at)) {
			return
		}
	}
}

func (r *runner) runPhase(ctx context.Context, name string) (PhaseResult, error) {
	res := PhaseResult{Name: name, Errors: map[string]int64{}}
	spec := r.send
	if name == PhaseVerify {
		spec = r.verify
		if len(r.pool.nums) == 0 {
			r.notes.add("verify: skipped, the send phase got no 201 answers to verify")
			return res, nil
		}
	}

	phaseCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := &phaseRun{spec: spec, start: r.cfg.Warmup}
	workers := make([]*worker, r.cfg.Concurrency)
	for i, c := range r.clients {
		workers[i] = r.newWorker(p, c)
	}
	if name == PhaseSend {
		if r.smsc != nil {
			r.smsc.tr.reset()
		}
		if err := r.probe(phaseCtx, workers[0]); err != nil {
			return res, err
		}
	}

	end := r.cfg.Warmup + r.cfg.Duration
	p.stopAt.Store(int64(end))
	p.base = time.Now()
	stagesBefore := r.stagesAt(ctx, p.base.Add(max(r.cfg.Warmup, 0)))
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.loop(phaseCtx) })
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(end + drainGrace)
	select {
	case <-done:
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	select {
	case <-done:
	default:
		// Requests still in flight end now; they are not counted.
		cancel()
		for _, c := range r.clients {
			c.interrupt()
		}
		<-done
		for _, c := range r.clients {
			c.reset()
		}
	}
	finished := time.Since(p.base)

	stopAt := time.Duration(p.stopAt.Load())
	if ctx.Err() != nil {
		stopAt = min(stopAt, finished)
	}
	res.Duration = max(stopAt-p.start, 0)
	r.merge(&res, workers)
	if name == PhaseSend {
		r.collectNumbers(workers)
		if r.smsc != nil {
			r.observeSMSC(ctx, p, workers, min(stopAt, finished), finished)
		}
	}
	if p.exhausted.Load() {
		r.notes.add(exhaustedNote(r.cfg, res.Duration, stopAt < p.start, len(r.pool.nums)))
	}
	if before, ok := <-stagesBefore; ok && ctx.Err() == nil {
		after, err := scrapeStages(ctx, http.DefaultClient, r.cfg.URL, r.cfg.MetricsToken)
		if err != nil {
			r.notes.add(fmt.Sprintf("%s: the stages of a send were not read: %v", name, err))
		} else {
			res.Stages = stagesBetween(before, after)
		}
	}
	return res, ctx.Err()
}

// stagesAt reads the server's stage histograms at t, without holding up
// the load; the channel is closed without a value when they are not read
// (no MetricsToken, or the read failed: a note says why).
func (r *runner) stagesAt(ctx context.Context, t time.Time) <-chan stageSnapshot {
	ch := make(chan stageSnapshot, 1)
	if r.cfg.MetricsToken == "" {
		close(ch)
		return ch
	}
	go func() {
		defer close(ch)
		select {
		case <-time.After(time.Until(t)):
		case <-ctx.Done():
			return
		}
		snap, err := scrapeStages(ctx, http.DefaultClient, r.cfg.URL, r.cfg.MetricsToken)
		if err != nil {
			r.notes.add(fmt.Sprintf("the stages of a send were not read: %v", err))
			return
		}
		ch <- snap
	}()
	return ch
}

// observeSMSC waits for the send phase's accepted sends to reach the SMSC
// and matches them with what it saw. windowEnd and loadEnd are from p.base.
func (r *runner) observeSMSC(ctx context.Context, p *phaseRun, workers []*worker, windowEnd, loadEnd time.Duration) {
	left := r.smsc.drain(ctx, r.pool.nums, r.cfg.DrainTimeout)
	var sends []sendRec
	for _, w := range workers {
		sends = append(sends, w.sends...)
	}
	tl := timeline{start: r.smsc.offset(p.base), windowStart: p.start, windowEnd: windowEnd, loadEnd: loadEnd}
	res := r.smsc.tr.result(sends, tl, p.spec.expect)
	res.Addr = r.smsc.addr.String()
	r.smscResult = res
	if len(left) > 0 && ctx.Err() == nil {
		r.notes.add(fmt.Sprintf("smsc: %d accepted sends had not reached the SMSC %s after the load ended (--drain-timeout)",
			len(left), formatDuration(r.cfg.DrainTimeout)))
	}
}

// probe sends the first request of a send phase alone, so that a wrong
// SID/token or an unreachable URL fails the run at once.
func (r *runner) probe(ctx context.Context, w *worker) error {
	w.prepare()
	t0 := time.Now()
	stop := w.c.interruptOn(ctx, probeTimeout)
	status, err := w.c.do(ctx, w.p.spec.expect)
	stop()
	if r.smsc != nil {
		w.sends = append(w.sends, sendRec{n: w.cur, sent: r.smsc.offset(t0), answered: r.smsc.offset(time.Now()), status: int32(status)})
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("loadgen: POST %s: %w", w.p.spec.url, err)
	}
	switch status {
	case w.p.spec.expect:
		w.sent = append(w.sent, w.cur)
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: POST %s answered HTTP 401: %s", ErrRefused, w.p.spec.url, bodyMessage(w.c.body))
	default:
		w.unexpected(status)
	}
	return nil
}

func (r *runner) merge(res *PhaseResult, workers []*worker) {
	var h histogram
	for _, w := range workers {
		res.Requests += w.requests
		h.merge(&w.hist)
		for st, n := range w.statusErrs {
			res.Errors[statusKey(st)] += n
		}
		for reason, n := range w.transportErrs {
			res.Errors["transport: "+reason] += n
		}
	}
	if res.Duration > 0 {
		res.RPS = float64(res.Requests) / res.Duration.Seconds()
	}
	res.P50 = h.quantile(0.50)
	res.P90 = h.quantile(0.90)
	res.P99 = h.quantile(0.99)
	res.Max = h.max
}

// collectNumbers replaces the verify pool with the numbers this send phase
// got a 201 for.
func (r *runner) collectNumbers(workers []*worker) {
	n := 0
	for _, w := range workers {
		n += len(w.sent)
	}
	nums := make([]uint32, 0, n)
	for _, w := range workers {
		nums = append(nums, w.sent...)
	}
	r.pool = &numberPool{nums: nums}
	if r.sendCounter.Load() > numberSpace {
		r.notes.add(fmt.Sprintf("send: more than %d sends in this run, so destination numbers repeated", numberSpace))
	}
}

func exhaustedNote(cfg Config, measured time.Duration, inWarmup bool, numbers int) string {
	when := "after " + formatDuration(measured) + " instead of " + formatDuration(cfg.Duration)
	if inWarmup {
		when = "during warmup"
	}
	return fmt.Sprintf("verify: ended early (%s): all %d numbers the send phase got a 201 for were checked %d times each "+
		"(the server answers 429 after 5 wrong codes); run a longer send phase for a full verify phase",
		when, numbers, maxChecksPerNumber)
}

// statusKey names an unexpected status in PhaseResult.Errors: "HTTP <n>" for
// error statuses (4xx, 5xx) and "status <n>" for other unexpected ones (say a
// 200 where 201 was expected, or a redirect).
func statusKey(status int) string {
	if status >= 400 {
		return fmt.Sprintf("HTTP %d", status)
	}
	return fmt.Sprintf("status %d", status)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// notes collects the report's notes: all general ones, and the first few
// distinct error explanations.
type notes struct {
	mu        sync.Mutex
	list      []string
	errorSeen map[string]bool
	errorFull atomic.Bool
}

const maxErrorNotes = 5

func (n *notes) add(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, s)
}

// wantErrors reports whether another error explanation would be kept; it
// lets workers skip reading error bodies once enough were seen.
func (n *notes) wantErrors() bool { return !n.errorFull.Load() }

func (n *notes) addError(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.errorSeen[s] || len(n.errorSeen) >= maxErrorNotes {
		return
	}
	if n.errorSeen == nil {
		n.errorSeen = map[string]bool{}
	}
	n.errorSeen[s] = true
	n.list = append(n.list, s)
	if len(n.errorSeen) >= maxErrorNotes {
		n.errorFull.Store(true)
	}
}

func (n *notes) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.list...)
}
