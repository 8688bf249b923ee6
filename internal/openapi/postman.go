package openapi

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// PostmanSchema is the format of the collections Postman makes.
const PostmanSchema = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"

// Postman returns a Postman Collection v2.1 made from the description, to
// run against the otpgate at baseURL: a folder per tag, in the
// description's order; a request per operation with its example body, its
// path parameters as collection variables ({{ServiceSid}}) and HTTP Basic
// auth with the collection variables accountSid and authToken (a route with
// a bearer scheme of its own takes the variable the scheme names:
// {{operatorToken}} for the operator API, {{metricsToken}}); a test that
// the reply's status is one the description documents; and, where a reply
// names a variable to keep (x-postman-save), a script that keeps it, so that
// running the collection creates a service, then fetches, updates and
// finally deletes that one. A folder's DELETE requests come last.
func Postman(baseURL string) ([]byte, error) {
	return postman(spec, baseURL)
}

func postman(doc []byte, baseURL string) ([]byte, error) {
	baseURL, err := checkBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	v, err := parse(doc)
	if err != nil {
		return nil, err
	}
	root, ok := v.(*object)
	if !ok {
		return nil, fmt.Errorf("the description is not a JSON object")
	}
	g := &generator{root: root, seenVar: map[string]bool{}}
	c, err := g.collection(baseURL)
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

type pmCollection struct {
	Info     pmInfo       `json:"info"`
	Item     []*pmFolder  `json:"item"`
	Auth     *pmAuth      `json:"auth"`
	Variable []pmVariable `json:"variable"`
}

type pmInfo struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Schema      string `json:"schema"`
}

type pmFolder struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Item        []*pmItem `json:"item"`
}

type pmItem struct {
	ID       string       `json:"id"`
	Name     string       `json:"name"`
	Request  pmRequest    `json:"request"`
	Response []pmResponse `json:"response"`
	Event    []pmEvent    `json:"event,omitempty"`
}

type pmRequest struct {
	Method      string  `json:"method"`
	Header      []pmKV  `json:"header"`
	Body        *pmBody `json:"body,omitempty"`
	URL         pmURL   `json:"url"`
	Auth        *pmAuth `json:"auth,omitempty"`
	Description string  `json:"description,omitempty"`
}

type pmKV struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Type        string `json:"type,omitempty"`
	Description string `json:"description,omitempty"`
	Disabled    bool   `json:"disabled,omitempty"`
}

type pmBody struct {
	Mode       string         `json:"mode"`
	Raw        string         `json:"raw,omitempty"`
	URLEncoded []pmKV         `json:"urlencoded,omitempty"`
	Options    map[string]any `json:"options,omitempty"`
}

type pmURL struct {
	Raw   string   `json:"raw"`
	Host  []string `json:"host"`
	Path  []string `json:"path"`
	Query []pmKV   `json:"query,omitempty"`
}

type pmAuth struct {
	Type   string `json:"type"`
	Basic  []pmKV `json:"basic,omitempty"`
	Bearer []pmKV `json:"bearer,omitempty"`
}

type pmVariable struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
}

type pmEvent struct {
	Listen string   `json:"listen"`
	Script pmScript `json:"script"`
}

type pmScript struct {
	Type string   `json:"type"`
	Exec []string `json:"exec"`
}

type pmResponse struct {
	Name            string    `json:"name"`
	OriginalRequest pmRequest `json:"originalRequest"`
	Status          string    `json:"status"`
	Code            int       `json:"code"`
	PreviewLanguage string    `json:"_postman_previewlanguage"`
	Header          []pmKV    `json:"header"`
	Body            string    `json:"body"`
}

type generator struct {
	root    *object
	vars    []pmVariable
	seenVar map[string]bool
}

func (g *generator) addVar(key, value, description string) {
	if g.seenVar[key] {
		return
	}
	g.seenVar[key] = true
	g.vars = append(g.vars, pmVariable{Key: key, Value: value, Type: "string", Description: description})
}

// obj resolves v and requires an object (or nothing).
func (g *generator) obj(v any, what string) (*object, error) {
	if v == nil {
		return nil, nil
	}
	r, err := resolve(g.root, v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	o, ok := r.(*object)
	if !ok {
		return nil, fmt.Errorf("%s is not an object", what)
	}
	return o, nil
}

func (g *generator) collection(baseURL string) (*pmCollection, error) {
	info, _ := g.root.get("info").(*object)
	desc, _ := info.get("description").(string)
	name, _ := info.get("title").(string)
	c := &pmCollection{
		Info: pmInfo{Name: name, Description: desc, Schema: PostmanSchema},
		Auth: &pmAuth{Type: "basic", Basic: []pmKV{
			{Key: "username", Value: "{{accountSid}}", Type: "string"},
			{Key: "password", Value: "{{authToken}}", Type: "string"},
		}},
	}
	g.addVar("baseUrl", baseURL, "Where otpgate is: scheme, host and port")
	g.addVar("accountSid", "", "Your account SID (AC...), the Basic auth user name")
	g.addVar("authToken", "", "Your account's auth token, the Basic auth password")

	folders := map[string]*pmFolder{}
	tags, _ := g.root.get("tags").([]any)
	for _, t := range tags {
		to, _ := t.(*object)
		name, _ := to.get("name").(string)
		d, _ := to.get("description").(string)
		f := &pmFolder{Name: name, Description: d}
		folders[name] = f
		c.Item = append(c.Item, f)
	}

	paths, ok := g.root.get("paths").(*object)
	if !ok {
		return nil, fmt.Errorf("the description has no paths")
	}
	seenRef := map[string]bool{}
	for _, path := range paths.keys {
		raw := paths.get(path)
		if ro, ok := raw.(*object); ok {
			if ref, ok := ro.get("$ref").(string); ok {
				// One path item served at several paths (with and without
				// .json, Restcomm's two roots): its requests once, at the
				// first path.
				if seenRef[ref] {
					continue
				}
				seenRef[ref] = true
			}
		}
		item, err := g.obj(raw, path)
		if err != nil {
			return nil, err
		}
		for _, method := range item.keys {
			if !slices.Contains([]string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}, method) {
				continue
			}
			it, tag, err := g.operation(path, method, item)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", strings.ToUpper(method), path, err)
			}
			f := folders[tag]
			if f == nil {
				return nil, fmt.Errorf("%s %s: tag %q is not in the description's tags", strings.ToUpper(method), path, tag)
			}
			f.Item = append(f.Item, it)
		}
	}
	for _, f := range c.Item {
		// Create, read and update before delete: deletes last, the
		// deepest first.
		var keep, deletes []*pmItem
		for _, it := range f.Item {
			if it.Request.Method == http.MethodDelete {
				deletes = append([]*pmItem{it}, deletes...)
			} else {
				keep = append(keep, it)
			}
		}
		f.Item = append(keep, deletes...)
	}
	c.Variable = g.vars
	return c, nil
}

var templateRE = regexp.MustCompile(`\{([^{}]+)\}`)

func (g *generator) operation(path, method string, item *object) (*pmItem, string, error) {
	op, err := g.obj(item.get(method), "operation")
	if err != nil {
		return nil, "", err
	}
	tags, _ := op.get("tags").([]any)
	if len(tags) == 0 {
		return nil, "", fmt.Errorf("no tag")
	}
	tag, _ := tags[0].(string)
	id, _ := op.get("operationId").(string)
	summary, _ := op.get("summary").(string)
	description, _ := op.get("description").(string)

	// Parameters of the path item, then the operation's (which win).
	params := map[string]*object{} // "in name"
	var order []string
	for _, list := range []any{item.get("parameters"), op.get("parameters")} {
		ps, _ := list.([]any)
		for _, p := range ps {
			po, err := g.obj(p, "parameter")
			if err != nil {
				return nil, "", err
			}
			in, _ := po.get("in").(string)
			name, _ := po.get("name").(string)
			key := in + " " + name
			if _, seen := params[key]; !seen {
				order = append(order, key)
			}
			params[key] = po
		}
	}

	req := pmRequest{Method: strings.ToUpper(method), Header: []pmKV{}, Description: cmp.Or(description, summary)}
	var missing error
	urlPath := templateRE.ReplaceAllStringFunc(path, func(m string) string {
		name := m[1 : len(m)-1]
		p := params["path "+name]
		if p == nil {
			missing = fmt.Errorf("path parameter %q is not described", name)
			return m
		}
		v, _ := p.get("x-postman-variable").(string)
		v = cmp.Or(v, name)
		d, _ := p.get("description").(string)
		g.addVar(v, scalar(p.get("example")), d)
		return "{{" + v + "}}"
	})
	if missing != nil {
		return nil, "", missing
	}
	req.URL = pmURL{Host: []string{"{{baseUrl}}"}, Path: strings.Split(strings.TrimPrefix(urlPath, "/"), "/")}
	var enabled []string
	for _, key := range order {
		p := params[key]
		if in, _ := p.get("in").(string); in != "query" {
			continue
		}
		name, _ := p.get("name").(string)
		d, _ := p.get("description").(string)
		required, _ := p.get("required").(bool)
		q := pmKV{Key: name, Value: scalar(p.get("example")), Description: d, Disabled: !required}
		req.URL.Query = append(req.URL.Query, q)
		if required {
			enabled = append(enabled, name+"="+q.Value)
		}
	}
	req.URL.Raw = "{{baseUrl}}" + urlPath
	if len(enabled) > 0 {
		req.URL.Raw += "?" + strings.Join(enabled, "&")
	}
	if sec, ok := op.get("security").([]any); ok {
		if req.Auth, err = g.auth(sec); err != nil {
			return nil, "", err
		}
	}
	if rb := op.get("requestBody"); rb != nil {
		if err := g.body(&req, rb); err != nil {
			return nil, "", err
		}
	}

	it := &pmItem{ID: id, Name: cmp.Or(summary, id), Request: req, Response: []pmResponse{}}
	responses, err := g.obj(op.get("responses"), "responses")
	if err != nil {
		return nil, "", err
	}
	var documented []string
	var saves []string
	for _, code := range responses.keys {
		if code == "default" {
			continue
		}
		n, err := strconv.Atoi(code)
		if err != nil {
			return nil, "", fmt.Errorf("response %q: not a status code", code)
		}
		documented = append(documented, code)
		resp, err := g.obj(responses.get(code), "response "+code)
		if err != nil {
			return nil, "", err
		}
		if save, ok := resp.get("x-postman-save").(*object); ok {
			saves = append(saves, fmt.Sprintf("if (pm.response.code === %d) {", n), "    var body = pm.response.json();")
			for _, k := range save.keys {
				ptr, _ := save.get(k).(string)
				saves = append(saves, fmt.Sprintf("    pm.collectionVariables.set(%s, body%s);", jsString(k), jsPointer(ptr)))
			}
			saves = append(saves, "}")
		}
		content, _ := resp.get("content").(*object)
		media, err := g.obj(content.get("application/json"), "response "+code+" content")
		if err != nil {
			return nil, "", err
		}
		ex, err := g.example(media)
		if err != nil || ex == nil {
			continue
		}
		b, err := marshal(ex)
		if err != nil {
			return nil, "", err
		}
		d, _ := resp.get("description").(string)
		it.Response = append(it.Response, pmResponse{
			Name: code + " " + strings.TrimSuffix(d, "."), OriginalRequest: req, Status: http.StatusText(n), Code: n,
			PreviewLanguage: "json", Header: []pmKV{{Key: "Content-Type", Value: "application/json; charset=utf-8"}}, Body: string(b),
		})
	}
	script := []string{
		"var documented = [" + strings.Join(documented, ", ") + "];",
		fmt.Sprintf("pm.test(%s, function () {", jsString(req.Method+" "+path+" answers a status its description documents")),
		"    pm.expect(documented).to.include(pm.response.code);",
		"});",
	}
	script = append(script, saves...)
	it.Event = []pmEvent{{Listen: "test", Script: pmScript{Type: "text/javascript", Exec: script}}}
	return it, tag, nil
}

// auth is the Postman auth of an operation's own security requirements:
// none, the collection's (nil), or a bearer token in a variable named by
// the scheme's x-postman-variable.
func (g *generator) auth(sec []any) (*pmAuth, error) {
	if len(sec) == 0 {
		return &pmAuth{Type: "noauth"}, nil
	}
	req, ok := sec[0].(*object)
	if !ok || len(req.keys) != 1 {
		return nil, fmt.Errorf("security: want one scheme")
	}
	name := req.keys[0]
	if global, ok := g.root.get("security").([]any); ok && len(global) > 0 {
		if gr, ok := global[0].(*object); ok && len(gr.keys) > 0 && gr.keys[0] == name {
			return nil, nil
		}
	}
	comp, _ := g.root.get("components").(*object)
	schemes, _ := comp.get("securitySchemes").(*object)
	scheme, err := g.obj(schemes.get(name), "security scheme "+name)
	if err != nil || scheme == nil {
		return nil, fmt.Errorf("security scheme %q: not described (%v)", name, err)
	}
	if typ, _ := scheme.get("type").(string); typ != "http" || scheme.get("scheme") != "bearer" {
		return nil, fmt.Errorf("security scheme %q: only HTTP bearer is made into Postman auth here", name)
	}
	v, _ := scheme.get("x-postman-variable").(string)
	v = cmp.Or(v, name)
	d, _ := scheme.get("description").(string)
	g.addVar(v, "", d)
	return &pmAuth{Type: "bearer", Bearer: []pmKV{{Key: "token", Value: "{{" + v + "}}", Type: "string"}}}, nil
}

// body sets the request's body from the first media type of the request
// body (the one its clients send most), filled with its example.
func (g *generator) body(req *pmRequest, rb any) error {
	ro, err := g.obj(rb, "requestBody")
	if err != nil {
		return err
	}
	content, ok := ro.get("content").(*object)
	if !ok || len(content.keys) == 0 {
		return fmt.Errorf("requestBody without content")
	}
	ct := content.keys[0]
	media, err := g.obj(content.get(ct), "requestBody "+ct)
	if err != nil {
		return err
	}
	ex, err := g.example(media)
	if err != nil {
		return err
	}
	req.Header = append(req.Header, pmKV{Key: "Content-Type", Value: ct})
	switch ct {
	case "application/json":
		b, err := marshal(ex)
		if err != nil {
			return err
		}
		req.Body = &pmBody{Mode: "raw", Raw: strings.TrimSuffix(string(b), "\n"), Options: map[string]any{"raw": map[string]string{"language": "json"}}}
	case "application/x-www-form-urlencoded":
		fields, _ := ex.(*object)
		body := &pmBody{Mode: "urlencoded", URLEncoded: []pmKV{}}
		for _, k := range fields.keysOrNil() {
			body.URLEncoded = append(body.URLEncoded, pmKV{Key: k, Value: scalar(fields.get(k)), Type: "text"})
		}
		req.Body = body
	default:
		return fmt.Errorf("requestBody: media type %q", ct)
	}
	return nil
}

func (o *object) keysOrNil() []string {
	if o == nil {
		return nil
	}
	return o.keys
}

// example is a media type's example: "example", or the first of
// "examples".
func (g *generator) example(media *object) (any, error) {
	if media == nil {
		return nil, nil
	}
	if ex := media.get("example"); ex != nil {
		return ex, nil
	}
	exs, ok := media.get("examples").(*object)
	if !ok || len(exs.keys) == 0 {
		return nil, nil
	}
	ex, err := g.obj(exs.get(exs.keys[0]), "example")
	if err != nil {
		return nil, err
	}
	return ex.get("value"), nil
}

// scalar is a parameter's or form field's example as text.
func scalar(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	}
	b, _ := marshal(v)
	return strings.TrimSpace(string(b))
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// jsPointer turns a JSON pointer ("/a/b") into JavaScript member access
// (["a"]["b"]).
func jsPointer(ptr string) string {
	var b strings.Builder
	for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
		b.WriteString("[" + jsString(seg) + "]")
	}
	return b.String()
}
