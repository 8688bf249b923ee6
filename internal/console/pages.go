package console

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/operator"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/routing"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// The message log: a search by number, status and time, across the
// accounts the session sees.

// statuses are those the log's search offers.
var statuses = []message.Status{message.Queued, message.Sent, message.Delivered, message.Undelivered, message.Failed, message.Canceled, message.Received}

const pageSize = 50

// search is a message search as the form gives it.
type search struct {
	Number, Status, From, Until, Account, Before string
}

func searchOf(q url.Values) search {
	return search{Number: q.Get("number"), Status: q.Get("status"), From: q.Get("from"), Until: q.Get("until"),
		Account: q.Get("account"), Before: q.Get("before")}
}

// row is a message with its account's name.
type row struct {
	message.Message
	AccountName string
}

// formTime is how a datetime-local input writes a time (read as UTC).
const formTime = "2006-01-02T15:04"

// parse turns the form into a store search; the error says which field is
// wrong, in words.
func (c *Console) parse(s search) (message.Filter, error) {
	var f message.Filter
	if n := strings.TrimSpace(s.Number); n != "" {
		n = phone.NormalizeDigits(n)
		if c.cfg.Phones != nil {
			if num, err := c.cfg.Phones.Parse(n); err == nil {
				f.To = num.E164
			}
		}
		if f.To == "" {
			p := strings.Map(func(r rune) rune {
				if strings.ContainsRune(" -.()", r) {
					return -1
				}
				return r
			}, n)
			p = strings.TrimPrefix(p, "00")
			if !strings.HasPrefix(p, "+") {
				p = "+" + p
			}
			if len(p) < 2 || len(p) > 16 || strings.ContainsFunc(p[1:], func(r rune) bool { return r < '0' || r > '9' }) {
				return f, formErr("Number: give a phone number (0791234567, +962791234567) or the start of one in international form (+96279)")
			}
			f.ToPrefix = p
		}
	}
	if s.Status != "" {
		if !slices.Contains(statuses, message.Status(s.Status)) {
			return f, formErr("Status: not one of the statuses listed")
		}
		f.Status = message.Status(s.Status)
	}
	for _, t := range []struct {
		v    string
		dst  *time.Time
		name string
	}{{s.From, &f.CreatedFrom, "From"}, {s.Until, &f.CreatedUntil, "Until"}} {
		if t.v == "" {
			continue
		}
		v, err := time.Parse(formTime, t.v)
		if err != nil {
			if v, err = time.Parse(time.RFC3339, t.v); err != nil {
				return f, formErr(t.name + ": give a time as 2006-01-02T15:04 (UTC)")
			}
		}
		*t.dst = v
	}
	if s.Before != "" {
		at, sid, ok := strings.Cut(s.Before, ":")
		n, err := strconv.ParseInt(at, 10, 64)
		if !ok || err != nil || sid == "" {
			return f, formErr("the page link is broken: search again")
		}
		f.Cursor = &message.Cursor{CreatedAt: time.Unix(0, n), SID: sid} // older than it
	}
	f.Limit = pageSize
	return f, nil
}

// find runs a search over the accounts it names (all the session sees when
// none), newest first; next is the cursor of the page after, "" when there
// is none.
func (c *Console) find(ctx context.Context, sc scope, s search, limit int) (rows []row, next string, err error) {
	f, err := c.parse(s)
	if err != nil {
		return nil, "", err
	}
	f.Limit = limit
	accounts, err := sc.accounts(ctx)
	if err != nil {
		return nil, "", err
	}
	for _, a := range accounts {
		if s.Account != "" && a.SID != s.Account {
			continue
		}
		f.AccountSID = a.SID
		ms, err := sc.messages(ctx, f)
		if err != nil {
			return nil, "", err
		}
		for _, m := range ms {
			rows = append(rows, row{Message: m, AccountName: a.Name})
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.SID, a.SID))
	})
	if len(rows) > limit {
		rows = rows[:limit]
	}
	if len(rows) == limit {
		last := rows[len(rows)-1]
		next = strconv.FormatInt(last.CreatedAt.UnixNano(), 10) + ":" + last.SID
	}
	return rows, next, nil
}

func (c *Console) messagesPage(w http.ResponseWriter, r *http.Request, sc scope) {
	s := searchOf(r.URL.Query())
	accounts, err := sc.accounts(r.Context())
	if err != nil {
		c.serverError(w, r, err)
		return
	}
	data := map[string]any{"S": s, "Statuses": statuses, "Accounts": accounts}
	rows, next, err := c.find(r.Context(), sc, s, pageSize)
	switch {
	case err != nil && isFormError(err):
		data["Error"] = err.Error()
	case err != nil:
		c.serverError(w, r, err)
		return
	}
	data["Rows"], data["Searched"] = rows, r.URL.RawQuery != ""
	if next != "" {
		q := r.URL.Query()
		q.Set("before", next)
		data["Next"] = "/console/messages?" + q.Encode()
	}
	c.render(w, r, http.StatusOK, "messages", data)
}

// formErr says which field of a search is wrong, in words for the page.
type formErr string

func (e formErr) Error() string { return string(e) }

func isFormError(err error) bool {
	var fe formErr
	return errors.As(err, &fe)
}

// messageJSON is a message as /console/api/messages lists it (the number
// masked, as in the log).
type messageJSON struct {
	SID          string `json:"sid"`
	AccountSID   string `json:"account_sid"`
	Account      string `json:"account"`
	Direction    string `json:"direction"`
	Channel      string `json:"channel"`
	From         string `json:"from"`
	To           string `json:"to"`
	Body         string `json:"body"`
	Status       string `json:"status"`
	Connector    string `json:"connector"`
	ErrorCode    int    `json:"error_code,omitempty"`
	CreatedAt    string `json:"created_at"`
	SentAt       string `json:"sent_at,omitempty"`
	Verification string `json:"verification_sid,omitempty"`
}

func (c *Console) messagesJSON(w http.ResponseWriter, r *http.Request, sc scope) {
	rows, next, err := c.find(r.Context(), sc, searchOf(r.URL.Query()), pageSize)
	if isFormError(err) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	} else if err != nil {
		c.serverError(w, r, err)
		return
	}
	out := make([]messageJSON, len(rows))
	for i, m := range rows {
		out[i] = messageJSON{SID: m.SID, AccountSID: m.AccountSID, Account: m.AccountName, Direction: string(m.Direction), Channel: string(m.Channel.Or()), From: m.From,
			To: maskDest(m.To), Body: m.Body, Status: string(m.Status), Connector: m.Connector, ErrorCode: m.ErrorCode,
			CreatedAt: m.CreatedAt.UTC().Format(time.RFC3339Nano), Verification: m.VerificationSID}
		if !m.SentAt.IsZero() {
			out[i].SentAt = m.SentAt.UTC().Format(time.RFC3339Nano)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out, "next": next})
}

func (c *Console) messagePage(w http.ResponseWriter, r *http.Request, sc scope) {
	m, err := sc.message(r.Context(), r.PathValue("account"), r.PathValue("sid"))
	if errors.Is(err, store.ErrNotFound) {
		c.errorPage(w, r, http.StatusNotFound, "No such message.")
		return
	} else if err != nil {
		c.serverError(w, r, err)
		return
	}
	a, err := sc.accountOf(r.Context(), m.AccountSID)
	if err != nil {
		c.serverError(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "message", map[string]any{"M": m, "Account": a})
}

// The live tail: the newest messages, polled every 2 s by htmx.

func (c *Console) tailPage(w http.ResponseWriter, r *http.Request, _ scope) {
	c.render(w, r, http.StatusOK, "tail", nil)
}

func (c *Console) tailRows(w http.ResponseWriter, r *http.Request, sc scope) {
	rows, _, err := c.find(r.Context(), sc, search{}, 30)
	if err != nil {
		c.serverError(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "tail", map[string]any{"Rows": rows, "Fragment": "rows",
		"At": c.clock.Now().UTC().Format("15:04:05")})
}

// Accounts and their services, with their settings.

type accountView struct {
	account.Account
	Services []verification.Service
}

func (c *Console) accountsPage(w http.ResponseWriter, r *http.Request, sc scope) {
	accounts, err := sc.accounts(r.Context())
	if err != nil {
		c.serverError(w, r, err)
		return
	}
	var views []accountView
	for _, a := range accounts {
		full, err := sc.accountOf(r.Context(), a.SID)
		if err != nil {
			c.serverError(w, r, err)
			return
		}
		full.SecondaryHash, full.SecondaryCreatedAt = a.SecondaryHash, a.SecondaryCreatedAt
		svcs, err := sc.services(r.Context(), a.SID)
		if err != nil {
			c.serverError(w, r, err)
			return
		}
		views = append(views, accountView{Account: full, Services: svcs})
	}
	region := ""
	if c.cfg.Phones != nil {
		region = c.cfg.Phones.Region()
	}
	c.render(w, r, http.StatusOK, "accounts", map[string]any{"Accounts": views, "Region": region})
}

// Sender IDs and their approval per operator (the config file's routes),
// with what each sender sent to each in the last day.

type senderCell struct {
	State string // "approved", "not approved", "any sender"
	Sends int
}

type senderRow struct {
	From  string
	Cells []senderCell
	Sends int
}

type senderColumn struct {
	Operator, Prefix string
}

func (c *Console) sendersPage(w http.ResponseWriter, r *http.Request, sc scope) {
	now := c.clock.Now()
	accounts, err := sc.accounts(r.Context())
	if err != nil {
		c.serverError(w, r, err)
		return
	}
	ops := newOperators(c.cfg.Routes, c.cfg.Phones)
	routes := slices.Clone(c.cfg.Routes)
	slices.SortFunc(routes, func(a, b routing.Route) int { return strings.Compare(a.Prefix, b.Prefix) })
	var cols []senderColumn
	colOf := map[string]int{} // route prefix or, with no routes, operator -> column
	for i, rt := range routes {
		cols = append(cols, senderColumn{Operator: cmp.Or(rt.Operator, rt.Prefix), Prefix: rt.Prefix})
		colOf[rt.Prefix] = i
	}
	used := map[string]map[int]int{} // sender -> column -> sends
	for _, a := range accounts {
		stats, err := sc.senderStats(r.Context(), operator.StatsQuery{AccountSID: a.SID, Since: now.Add(-24 * time.Hour), Until: now.Add(time.Second),
			Step: time.Hour, PrefixLen: operatorPrefixLen, Direction: string(message.OutboundAPI)})
		if err != nil {
			c.serverError(w, r, err)
			return
		}
		for _, st := range stats {
			col := -1
			if len(routes) > 0 {
				best := ""
				for _, rt := range routes {
					if strings.HasPrefix(st.Prefix, rt.Prefix) && len(rt.Prefix) > len(best) {
						best = rt.Prefix
					}
				}
				if best == "" {
					continue // no route: such sends were refused
				}
				col = colOf[best]
			} else {
				name := ops.of(st.Prefix, "")
				i, ok := colOf[name]
				if !ok {
					i = len(cols)
					cols = append(cols, senderColumn{Operator: name})
					colOf[name] = i
				}
				col = i
			}
			if used[st.From] == nil {
				used[st.From] = map[int]int{}
			}
			used[st.From][col] += st.Count
		}
	}
	senders := map[string]bool{}
	for _, rt := range routes {
		if !sc.everyAccount() { // the routes' senders may be other accounts' names: a session of one account sees its own traffic only
			break
		}
		for _, s := range rt.Senders {
			senders[s] = true
		}
		if rt.DefaultSender != "" {
			senders[rt.DefaultSender] = true
		}
	}
	for s := range used {
		senders[s] = true
	}
	var rows []senderRow
	for s := range senders {
		sr := senderRow{From: s, Cells: make([]senderCell, len(cols))}
		for i := range cols {
			cell := &sr.Cells[i]
			cell.State = "any sender"
			if i < len(routes) && len(routes[i].Senders) > 0 {
				cell.State = "not approved"
				if slices.Contains(routes[i].Senders, s) {
					cell.State = "approved"
				}
			}
			cell.Sends = used[s][i]
			sr.Sends += cell.Sends
		}
		rows = append(rows, sr)
	}
	slices.SortFunc(rows, func(a, b senderRow) int {
		return cmp.Or(cmp.Compare(b.Sends, a.Sends), strings.Compare(a.From, b.From))
	})
	c.render(w, r, http.StatusOK, "senders", map[string]any{"Columns": cols, "Rows": rows, "Routed": len(routes) > 0, "Own": !sc.everyAccount()})
}

// The SMS-pumping guard's blocks, with a button to lift each (none for a
// token made for one account: it reads them only).

type blockView struct {
	guardstate.Block
	AccountName string
	Conversion  *float64
}

func (c *Console) blocks(ctx context.Context, sc scope) ([]blockView, error) {
	accounts, err := sc.accounts(ctx)
	if err != nil {
		return nil, err
	}
	var out []blockView
	for _, a := range accounts {
		bs, err := sc.blocks(ctx, a.SID)
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			out = append(out, blockView{Block: b, AccountName: a.Name, Conversion: ratio(b.Approvals, b.Sends)})
		}
	}
	return out, nil
}

func (c *Console) guardPage(w http.ResponseWriter, r *http.Request, sc scope) {
	data := map[string]any{"GuardOn": c.cfg.GuardOn, "Lifted": r.URL.Query().Get("lifted"), "Gone": r.URL.Query().Get("gone"),
		"ReadOnly": sc.readOnly()}
	if c.cfg.GuardOn {
		bs, err := c.blocks(r.Context(), sc)
		if err != nil {
			c.serverError(w, r, err)
			return
		}
		data["Blocks"] = bs
	}
	c.render(w, r, http.StatusOK, "guard", data)
}

func (c *Console) liftBlock(w http.ResponseWriter, r *http.Request, sc scope) {
	if !c.cfg.GuardOn {
		c.errorPage(w, r, http.StatusNotFound, "The abuse guard is off (--abuse-guard=off): there are no blocks to lift.")
		return
	}
	acc, key := r.PostFormValue("account"), r.PostFormValue("key")
	if acc == "" || key == "" || len(key) > 80 || len(acc) > 64 {
		c.errorPage(w, r, http.StatusBadRequest, "Say which block to lift: its account and key.")
		return
	}
	_, err := sc.lift(r.Context(), acc, key)
	if e := otpgate.AsError(err); e != nil && e.Kind == otpgate.KindNotFound {
		http.Redirect(w, r, "/console/guard?gone="+url.QueryEscape(key), http.StatusSeeOther)
		return
	} else if e != nil && e.Kind == otpgate.KindForbidden {
		c.errorPage(w, r, http.StatusForbidden, e.Message)
		return
	} else if err != nil {
		c.serverError(w, r, err)
		return
	}
	c.log.Info("console: guard block lifted", "account_sid", acc, "key", maskKey(key), "token_id", sessionOf(r).TokenID)
	http.Redirect(w, r, "/console/guard?lifted="+url.QueryEscape(key), http.StatusSeeOther)
}

// maskKey masks a block's key for the log when it is a whole number.
func maskKey(key string) string {
	if v, ok := strings.CutPrefix(key, "prefix:"); ok && len(v) > 12 {
		return "prefix:" + phone.Mask(v)
	}
	return key
}
