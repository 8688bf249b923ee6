// Package otpgate holds what every part of otpgate shares: the domain error,
// identifiers and the clock. It has no dependencies beyond the standard library.
package otpgate

import (
	"errors"
	"fmt"
	"time"
)

// Error codes, compatible with Twilio's and Restcomm's numbering where one exists.
const (
	CodeInvalidParameter  = 60200 // a request field is missing or invalid
	CodeMaxCheckAttempts  = 60202 // too many wrong codes for one verification
	CodeMaxSendAttempts   = 60203 // too many sends for one verification
	CodeNotFound          = 20404 // the resource does not exist (or is no longer pending)
	CodeUnauthorized      = 20003 // authentication failed
	CodeForbidden         = 20403 // authenticated, but not allowed to use this resource
	CodeMalformedBody     = 20001 // the body could not be decoded
	CodeBodyTooLarge      = 20013 // the body is over the size limit
	CodeUnsupportedMedia  = 20015 // unsupported Content-Type
	CodeMethodNotAllowed  = 20004 // method not allowed on this route
	CodeInternal          = 20500 // an internal error: see the server log for the request id
	CodeUnavailable       = 20503 // the service is shutting down or overloaded
	CodeSenderNotApproved = 21212 // the sender is not approved for the destination
	CodeNoRoute           = 21612 // no route delivers to the destination
	CodeTooManyRequests   = 20429 // the server cannot take more now: retry after Retry-After
	CodeGeoPermission     = 60605 // the destination's country is not enabled (Twilio Verify's code; the messages API says 21408)
)

// Kind says which class of failure an Error is; the HTTP layer maps kinds to statuses.
type Kind int

const (
	KindInvalid Kind = iota + 1
	KindNotFound
	KindTooMany
	KindUnauthorized
	KindInternal
	KindUnavailable
	KindConflict
	KindForbidden
)

// Problem is what is wrong with a request field.
type Problem int

const (
	NoProblem    Problem = iota // the error is not about one field's value
	MissingField                // the field is required and absent
	InvalidField                // the field's value is not accepted
	FieldTooLong                // the field's value is longer than accepted
)

// Error is the one error type the domain returns to API clients, written for
// the developer calling the API: which field, what was wrong, what is
// accepted. The domain names fields its own way ("to", "from", "body",
// "status_callback"); each API dialect (package api and below) says them as
// its wire does and may give its own code for a field's problem.
type Error struct {
	Kind  Kind
	Code  int
	Field string // the domain's name of the request field at fault; "" if none
	// Problem, when set, says what is wrong with Field, and Message is only
	// the detail that follows "Invalid 'field'" or "Missing required field
	// 'field'" (starting with ": " or with the value given). Otherwise
	// Message is whole.
	Problem Problem
	Message string
	// RetryAfter, when set on a KindTooMany error, is how long the client
	// should wait before trying again (the Retry-After header).
	RetryAfter time.Duration
}

// Error returns the message with the field named as the domain names it.
func (e *Error) Error() string { return e.Text(e.Field, "field") }

// Text returns the message with the field called name, and noun for what a
// field is ("field", "parameter") in "Missing required NOUN 'name'".
func (e *Error) Text(name, noun string) string {
	switch e.Problem {
	case MissingField:
		return "Missing required " + noun + " '" + name + "'" + e.Message
	case InvalidField, FieldTooLong:
		return "Invalid '" + name + "'" + e.Message
	}
	return e.Message
}

// FieldError returns a KindInvalid error with code CodeInvalidParameter about
// a field; detail follows "Invalid 'field'" (or "Missing required field
// 'field'"), so it starts with ": " or with the value given.
func FieldError(field string, p Problem, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Code: CodeInvalidParameter, Field: field, Problem: p, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a KindInvalid error about field whose message is whole.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Code: CodeInvalidParameter, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Errorf returns an Error of the given kind and code.
func Errorf(kind Kind, code int, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns the *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
