// Package openapi holds otpgate's OpenAPI 3.1 description of every route it
// serves (openapi.json, written by hand, embedded), serves it at GET
// /openapi.json, and generates a Postman collection from it. It does not
// look at the server's routes: cmd/otpgate's tests hold the description and
// the routes together, and check the golden replies against its schemas.
package openapi

import (
	_ "embed"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/otpgate/otpgate/internal/api"
)

// spec is the description as written. A path item served at several paths
// (Twilio's and Restcomm's messages, with and without .json, and under
// /restcomm) is written once under components/pathItems and referenced from
// each path; the description served is expanded (see expand).
//
//go:embed openapi.json
var spec []byte

// ForServer returns the description, expanded, with baseURL as its only
// server (where Postman and other tools send their requests). It is what
// `otpgate openapi --url` prints.
func ForServer(baseURL string) ([]byte, error) {
	baseURL, err := checkBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	return withServer(baseURL, "this otpgate")
}

// withServer returns the description, expanded, with the one server url.
func withServer(serverURL, description string) ([]byte, error) {
	doc, err := parse(spec)
	if err != nil {
		return nil, err
	}
	root, ok := doc.(*object)
	if !ok {
		return nil, fmt.Errorf("the description is not a JSON object")
	}
	if err := expand(root); err != nil {
		return nil, err
	}
	server := &object{vals: map[string]any{}}
	server.set("url", serverURL)
	server.set("description", description)
	root.set("servers", []any{server})
	return marshal(root)
}

// expand copies each referenced path item into the paths that reference
// it: Postman's importer (openapi-to-postmanv2) drops a path item that is a
// reference, and with it every route under it. A path's
// "x-operation-id-suffix" is added to the operationIds of its copy, which
// must stay unique in the document.
func expand(root *object) error {
	paths, ok := root.get("paths").(*object)
	if !ok {
		return fmt.Errorf("the description has no paths")
	}
	for _, p := range paths.keys {
		item, ok := paths.get(p).(*object)
		if !ok {
			return fmt.Errorf("paths/%s is not an object", p)
		}
		ref, ok := item.get("$ref").(string)
		if !ok {
			continue
		}
		target, err := pointer(root, ref)
		if err != nil {
			return fmt.Errorf("paths/%s: %w", p, err)
		}
		c, ok := deepCopy(target).(*object)
		if !ok {
			return fmt.Errorf("paths/%s: %s is not a path item", p, ref)
		}
		suffix, _ := item.get("x-operation-id-suffix").(string)
		for _, k := range c.keys {
			if op, ok := c.get(k).(*object); ok {
				if id, ok := op.get("operationId").(string); ok {
					op.set("operationId", id+suffix)
				}
			}
		}
		paths.vals[p] = c
	}
	if comp, ok := root.get("components").(*object); ok {
		comp.del("pathItems") // nothing refers to them now
	}
	return nil
}

// checkBaseURL returns baseURL without a trailing slash, or why it is no
// base URL.
func checkBaseURL(baseURL string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("base URL %q: want http(s)://HOST[:PORT][/PATH]", baseURL)
	}
	return strings.TrimSuffix(baseURL, "/"), nil
}

// Register serves GET /openapi.json, without auth. Its server is "/", a
// URL relative to where the document was fetched from (OpenAPI's default
// when no server is given): it is the same for every request, and never
// the request's Host header, which the client chooses. `otpgate openapi
// --url` prints the description with an absolute server instead.
func Register(s *api.Server) {
	doc, err := withServer("/", "the otpgate that served this description")
	if err != nil {
		doc = spec // the tests hold openapi.json valid; this is not reached
	}
	s.Public("GET /openapi.json", nil, func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(doc)
		return nil
	})
}
