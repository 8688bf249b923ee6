package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/otpgate/otpgate/internal/openapi"
)

// runOpenAPI prints the OpenAPI 3.1 description of otpgate's API (the one
// GET /openapi.json serves), or a Postman collection made from it.
func runOpenAPI(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("openapi", flag.ContinueOnError)
	postman := fs.Bool("postman", false, "print a Postman Collection v2.1 made from the description (import it with File > Import)")
	baseURL := fs.String("url", "http://127.0.0.1:8080", "where otpgate is: the description's server, the collection's baseUrl")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: otpgate openapi [--postman] [--url URL]

Prints the OpenAPI 3.1 description of every route otpgate serves (a running
server also serves it at /openapi.json), or with --postman a Postman
collection made from it: a folder per API, HTTP Basic auth with the
collection variables accountSid and authToken, example bodies.

  otpgate openapi --postman --url http://HOST:8080 > otpgate.postman_collection.json

`)
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	var out []byte
	var err error
	if *postman {
		out, err = openapi.Postman(*baseURL)
	} else {
		out, err = openapi.ForServer(*baseURL)
	}
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	_, err = stdout.Write(out)
	return err
}
