package console

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/operator"
	"github.com/otpgate/otpgate/internal/verification"
)

// The overview: per operator, sends, delivery rate and receipt delay over
// the last hour or day; conversion (approved / sent) per service and per
// number prefix.

// window is a span the overview shows.
type window struct {
	Name  string
	Step  time.Duration
	Steps int
}

var windows = map[string]window{
	"hour": {"hour", time.Minute, 60},
	"day":  {"day", 15 * time.Minute, 96},
}

const (
	operatorPrefixLen = 7 // "+962791": enough to tell an operator from the number
	prefixLen         = 9 // "+96279032": a Jordanian number less its last 4 digits, as the pumping guard's prefixes
)

// Overview is the overview's data, as /console/api/overview serves it and
// the page's charts draw it.
type Overview struct {
	Window    string           `json:"window"`
	Step      int              `json:"step_seconds"`
	Times     []int64          `json:"times"` // each bucket's start, Unix seconds
	Operators []OperatorSeries `json:"operators"`
	Services  []Conversion     `json:"services"`
	Prefixes  []Conversion     `json:"prefixes"`
	Totals    Totals           `json:"totals"`
}

// OperatorSeries is one operator's figures per bucket; a rate or a delay is
// null in a bucket with nothing to say it from.
type OperatorSeries struct {
	Name      string     `json:"name"`
	Sends     []int      `json:"sends"`
	Delivered []int      `json:"delivered"`
	Failed    []int      `json:"failed"`
	Rate      []*float64 `json:"delivery_rate"`       // delivered / (delivered + undelivered + failed)
	Delay     []*float64 `json:"receipt_delay_avg_s"` // delivered messages' average send -> receipt
	Totals    Totals     `json:"totals"`
}

// Totals are figures over the whole window.
type Totals struct {
	Sends     int      `json:"sends"`
	Delivered int      `json:"delivered"`
	Failed    int      `json:"failed"`
	Waiting   int      `json:"waiting"` // queued or sent, no receipt yet
	Rate      *float64 `json:"delivery_rate"`
	DelayAvg  *float64 `json:"receipt_delay_avg_s"`
	DelayMax  float64  `json:"receipt_delay_max_s"`

	delaySum time.Duration
	delayN   int
}

// Conversion is the share of verifications approved, of a service or a
// number prefix.
type Conversion struct {
	Account  string   `json:"account,omitempty"`
	Service  string   `json:"service,omitempty"`
	Prefix   string   `json:"prefix,omitempty"`
	Operator string   `json:"operator,omitempty"`
	Sent     int      `json:"sent"`
	Approved int      `json:"approved"`
	Rate     *float64 `json:"conversion"`
}

func ratio(a, b int) *float64 {
	if b == 0 {
		return nil
	}
	r := float64(a) / float64(b)
	return &r
}

func (t *Totals) add(m operator.MessageStat) {
	t.Sends += m.Count
	switch message.Status(m.Status) {
	case message.Delivered:
		t.Delivered += m.Count
		if m.Timed > 0 {
			t.delaySum += m.DelaySum
			t.delayN += m.Timed
			t.DelayMax = max(t.DelayMax, m.DelayMax.Seconds())
		}
	case message.Undelivered, message.Failed:
		t.Failed += m.Count
	case message.Queued, message.Sent:
		t.Waiting += m.Count
	}
}

func (t *Totals) finish() {
	t.Rate = ratio(t.Delivered, t.Delivered+t.Failed)
	if t.delayN > 0 {
		d := t.delaySum.Seconds() / float64(t.delayN)
		t.DelayAvg = &d
	}
}

// overview computes the overview of the accounts the session sees over the
// window ending with the current bucket.
func (c *Console) overview(ctx context.Context, sc scope, w window) (Overview, error) {
	until := c.clock.Now().UTC().Truncate(w.Step).Add(w.Step)
	since := until.Add(-time.Duration(w.Steps) * w.Step)
	out := Overview{Window: w.Name, Step: int(w.Step.Seconds()), Times: make([]int64, w.Steps)}
	for i := range out.Times {
		out.Times[i] = since.Add(time.Duration(i) * w.Step).Unix()
	}
	accounts, err := sc.accounts(ctx)
	if err != nil {
		return out, err
	}
	ops := newOperators(c.cfg.Routes, c.cfg.Phones)
	byOperator := map[string]*OperatorSeries{}
	type opBucket struct {
		delaySum time.Duration
		n        int
	}
	delays := map[string][]opBucket{}
	services := map[string]*Conversion{}
	prefixes := map[string]*Conversion{}
	for _, a := range accounts {
		q := operator.StatsQuery{AccountSID: a.SID, Since: since, Until: until, Step: w.Step, PrefixLen: operatorPrefixLen, Direction: string(message.OutboundAPI)}
		stats, err := sc.messageStats(ctx, q)
		if err != nil {
			return out, err
		}
		for _, m := range stats {
			if m.Bucket < 0 || m.Bucket >= w.Steps {
				continue
			}
			name := ops.of(m.Prefix, m.Connector)
			s := byOperator[name]
			if s == nil {
				s = &OperatorSeries{Name: name, Sends: make([]int, w.Steps), Delivered: make([]int, w.Steps), Failed: make([]int, w.Steps),
					Rate: make([]*float64, w.Steps), Delay: make([]*float64, w.Steps)}
				byOperator[name] = s
				delays[name] = make([]opBucket, w.Steps)
			}
			s.Sends[m.Bucket] += m.Count
			switch message.Status(m.Status) {
			case message.Delivered:
				s.Delivered[m.Bucket] += m.Count
				delays[name][m.Bucket].delaySum += m.DelaySum
				delays[name][m.Bucket].n += m.Timed
			case message.Undelivered, message.Failed:
				s.Failed[m.Bucket] += m.Count
			}
			s.Totals.add(m)
			out.Totals.add(m)
		}
		svcs, err := sc.services(ctx, a.SID)
		if err != nil {
			return out, err
		}
		names := map[string]string{}
		for _, s := range svcs {
			names[s.SID] = s.Name
		}
		q.PrefixLen, q.Direction = prefixLen, ""
		vstats, err := sc.verificationStats(ctx, q)
		if err != nil {
			return out, err
		}
		for _, v := range vstats {
			key := a.SID + "/" + v.ServiceSID
			sc := services[key]
			if sc == nil {
				sc = &Conversion{Account: a.Name, Service: cmp.Or(names[v.ServiceSID], v.ServiceSID)}
				services[key] = sc
			}
			pc := prefixes[v.Prefix]
			if pc == nil {
				pc = &Conversion{Prefix: v.Prefix, Operator: ops.of(v.Prefix, "")}
				prefixes[v.Prefix] = pc
			}
			for _, x := range []*Conversion{sc, pc} {
				x.Sent += v.Count
				if verification.Status(v.Status) == verification.Approved {
					x.Approved += v.Count
				}
			}
		}
	}
	for name, s := range byOperator {
		for i := range w.Steps {
			s.Rate[i] = ratio(s.Delivered[i], s.Delivered[i]+s.Failed[i])
			if d := delays[name][i]; d.n > 0 {
				v := d.delaySum.Seconds() / float64(d.n)
				s.Delay[i] = &v
			}
		}
		s.Totals.finish()
		out.Operators = append(out.Operators, *s)
	}
	out.Totals.finish()
	slices.SortFunc(out.Operators, func(a, b OperatorSeries) int {
		return cmp.Or(cmp.Compare(b.Totals.Sends, a.Totals.Sends), strings.Compare(a.Name, b.Name))
	})
	out.Services = conversions(services)
	out.Prefixes = conversions(prefixes)
	if len(out.Prefixes) > 20 {
		out.Prefixes = out.Prefixes[:20]
	}
	if out.Operators == nil {
		out.Operators = []OperatorSeries{}
	}
	return out, nil
}

// conversions lists the most sent first.
func conversions(m map[string]*Conversion) []Conversion {
	out := make([]Conversion, 0, len(m))
	for _, c := range m {
		c.Rate = ratio(c.Approved, c.Sent)
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Conversion) int {
		return cmp.Or(cmp.Compare(b.Sent, a.Sent), strings.Compare(a.Account+a.Service+a.Prefix, b.Account+b.Service+b.Prefix))
	})
	return out
}

func (c *Console) windowOf(r *http.Request) window {
	if w, ok := windows[r.URL.Query().Get("window")]; ok {
		return w
	}
	return windows["hour"]
}

func (c *Console) overviewJSON(w http.ResponseWriter, r *http.Request, sc scope) {
	o, err := c.overview(r.Context(), sc, c.windowOf(r))
	if err != nil {
		c.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (c *Console) overviewPage(w http.ResponseWriter, r *http.Request, sc scope) {
	win := c.windowOf(r)
	o, err := c.overview(r.Context(), sc, win)
	if err != nil {
		c.serverError(w, r, err)
		return
	}
	var blocks int
	if c.cfg.GuardOn {
		all, err := c.blocks(r.Context(), sc)
		if err != nil {
			c.serverError(w, r, err)
			return
		}
		blocks = len(all)
	}
	c.render(w, r, http.StatusOK, "overview", map[string]any{"O": o, "Window": win.Name, "Blocks": blocks, "GuardOn": c.cfg.GuardOn,
		"Span": fmt.Sprintf("%s to %s UTC", time.Unix(o.Times[0], 0).UTC().Format("Jan 2 15:04"),
			time.Unix(o.Times[len(o.Times)-1], 0).UTC().Add(win.Step).Format("15:04"))})
}
