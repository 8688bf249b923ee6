package openapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/internal/api"
)

// The description is written by hand: a key written twice (which
// encoding/json and most tools silently take the last of) is refused.
func TestParseRefusesDuplicateKeys(t *testing.T) {
	_, err := parse([]byte(`{"paths": {"/a": {"get": {}}, "/a": {"post": {}}}}`))
	if err == nil || !strings.Contains(err.Error(), "/paths/~1a: key written twice") {
		t.Fatalf("err = %v, want the duplicate /a named", err)
	}
	if _, err := parse(spec); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
}

// A path item referenced from several paths is copied into each, its
// operationIds suffixed as the path says, and the referenced items dropped;
// the order of paths and keys stays as written.
func TestExpand(t *testing.T) {
	doc, err := parse([]byte(`{"paths": {
		"/m.json": {"$ref": "#/components/pathItems/M"},
		"/m": {"$ref": "#/components/pathItems/M", "x-operation-id-suffix": "WithoutJSON"},
		"/a": {"get": {"operationId": "a"}}},
	  "components": {"pathItems": {"M": {"post": {"operationId": "send"}, "get": {"operationId": "list"}}}, "schemas": {}}}`))
	if err != nil {
		t.Fatal(err)
	}
	root := doc.(*object)
	if err := expand(root); err != nil {
		t.Fatal(err)
	}
	out, err := marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	json.Compact(&compact, out)
	want := `{"paths":{"/m.json":{"post":{"operationId":"send"},"get":{"operationId":"list"}},` +
		`"/m":{"post":{"operationId":"sendWithoutJSON"},"get":{"operationId":"listWithoutJSON"}},` +
		`"/a":{"get":{"operationId":"a"}}},"components":{"schemas":{}}}`
	if compact.String() != want {
		t.Fatalf("expanded:\n%s\nwant:\n%s", compact.String(), want)
	}
}

func TestForServerRefusesWhatIsNoBaseURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://h", "http://", "http://u:p@h", "http://h/?q=1"} {
		if _, err := ForServer(u); err == nil {
			t.Errorf("ForServer(%q) took it", u)
		}
		if _, err := Postman(u); err == nil {
			t.Errorf("Postman(%q) took it", u)
		}
	}
	b, err := ForServer("https://otp.example.com:8443/")
	if err != nil || !strings.Contains(string(b), `"url": "https://otp.example.com:8443"`) || strings.Contains(string(b), `\u003c`) {
		t.Fatalf("ForServer: %v %.300s", err, b)
	}
}

// GET /openapi.json does not take its server from the request: a Host
// header (or X-Forwarded-Proto) is the client's to choose, and a document
// that echoed it could point a reader's tools at another host. Its server
// is "/", the address the document was fetched from, whatever that was.
func TestServedDescriptionIgnoresHost(t *testing.T) {
	s := api.New(api.Config{})
	Register(s)
	r := httptest.NewRequest("GET", "/openapi.json", nil)
	r.Host = "evil.example"
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "evil.example")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("GET /openapi.json: %d %.300s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "evil.example") {
		t.Fatalf("the description names the request's Host: %.300s", w.Body)
	}
	var doc struct {
		Servers []struct{ URL string }
		Paths   map[string]any
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "/" {
		t.Errorf("servers = %+v, want the one relative server \"/\"", doc.Servers)
	}
	if doc.Paths["/2010-04-01/Accounts/{AccountSid}/Messages"] == nil || strings.Contains(w.Body.String(), "#/components/pathItems/") {
		t.Errorf("the served description is not expanded: %.300s", w.Body)
	}
}
