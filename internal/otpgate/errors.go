// Package otpgate holds what every part of otpgate shares: the domain error,
// identifiers and the clock. It has no dependencies beyond the standard library.
package otpgate

import (
	"errors"
	"fmt"
)

// Error codes, compatible with Twilio's and Restcomm's numbering where one exists.
const (
	CodeInvalidParameter    = 60200 // a request field is missing or invalid
	CodeMaxCheckAttempts    = 60202 // too many wrong codes for one verification
	CodeMaxSendAttempts     = 60203 // too many sends for one verification
	CodeNotFound            = 20404 // the resource does not exist (or is no longer pending)
	CodeUnauthorized        = 20003 // authentication failed
	CodeForbidden           = 20403 // authenticated, but not allowed to use this resource
	CodeMalformedBody       = 20001 // the body could not be decoded
	CodeBodyTooLarge        = 20013 // the body is over the size limit
	CodeUnsupportedMedia    = 20015 // unsupported Content-Type
	CodeMethodNotAllowed    = 20004 // method not allowed on this route
	CodeInternal            = 20500 // an internal error: see the server log for the request id
	CodeUnavailable         = 20503 // the service is shutting down or overloaded
	CodeSenderNotApproved   = 21212 // the sender is not approved for the destination
	CodeNumberNotSMSCapable = 21614 // the destination cannot receive SMS
	CodeNoRoute             = 21612 // no route delivers to the destination
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

// Error is the one error type the domain returns to API clients. Message is
// written for the developer calling the API: which field, what was wrong, what
// is accepted.
type Error struct {
	Kind    Kind
	Code    int
	Message string
	Field   string // the request field at fault, if any
}

func (e *Error) Error() string { return e.Message }

// Invalid returns a KindInvalid error about field.
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
