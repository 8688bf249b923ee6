package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/emailaddr"
	"github.com/otpgate/otpgate/internal/phone"
)

// maskDest masks a number as phone.Mask does, an email address as
// emailaddr.Mask does.
func maskDest(s string) string {
	if emailaddr.Looks(s) {
		return emailaddr.Mask(s)
	}
	return phone.Mask(s)
}

var funcs = template.FuncMap{
	"mask": maskDest,
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"pct": func(f *float64) string {
		if f == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", *f*100)
	},
	"pctWidth": func(f *float64) string {
		if f == nil {
			return "0"
		}
		return fmt.Sprintf("%.0f", *f*100)
	},
	"secs": func(f *float64) string {
		if f == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f s", *f)
	},
	"dur":       func(d time.Duration) string { return d.String() },
	"redactURL": redactURL,
	"json": func(v any) (template.JS, error) {
		b, err := json.Marshal(v)
		return template.JS(b), err
	},
}

// redactURL keeps a URL's scheme, host and path: a query or user info may
// hold a secret.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(not a URL)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// parsePages parses each page with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" || base == "rows" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/rows.html", n)
		if err != nil {
			return nil, err
		}
		pages[base] = t
	}
	return pages, nil
}

// render writes a page; data is a map the page reads, to which the layout's
// own keys are added (the page's name, the CSRF token, who is signed in).
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any) {
	t, ok := c.pages[page]
	if !ok {
		panic("console: no page " + page)
	}
	if data == nil {
		data = map[string]any{}
	}
	se := sessionOf(r)
	data["Page"] = page
	data["CSRF"] = se.CSRF
	data["SignedIn"] = se.TokenID != ""
	data["Who"] = se.who()
	var buf bytes.Buffer
	tmpl := "layout"
	if frag, _ := data["Fragment"].(string); frag != "" {
		tmpl = frag
	}
	if err := t.ExecuteTemplate(&buf, tmpl, data); err != nil {
		c.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, r, status, "error", map[string]any{"Status": status, "Message": msg})
}

// serverError logs err with the request's id and shows only that id.
func (c *Console) serverError(w http.ResponseWriter, r *http.Request, err error) {
	c.log.Error("console: request failed", "err", err, "path", r.URL.Path, "request_id", api.RequestID(r))
	if strings.HasPrefix(r.URL.Path, "/console/api/") {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error", "request_id": api.RequestID(r)})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, "<!doctype html><title>Error</title><p>Something went wrong (request %s); the server's log says what.</p>", template.HTMLEscapeString(api.RequestID(r)))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
