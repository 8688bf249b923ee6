package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// openapiDoc is the description a server serves at /openapi.json.
type openapiDoc struct {
	raw  []byte
	root map[string]any
}

func fetchOpenAPI(t *testing.T, s *testServer) *openapiDoc {
	t.Helper()
	res, err := http.Get(s.URL + "/openapi.json") // no auth: it is public
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json without auth: %d %s %.200s", res.StatusCode, res.Header.Get("Content-Type"), raw)
	}
	d := &openapiDoc{raw: raw}
	if err := json.Unmarshal(raw, &d.root); err != nil {
		t.Fatalf("/openapi.json is not JSON: %v", err)
	}
	return d
}

// resolve follows local $refs.
func (d *openapiDoc) resolve(t *testing.T, v any) (any, string) {
	t.Helper()
	ptr := ""
	for range 16 {
		m, ok := v.(map[string]any)
		if !ok {
			return v, ptr
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v, ptr
		}
		ptr = strings.TrimPrefix(ref, "#")
		v = d.at(t, ptr)
	}
	t.Fatalf("$ref chain too long at %s", ptr)
	return nil, ""
}

// at returns what a JSON pointer points at.
func (d *openapiDoc) at(t *testing.T, ptr string) any {
	t.Helper()
	var v any = d.root
	for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
		m, ok := v.(map[string]any)
		if !ok || m[seg] == nil {
			t.Fatalf("the description has nothing at %s", ptr)
		}
		v = m[seg]
	}
	return v
}

func ptrSeg(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// documentedOp is one operation of the description.
type documentedOp struct {
	Method, Path string // "POST", "/2fa/send"
	Ptr          string // JSON pointer of the operation
	Op           map[string]any
	Params       []map[string]any // path item's and operation's, resolved
}

func (d *openapiDoc) operations(t *testing.T) []documentedOp {
	t.Helper()
	paths, _ := d.root["paths"].(map[string]any)
	var out []documentedOp
	for path, raw := range paths {
		item, ptr := d.resolve(t, raw)
		if ptr == "" {
			ptr = "/paths/" + ptrSeg(path)
		}
		im := item.(map[string]any)
		for _, m := range httpMethods {
			op, ok := im[m].(map[string]any)
			if !ok {
				continue
			}
			o := documentedOp{Method: strings.ToUpper(m), Path: path, Ptr: ptr + "/" + m, Op: op}
			for _, list := range []any{im["parameters"], op["parameters"]} {
				ps, _ := list.([]any)
				for _, p := range ps {
					pv, _ := d.resolve(t, p)
					o.Params = append(o.Params, pv.(map[string]any))
				}
			}
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b documentedOp) int { return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method) })
	return out
}

func (d *openapiDoc) operation(t *testing.T, method, path string) documentedOp {
	t.Helper()
	for _, o := range d.operations(t) {
		if o.Method == method && o.Path == path {
			return o
		}
	}
	t.Fatalf("the description has no %s %s", method, path)
	return documentedOp{}
}

// replySchema is the JSON pointer of the schema of op's JSON reply with
// status, and the media types documented for that reply (none: no body);
// ok is false when the status is not documented for op (the "default"
// reply does not count).
func (d *openapiDoc) replySchema(t *testing.T, op documentedOp, status int) (ptr string, media []string, ok bool) {
	t.Helper()
	responses, _ := op.Op["responses"].(map[string]any)
	raw, ok := responses[strconv.Itoa(status)]
	if !ok {
		return "", nil, false
	}
	resp, rptr := d.resolve(t, raw)
	if rptr == "" {
		rptr = op.Ptr + "/responses/" + strconv.Itoa(status)
	}
	content, _ := resp.(map[string]any)["content"].(map[string]any)
	for ct := range content {
		media = append(media, ct)
	}
	if m, _ := content["application/json"].(map[string]any); m != nil && m["schema"] != nil {
		ptr = rptr + "/content/" + ptrSeg("application/json") + "/schema"
	}
	return ptr, media, true
}

// validator compiles the description's schemas (JSON Schema 2020-12, the
// dialect of OpenAPI 3.1), with formats (date-time, uri) asserted.
type validator struct {
	c     *jsonschema.Compiler
	cache map[string]*jsonschema.Schema
}

const docURL = "https://otpgate.invalid/openapi.json"

func newValidator(t *testing.T, d *openapiDoc) *validator {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(d.raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, doc); err != nil {
		t.Fatal(err)
	}
	return &validator{c: c, cache: map[string]*jsonschema.Schema{}}
}

// validate checks v (decoded with jsonschema.UnmarshalJSON) against the
// schema at ptr.
func (v *validator) validate(t *testing.T, ptr string, doc any) error {
	t.Helper()
	s, ok := v.cache[ptr]
	if !ok {
		var frag strings.Builder
		for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
			frag.WriteString("/" + url.PathEscape(seg))
		}
		var err error
		if s, err = v.c.Compile(docURL + "#" + frag.String()); err != nil {
			t.Fatalf("compile the schema at %s: %v", ptr, err)
		}
		v.cache[ptr] = s
	}
	return s.Validate(doc)
}

func decodeForSchema(t *testing.T, raw []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not JSON: %v: %.200s", err, raw)
	}
	return v
}

var (
	jsonSuffixParam = regexp.MustCompile(`^\{(\w+)\}\.json$`)
	goWildcard      = regexp.MustCompile(`\{(\w+)\.\.\.\}`)
)

// goPattern maps an OpenAPI path to the Go mux pattern that serves it: a
// segment "{X}.json" is served by the wildcard "{X}" (the handler trims
// .json), and a trailing "{X...}" is written "{X}" in OpenAPI.
func goPattern(method, path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if m := jsonSuffixParam.FindStringSubmatch(s); m != nil {
			segs[i] = "{" + m[1] + "}"
		}
	}
	return method + " " + strings.Join(segs, "/")
}

// TestOpenAPIRoutes: every route the server registers is in the
// description, and every route the description documents is registered.
// Routes register by mode (the sandbox inbox only where the sandbox
// delivers, the pumping guard's only while the abuse guard is on): the
// servers below together register all of them. Then each documented
// operation is called as its security says: without credentials, a route
// that needs them answers the 401 of a route that exists, asking for the
// scheme the description gives it (WWW-Authenticate: Basic or Bearer), and
// a public one answers neither 401, 404 nor 405; an account's route does
// not take an operator token (401), and an operator route refuses an
// account's SID and auth token (403) and takes an operator token.
func TestOpenAPIRoutes(t *testing.T) {
	const all = "sandbox, abuse guard on, --metrics-token, --console"
	modes := map[string]*testServer{
		all:                        mustServeAll(t),
		"sandbox, abuse guard off": mustServeWith(t, nil, func(c *ServeConfig) { c.NoAbuseGuard = true }),
		"defaults of the tests":    mustServe(t, nil),
	}
	registered := map[string]string{} // normalised pattern -> mode
	for mode, s := range modes {
		for _, r := range s.api.Routes() {
			registered[goWildcard.ReplaceAllString(r, "{$1}")] = mode
		}
	}
	for _, r := range notAPI {
		if _, ok := registered[r]; !ok {
			t.Errorf("%q is listed as not the API, but no mode registers it: take it off notAPI", r)
		}
		delete(registered, r)
	}
	s := modes[all]
	d := fetchOpenAPI(t, s)
	documented := map[string]string{}
	ids := map[string]string{}
	for _, op := range d.operations(t) {
		documented[goPattern(op.Method, op.Path)] = op.Method + " " + op.Path
		id, _ := op.Op["operationId"].(string)
		if prev, dup := ids[id]; dup || id == "" {
			t.Errorf("operationId %q of %s %s: missing, or also %s's", id, op.Method, op.Path, prev)
		}
		ids[id] = op.Method + " " + op.Path
	}
	for r, mode := range registered {
		if _, ok := documented[r]; !ok {
			t.Errorf("the server registers %q (%s), but /openapi.json does not document it: add it to internal/openapi/openapi.json", r, mode)
		}
	}
	for r, oa := range documented {
		if _, ok := registered[r]; !ok {
			t.Errorf("/openapi.json documents %s, but no server mode registers %q", oa, r)
		}
	}
	if len(registered) < 40 {
		t.Errorf("only %d routes registered: %v", len(registered), registered)
	}
	if servers, _ := d.root["servers"].([]any); len(servers) != 1 || servers[0].(map[string]any)["url"] != "/" {
		t.Errorf("servers = %v, want \"/\": the address the description was fetched from, not one the request named", d.root["servers"])
	}
	// A Host header is the client's to choose: the description does not
	// repeat it.
	req, _ := http.NewRequest("GET", s.URL+"/openapi.json", nil)
	req.Host = "evil.example"
	req.Header.Set("X-Forwarded-Proto", "https")
	if res, err := http.DefaultClient.Do(req); err != nil {
		t.Error(err)
	} else {
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || bytes.Contains(raw, []byte("evil.example")) {
			t.Errorf("GET /openapi.json with Host: evil.example: %d, the description names it: %.300s", res.StatusCode, raw)
		}
	}

	// The HTTP auth scheme (basic, bearer) of each security scheme.
	schemes := map[string]string{}
	comps, _ := d.root["components"].(map[string]any)
	ss, _ := comps["securitySchemes"].(map[string]any)
	for name, v := range ss {
		schemes[name], _ = v.(map[string]any)["scheme"].(string)
	}
	_, opToken := mustOperatorToken(t, s.Config.DataDir, "openapi", "")
	for _, op := range d.operations(t) {
		t.Run(op.Method+" "+op.Path, func(t *testing.T) {
			path := regexp.MustCompile(`\{(\w+)\}`).ReplaceAllStringFunc(op.Path, func(m string) string {
				for _, p := range op.Params {
					if p["in"] == "path" && "{"+p["name"].(string)+"}" == m {
						return url.PathEscape(fmt.Sprint(p["example"]))
					}
				}
				t.Fatalf("path parameter %s is not described", m)
				return m
			})
			do := func(auth func(*http.Request)) (*http.Response, string) {
				t.Helper()
				req, _ := http.NewRequest(op.Method, s.URL+path, nil)
				if auth != nil {
					auth(req)
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				return res, string(body)
			}
			basic := func(r *http.Request) { r.SetBasicAuth(s.SID, s.Token) }
			operator := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+opToken) }

			scheme := d.security(op)
			res, body := do(nil)
			if scheme == "" {
				if res.StatusCode == 401 || res.StatusCode == 404 || res.StatusCode == 405 {
					t.Errorf("documented as public, it answers %d without credentials: %s", res.StatusCode, body)
				}
				return
			}
			auth := res.Header.Get("WWW-Authenticate")
			switch {
			case schemes[scheme] == "":
				t.Fatalf("security scheme %q is not an HTTP scheme of components/securitySchemes", scheme)
			case res.StatusCode != 401:
				t.Errorf("documented as needing %s, it answers %d without credentials (want 401): %s", scheme, res.StatusCode, body)
			case !strings.Contains(body, `"code":20003`):
				t.Errorf("401 is not the standard error: %s", body)
			case !strings.HasPrefix(strings.ToLower(auth), schemes[scheme]+" "):
				t.Errorf("documented as needing %s (%s), its 401 asks for WWW-Authenticate: %s", scheme, schemes[scheme], auth)
			}
			switch scheme {
			case "accountAuth":
				if res, body := do(operator); res.StatusCode != 401 {
					t.Errorf("an account's route with an operator token: %d (want 401): %s", res.StatusCode, body)
				}
			case "operatorAuth":
				if res, body := do(basic); res.StatusCode != 403 || !strings.Contains(body, `"code":20403`) {
					t.Errorf("an operator route with an account's SID and auth token: %d (want 403, 20403): %s", res.StatusCode, body)
				}
				if res, body := do(operator); res.StatusCode == 401 || res.StatusCode == 403 {
					t.Errorf("an operator route with the operator's token: %d: %s", res.StatusCode, body)
				}
			}
		})
	}
}

// security is the name of the security scheme op takes (its own, else the
// description's), "" for none.
func (d *openapiDoc) security(op documentedOp) string {
	sec, ok := op.Op["security"].([]any)
	if !ok {
		sec, _ = d.root["security"].([]any)
	}
	if len(sec) == 0 {
		return ""
	}
	for name := range sec[0].(map[string]any) {
		return name
	}
	return ""
}

// notAPI are the routes the server registers that are not its API: the
// web console's pages (HTML for a browser, signed in with a session cookie
// and CSRF-checked forms; the README's "Web console" section), which an API
// client or Postman has no use for.
var notAPI = []string{"GET /console", "GET /console/", "POST /console/"}

// testMetricsToken is the --metrics-token of mustServeAll.
const testMetricsToken = "metrics-token-for-tests-0123456789"

// mustServeAll starts otpgate with every route it can serve: the sandbox,
// the abuse guard, /metrics on the main listener and the console.
func mustServeAll(t *testing.T) *testServer {
	t.Helper()
	return mustServeWith(t, nil, func(c *ServeConfig) { c.MetricsToken = testMetricsToken; c.Console = true })
}

// goldenRoutes says which route and status each golden file is a reply
// of. Every golden file must be here: its reply must match the schema the
// description gives that route's reply.
var goldenRoutes = map[string]struct {
	Method, Path string
	Status       int
}{
	"2fa_send_201":                  {"POST", "/2fa/send", 201},
	"2fa_send_400_to":               {"POST", "/2fa/send", 400},
	"2fa_send_403_pumping":          {"POST", "/2fa/send", 403},
	"2fa_send_429_budget":           {"POST", "/2fa/send", 429},
	"2fa_verify_404":                {"POST", "/2fa/verify", 404},
	"2fa_verify_right_200":          {"POST", "/2fa/verify", 200},
	"2fa_verify_wrong_200":          {"POST", "/2fa/verify", 200},
	"401":                           {"POST", "/2fa/send", 401},
	"guard_blocks":                  {"GET", "/guard/blocks", 200},
	"guard_countries":               {"GET", "/guard/countries", 200},
	"guard_countries_403_ceiling":   {"POST", "/guard/countries", 403},
	"guard_lift_403":                {"DELETE", "/guard/blocks/{key}", 403},
	"guard_safe_201":                {"POST", "/guard/safe", 201},
	"guard_safe_400_prefix":         {"POST", "/guard/safe", 400},
	"guard_safe_remove_404":         {"DELETE", "/guard/safe/{entry}", 404},
	"operator_401":                  {"GET", "/operator/accounts", 401},
	"operator_403_account":          {"GET", "/operator/accounts", 403},
	"operator_accounts":             {"GET", "/operator/accounts", 200},
	"operator_audit":                {"GET", "/operator/audit", 200},
	"operator_blocks":               {"GET", "/operator/accounts/{AccountSid}/guard/blocks", 200},
	"operator_lift":                 {"DELETE", "/operator/accounts/{AccountSid}/guard/blocks/{key}", 200},
	"operator_lift_404":             {"DELETE", "/operator/accounts/{AccountSid}/guard/blocks/{key}", 404},
	"operator_policy":               {"GET", "/operator/accounts/{AccountSid}/policy", 200},
	"operator_policy_400":           {"POST", "/operator/accounts/{AccountSid}/policy", 400},
	"operator_policy_404":           {"GET", "/operator/accounts/{AccountSid}/policy", 404},
	"operator_policy_set":           {"POST", "/operator/accounts/{AccountSid}/policy", 200},
	"restcomm_sms_list":             {"GET", "/2012-04-24/Accounts/{AccountSid}/SMS/Messages.json", 200},
	"safelist_201":                  {"POST", "/v2/SafeList/Numbers", 201},
	"safelist_404":                  {"GET", "/v2/SafeList/Numbers/{PhoneNumber}", 404},
	"safelist_fetch":                {"GET", "/v2/SafeList/Numbers/{PhoneNumber}", 200},
	"sandbox_messages":              {"GET", "/sandbox/messages", 200},
	"twilio_message_201":            {"POST", "/2010-04-01/Accounts/{AccountSid}/Messages.json", 201},
	"twilio_message_400":            {"POST", "/2010-04-01/Accounts/{AccountSid}/Messages.json", 400},
	"twilio_message_403_codes_only": {"POST", "/2010-04-01/Accounts/{AccountSid}/Messages.json", 403},
	"twilio_message_429_budget":     {"POST", "/2010-04-01/Accounts/{AccountSid}/Messages.json", 429},
	"twilio_message_fetch":          {"GET", "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}.json", 200},
	"twilio_messages_list":          {"GET", "/2010-04-01/Accounts/{AccountSid}/Messages.json", 200},
	"v2_check_404":                  {"POST", "/v2/Services/{ServiceSid}/VerificationCheck", 404},
	"v2_check_right_200":            {"POST", "/v2/Services/{ServiceSid}/VerificationCheck", 200},
	"v2_check_wrong_200":            {"POST", "/v2/Services/{ServiceSid}/VerificationCheck", 200},
	"v2_service_201":                {"POST", "/v2/Services", 201},
	"v2_service_404":                {"GET", "/v2/Services/{Sid}", 404},
	"v2_service_fetch":              {"GET", "/v2/Services/{Sid}", 200},
	"v2_services_list":              {"GET", "/v2/Services", 200},
	"v2_verification_201":           {"POST", "/v2/Services/{ServiceSid}/Verifications", 201},
	"v2_verification_400_channel":   {"POST", "/v2/Services/{ServiceSid}/Verifications", 400},
	"v2_verification_fetch":         {"GET", "/v2/Services/{ServiceSid}/Verifications/{Sid}", 200},
}

// TestOpenAPIGoldens: the golden replies (testdata/golden, pinned by
// TestGolden) validate against the schemas of their routes' replies, and
// each schema is strict enough to notice: the golden with a field added,
// or with one of its fields taken away, fails it.
func TestOpenAPIGoldens(t *testing.T) {
	s := mustServe(t, nil)
	d := fetchOpenAPI(t, s)
	v := newValidator(t, d)
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if len(files) < len(goldenRoutes) {
		t.Fatalf("%d golden files, %d mapped", len(files), len(goldenRoutes))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			route, ok := goldenRoutes[name]
			if !ok {
				t.Fatalf("golden file %s is not in goldenRoutes: say which route and status it is a reply of", f)
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			op := d.operation(t, route.Method, route.Path)
			ptr, _, ok := d.replySchema(t, op, route.Status)
			if !ok || ptr == "" {
				t.Fatalf("%s %s does not document a JSON reply with status %d", route.Method, route.Path, route.Status)
			}
			if err := v.validate(t, ptr, decodeForSchema(t, raw)); err != nil {
				t.Fatalf("%s does not match the description's %s %s %d reply:\n%v", f, route.Method, route.Path, route.Status, err)
			}
			var obj map[string]any
			json.Unmarshal(raw, &obj)
			extra := map[string]any{"undocumented_field": "x"}
			for k, val := range obj {
				extra[k] = val
			}
			if v.validate(t, ptr, roundTrip(t, extra)) == nil {
				t.Errorf("the schema of %s %s %d accepts a field it does not document", route.Method, route.Path, route.Status)
			}
			keys := make([]string, 0, len(obj))
			for k := range obj {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			less := map[string]any{}
			for k, val := range obj {
				if k != keys[0] {
					less[k] = val
				}
			}
			if v.validate(t, ptr, roundTrip(t, less)) == nil {
				t.Errorf("the schema of %s %s %d accepts the reply without %q", route.Method, route.Path, route.Status, keys[0])
			}
		})
	}
}

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, _ := json.Marshal(v)
	return decodeForSchema(t, b)
}

// TestOpenAPIExamples: every example in the description (parameters,
// request bodies, replies) matches its own schema: the examples are what
// Postman fills requests with.
func TestOpenAPIExamples(t *testing.T) {
	s := mustServe(t, nil)
	d := fetchOpenAPI(t, s)
	v := newValidator(t, d)
	checked := 0
	check := func(what, schemaPtr string, example any) {
		t.Helper()
		b, _ := json.Marshal(example)
		if err := v.validate(t, schemaPtr, decodeForSchema(t, b)); err != nil {
			t.Errorf("%s: its example does not match its schema: %v", what, err)
		}
		checked++
	}
	// media checks a media type's example(s) against its schema.
	media := func(what, ptr string, m map[string]any) {
		if m["schema"] == nil {
			return
		}
		if ex, ok := m["example"]; ok {
			check(what, ptr+"/schema", ex)
		}
		exs, _ := m["examples"].(map[string]any)
		for name, e := range exs {
			ev, _ := d.resolve(t, e)
			check(what+" example "+name, ptr+"/schema", ev.(map[string]any)["value"])
		}
	}
	for _, op := range d.operations(t) {
		what := op.Method + " " + op.Path
		params, _ := op.Op["parameters"].([]any)
		for i, p := range params {
			pv, pptr := d.resolve(t, p)
			if pptr == "" {
				pptr = fmt.Sprintf("%s/parameters/%d", op.Ptr, i)
			}
			if ex, ok := pv.(map[string]any)["example"]; ok {
				check(what+" parameter "+fmt.Sprint(pv.(map[string]any)["name"]), pptr+"/schema", ex)
			}
		}
		if rb, ok := op.Op["requestBody"]; ok {
			rv, rptr := d.resolve(t, rb)
			if rptr == "" {
				rptr = op.Ptr + "/requestBody"
			}
			content, _ := rv.(map[string]any)["content"].(map[string]any)
			if len(content) == 0 {
				t.Errorf("%s: request body without content", what)
			}
			for ct, m := range content {
				if ct != "application/json" && ct != "application/x-www-form-urlencoded" {
					t.Errorf("%s: request body %s: otpgate reads JSON and forms only", what, ct)
				}
				media(what+" body "+ct, rptr+"/content/"+ptrSeg(ct), m.(map[string]any))
			}
		}
		responses, _ := op.Op["responses"].(map[string]any)
		for code, r := range responses {
			rv, rptr := d.resolve(t, r)
			if rptr == "" {
				rptr = op.Ptr + "/responses/" + code
			}
			content, _ := rv.(map[string]any)["content"].(map[string]any)
			for ct, m := range content {
				media(what+" "+code, rptr+"/content/"+ptrSeg(ct), m.(map[string]any))
			}
		}
	}
	// The path items' parameters (AccountSid and the like).
	for _, op := range d.operations(t) {
		for _, p := range op.Params {
			if ex, ok := p["example"]; ok && p["in"] == "path" {
				b, _ := json.Marshal(p["schema"])
				sch := decodeForSchema(t, b)
				if m, ok := sch.(map[string]any); ok && m["$ref"] != nil {
					check(op.Method+" "+op.Path+" path parameter "+fmt.Sprint(p["name"]), strings.TrimPrefix(m["$ref"].(string), "#"), ex)
				}
			}
		}
	}
	if checked < 60 {
		t.Errorf("only %d examples checked", checked)
	}
}

// TestOpenAPICommand: `otpgate openapi` prints the description, with
// --url as its server; `otpgate openapi --postman` a Postman Collection
// v2.1 with a folder per tag, every operation once (a path item served at
// several paths once), Basic auth with {{accountSid}} and {{authToken}},
// the operator API with Bearer {{operatorToken}}, the example bodies, and
// public routes without auth.
func TestOpenAPICommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"openapi", "--url", "https://otp.example.com/"}, &out, &errOut); err != nil {
		t.Fatalf("otpgate openapi: %v %s", err, errOut.String())
	}
	d := &openapiDoc{raw: out.Bytes()}
	if err := json.Unmarshal(out.Bytes(), &d.root); err != nil || !strings.HasPrefix(fmt.Sprint(d.root["openapi"]), "3.1.") {
		t.Fatalf("otpgate openapi printed no OpenAPI 3.1 description (%v): %.300s", err, out.String())
	}
	if got := d.root["servers"].([]any)[0].(map[string]any)["url"]; got != "https://otp.example.com" {
		t.Errorf("server %v, want the --url", got)
	}
	if err := run(context.Background(), []string{"openapi", "--url", "ftp://x"}, io.Discard, io.Discard); err == nil {
		t.Error("--url ftp://x was taken")
	}
	var help bytes.Buffer
	run(context.Background(), []string{"--help"}, &help, io.Discard)
	if !strings.Contains(help.String(), "otpgate openapi [--postman]") {
		t.Errorf("otpgate --help does not name the openapi command:\n%s", help.String())
	}

	out.Reset()
	if err := run(context.Background(), []string{"openapi", "--postman", "--url", "http://10.0.0.5:8080"}, &out, &errOut); err != nil {
		t.Fatalf("otpgate openapi --postman: %v %s", err, errOut.String())
	}
	var c postmanCollection
	if err := json.Unmarshal(out.Bytes(), &c); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if c.Info.Schema != "https://schema.getpostman.com/json/collection/v2.1.0/collection.json" || c.Info.Name == "" {
		t.Errorf("info %+v: not a v2.1 collection", c.Info)
	}
	if c.Auth.Type != "basic" || len(c.Auth.Basic) != 2 || c.Auth.Basic[0].Value != "{{accountSid}}" || c.Auth.Basic[1].Value != "{{authToken}}" {
		t.Errorf("auth %+v, want Basic with {{accountSid}} and {{authToken}}", c.Auth)
	}
	vars := map[string]string{}
	for _, v := range c.Variable {
		vars[v.Key] = v.Value
	}
	if vars["baseUrl"] != "http://10.0.0.5:8080" || !slicesHasKeys(vars, "accountSid", "authToken", "operatorToken", "ServiceSid", "VerificationSid", "MessageSid") {
		t.Errorf("variables %v", vars)
	}
	var tags []string
	for _, tg := range d.root["tags"].([]any) {
		tags = append(tags, tg.(map[string]any)["name"].(string))
	}
	var folders []string
	ids := map[string]int{}
	for _, f := range c.Item {
		folders = append(folders, f.Name)
		for _, it := range f.Item {
			ids[it.ID]++
			r := it.Request
			if !strings.HasPrefix(r.URL.Raw, "{{baseUrl}}/") || strings.Contains(r.URL.Raw, "{AccountSid}") {
				t.Errorf("%s: url %q", it.ID, r.URL.Raw)
			}
			if (r.Method == "POST") != (r.Body != nil) && it.ID != "createSecondaryToken" && it.ID != "promoteSecondaryToken" {
				t.Errorf("%s: %s with body %v", it.ID, r.Method, r.Body)
			}
			if r.Body != nil && r.Body.Raw == "" && len(r.Body.URLEncoded) == 0 && !strings.Contains(it.ID, "Update") {
				t.Errorf("%s: an empty example body", it.ID)
			}
			if len(it.Event) == 0 || !strings.Contains(strings.Join(it.Event[0].Script.Exec, "\n"), "pm.expect(documented)") {
				t.Errorf("%s: no test of the documented statuses", it.ID)
			}
		}
	}
	if !slices.Equal(folders, tags) {
		t.Errorf("folders %v, want the tags %v", folders, tags)
	}
	for _, op := range d.operations(t) {
		id := op.Op["operationId"].(string)
		alias := strings.HasSuffix(id, "WithoutJSON") || strings.HasSuffix(id, "UnderRestcomm")
		if n := ids[id]; (n != 1 && !alias) || (n != 0 && alias) {
			t.Errorf("operation %s (%s %s) is in the collection %d times", id, op.Method, op.Path, n)
		}
	}
	for id, want := range map[string]string{"healthz": "noauth", "twoFASend": "", "operatorSetPolicy": "bearer {{operatorToken}}",
		"operatorAudit": "bearer {{operatorToken}}", "metrics": "bearer {{metricsToken}}"} {
		found := false
		for _, f := range c.Item {
			for _, it := range f.Item {
				if it.ID != id {
					continue
				}
				found = true
				got := ""
				if a := it.Request.Auth; a != nil {
					got = a.Type
					for _, kv := range a.Bearer {
						got += " " + kv.Value
					}
				}
				if got != want {
					t.Errorf("%s: auth %q, want %q (empty: the collection's Basic auth)", id, got, want)
				}
			}
		}
		if !found {
			t.Errorf("the collection has no %s", id)
		}
	}
}

func slicesHasKeys(m map[string]string, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

type postmanCollection struct {
	Info struct {
		Name, Schema string
	}
	Auth struct {
		Type  string
		Basic []struct{ Key, Value string }
	}
	Variable []struct{ Key, Value string }
	Item     []struct {
		Name string
		Item []struct {
			ID      string
			Name    string
			Request struct {
				Method string
				Auth   *struct {
					Type   string
					Bearer []struct{ Key, Value string }
				}
				Body *struct {
					Mode       string
					Raw        string
					URLEncoded []struct{ Key, Value string }
				}
				URL struct{ Raw string }
			}
			Event []struct {
				Script struct{ Exec []string }
			}
		}
	}
}

// newmanDir holds Postman's own tools (npm ci --prefix it; .ci/run does).
var newmanDir = filepath.Join("testdata", "newman")

func needNewman(t *testing.T) {
	t.Helper()
	needNodePackages(t, newmanDir, "newman", "openapi-to-postmanv2", "@apidevtools/swagger-parser")
}

// TestOpenAPIPostman does what a user does with Postman, with Postman's own
// tools: imports http://HOST/openapi.json (openapi-to-postmanv2, Postman's
// importer: every documented operation becomes a request; swagger-parser
// first checks the document against the OpenAPI 3.1 schema and resolves
// every reference), then runs `otpgate openapi --postman`'s collection with
// newman against a sandbox otpgate: every request runs, answers a status
// the description documents for it with a body its schema accepts, and the
// flow works (the variables a reply sets are the next requests' SIDs, and
// the promoted token is the next requests' password; the operator's
// requests take an operator token made with otpgate operator-token, as the
// operator makes one), so each request succeeds but those that cannot by
// then.
func TestOpenAPIPostman(t *testing.T) {
	needNewman(t)
	s := mustServeAll(t)
	d := fetchOpenAPI(t, s)
	_, opToken := mustOperatorToken(t, s.Config.DataDir, "postman", "")

	cmd := exec.Command("node", "check.js")
	cmd.Dir = newmanDir
	cmd.Env = append(os.Environ(), "OPENAPI_URL="+s.URL+"/openapi.json")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node check.js: %v\n%s%s", err, out, stderrOf(err))
	}
	var imp struct {
		Valid           bool
		ValidationError string
		Converted       bool
		Reason          string
		Requests        []string
	}
	if err := json.Unmarshal(out, &imp); err != nil {
		t.Fatalf("check.js printed %q: %v", out, err)
	}
	if !imp.Valid {
		t.Errorf("swagger-parser: /openapi.json is not a valid OpenAPI document: %s", imp.ValidationError)
	}
	if !imp.Converted {
		t.Fatalf("Postman's importer refused /openapi.json: %s", imp.Reason)
	}
	placeholder := regexp.MustCompile(`\{\{\w+\}\}|:\w+|\{\w+\}`)
	imported := map[string]bool{}
	for _, r := range imp.Requests {
		imported[placeholder.ReplaceAllString(r, "*")] = true
	}
	for _, op := range d.operations(t) {
		if k := placeholder.ReplaceAllString(op.Method+" "+op.Path, "*"); !imported[k] {
			t.Errorf("importing /openapi.json into Postman makes no request for %s %s", op.Method, op.Path)
		}
	}

	// The collection, with this server's account in its variables (as a
	// user types them into Postman's Variables tab).
	var buf bytes.Buffer
	if err := run(context.Background(), []string{"openapi", "--postman", "--url", s.URL}, &buf, io.Discard); err != nil {
		t.Fatal(err)
	}
	var coll map[string]any
	json.Unmarshal(buf.Bytes(), &coll)
	for _, v := range coll["variable"].([]any) {
		vm := v.(map[string]any)
		switch vm["key"] {
		case "accountSid":
			vm["value"] = s.SID
		case "authToken":
			vm["value"] = s.Token
		case "metricsToken":
			vm["value"] = testMetricsToken
		case "operatorToken":
			vm["value"] = opToken
		}
	}
	dir := t.TempDir()
	collPath, reportPath := filepath.Join(dir, "otpgate.postman_collection.json"), filepath.Join(dir, "report.json")
	b, _ := json.Marshal(coll)
	os.WriteFile(collPath, b, 0o600)
	cmd = exec.Command("node", filepath.Join("node_modules", "newman", "bin", "newman.js"), "run", collPath,
		"--reporters", "cli,json", "--reporter-json-export", reportPath, "--color", "off", "--timeout-request", "10000")
	cmd.Dir = newmanDir
	newmanOut, runErr := cmd.CombinedOutput()
	raw, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatalf("newman wrote no report (%v): %v\n%s", runErr, err, newmanOut)
	}
	var report struct {
		Run struct {
			Executions []struct {
				Item     struct{ ID, Name string }
				Request  struct{ Method string }
				Response *struct {
					Code   int
					Stream struct{ Data []int } // a Node Buffer
				}
				Assertions []struct {
					Assertion string
					Error     *struct{ Message string }
				}
			}
			Failures []struct {
				Error  struct{ Message string }
				Source struct{ Name string }
			}
		}
	}
	if err := json.Unmarshal(raw, &report); err != nil {
		t.Fatalf("newman's report: %v", err)
	}
	for _, f := range report.Run.Failures {
		t.Errorf("newman: %s: %s", f.Source.Name, f.Error.Message)
	}
	if runErr != nil && !t.Failed() {
		t.Errorf("newman: %v\n%s", runErr, newmanOut)
	}

	opsByID := map[string]documentedOp{}
	for _, op := range d.operations(t) {
		opsByID[op.Op["operationId"].(string)] = op
	}
	// What cannot succeed by the time it runs: an account cannot lift a
	// block, and the operator finds none in force to lift; the secondary
	// token was promoted. A message redacted right after it was sent may
	// still be queued.
	mayFail := map[string][]int{
		"guardLiftBlock":       {403},
		"operatorLiftBlock":    {404},
		"deleteSecondaryToken": {404},
		"twilioUpdateMessage":  {409},
		"restcommUpdateSMS":    {409},
		// A TOTP code cannot be typed into a collection: the factor stays
		// unverified, so the example challenge finds no factor of its SID
		// to check (404), and none is made to fetch.
		"verifyCreateChallenge": {404},
		"verifyFetchChallenge":  {404},
	}
	v := newValidator(t, d)
	ran := map[string]bool{}
	for _, e := range report.Run.Executions {
		id := e.Item.ID
		ran[id] = true
		op, ok := opsByID[id]
		if !ok {
			t.Errorf("newman ran %q, which the description does not have", id)
			continue
		}
		if e.Response == nil {
			t.Errorf("%s: no reply", id)
			continue
		}
		code, body := e.Response.Code, make([]byte, len(e.Response.Stream.Data))
		for i, c := range e.Response.Stream.Data {
			body[i] = byte(c)
		}
		ptr, media, documented := d.replySchema(t, op, code)
		switch {
		case !documented:
			t.Errorf("%s (%s %s) answered %d, which the description does not document: %s", id, op.Method, op.Path, code, body)
			continue
		case code >= 300 && !slices.Contains(mayFail[id], code):
			t.Errorf("%s (%s %s) answered %d: %s", id, op.Method, op.Path, code, body)
		}
		if ptr == "" {
			if len(media) == 0 && len(bytes.TrimSpace(body)) != 0 {
				t.Errorf("%s answered %d with a body the description does not have: %s", id, code, body)
			}
			if len(media) > 0 && len(bytes.TrimSpace(body)) == 0 {
				t.Errorf("%s answered %d without the %v body the description has", id, code, media)
			}
			continue
		}
		if err := v.validate(t, ptr, decodeForSchema(t, body)); err != nil {
			t.Errorf("%s answered %d with a body its schema refuses: %v\n%s", id, code, err, body)
		}
	}
	for id, op := range opsByID {
		alias := strings.HasSuffix(id, "WithoutJSON") || strings.HasSuffix(id, "UnderRestcomm")
		if !alias && !ran[id] {
			t.Errorf("newman did not run %s (%s %s)", id, op.Method, op.Path)
		}
	}
	if t.Failed() {
		t.Logf("newman:\n%s", newmanOut)
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
