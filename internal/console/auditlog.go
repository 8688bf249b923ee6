package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otpgate/otpgate/internal/audit"
)

// The audit log: every change to who may do what, and every attempt at one
// that was refused, newest first, by account and kind. A session of one
// account reads that account's entries only.

// auditQuery is the audit page's filter as its form gives it.
type auditQuery struct {
	Account, Kind, Before string
}

// auditRow is an entry as the page shows it: phone numbers masked, before
// and after in a few words (Short), whole in a tooltip (Full).
type auditRow struct {
	audit.Row
	AccountName           string
	Before, After         compactJSON
	MaskedTarget, Details string
}

type compactJSON struct{ Short, Full string }

// compactShown is how much of a before or after the table shows.
const compactShown = 160

// compactOf is stored JSON as the table shows it: an object's fields as
// "key: value, ..." in their order (a value that is an object or a list as
// JSON), anything else as it is; numbers masked; cut at compactShown
// characters, the whole kept for the tooltip.
func compactOf(s string) compactJSON {
	s = audit.MaskNumbers(fields(s))
	if utf8.RuneCountInString(s) <= compactShown {
		return compactJSON{Short: s}
	}
	r := []rune(s)
	return compactJSON{Short: string(r[:compactShown]) + "…", Full: s}
}

// fields writes a JSON object's fields as "key: value, ..."; other JSON,
// or text that is not JSON, comes back as it was.
func fields(s string) string {
	var obj []struct {
		key string
		val json.RawMessage
	}
	dec := json.NewDecoder(strings.NewReader(s))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return s
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return s
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return s
		}
		obj = append(obj, struct {
			key string
			val json.RawMessage
		}{k.(string), v})
	}
	var b strings.Builder
	for i, f := range obj {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.key + ": ")
		var str string
		if json.Unmarshal(f.val, &str) == nil && str != "" {
			b.WriteString(str)
		} else {
			b.Write(f.val)
		}
	}
	if b.Len() == 0 {
		return "{}"
	}
	return b.String()
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, sc scope) {
	q := r.URL.Query()
	aq := auditQuery{Account: q.Get("account"), Kind: q.Get("kind"), Before: q.Get("before")}
	if !sc.everyAccount() {
		aq.Account = sc.account
	}
	accounts, err := sc.accounts(r.Context())
	if err != nil {
		c.serverError(w, r, err)
		return
	}
	names := map[string]string{}
	for _, a := range accounts {
		names[a.SID] = a.Name
	}
	data := map[string]any{"Q": aq, "Kinds": audit.Kinds, "Accounts": accounts, "EveryAccount": sc.everyAccount()}
	f := audit.Filter{AccountSID: aq.Account, Kind: aq.Kind, Limit: pageSize + 1}
	switch {
	case aq.Kind != "" && !slices.Contains(audit.Kinds, aq.Kind):
		data["Error"] = "Kind: not one of the kinds listed"
	case len(aq.Account) > 64:
		data["Error"] = "Account: not an account's SID"
	case aq.Before != "":
		at, id, ok := strings.Cut(aq.Before, ":")
		n, err := strconv.ParseInt(at, 10, 64)
		if !ok || err != nil || id == "" || len(id) > 64 {
			data["Error"] = "The page link is broken: open the audit log again"
			break
		}
		f.Before = &audit.Cursor{At: time.Unix(0, n).UTC(), ID: id}
	}
	if data["Error"] != nil {
		c.render(w, r, http.StatusBadRequest, "audit", data)
		return
	}
	entries, err := sc.auditLog(r.Context(), f)
	if err != nil {
		c.serverError(w, r, err)
		return
	}
	if len(entries) > pageSize {
		entries = entries[:pageSize]
		last := entries[len(entries)-1]
		v := url.Values{}
		for k, val := range map[string]string{"account": aq.Account, "kind": aq.Kind} {
			if val != "" {
				v.Set(k, val)
			}
		}
		v.Set("before", strconv.FormatInt(last.At.UnixNano(), 10)+":"+last.ID)
		data["Next"] = "/console/audit?" + v.Encode()
	}
	rows := make([]auditRow, len(entries))
	for i, e := range entries {
		rows[i] = auditRow{Row: e, AccountName: names[e.AccountSID], Before: compactOf(e.Before), After: compactOf(e.After),
			MaskedTarget: audit.MaskNumbers(e.Target), Details: audit.MaskNumbers(e.Detail)}
	}
	data["Rows"] = rows
	c.render(w, r, http.StatusOK, "audit", data)
}
