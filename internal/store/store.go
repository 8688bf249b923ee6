// Package store says what every otpgate store shares: its errors, and the
// contract of its operations. The operations themselves are declared, as
// small interfaces, by the packages that use them (pipeline.Store,
// verify.Store, dispatch.Store, ...): each is one atomic step, durable when it
// returns nil (it survives a crash of the process or the machine). The rules
// (when a code is spent, how many attempts are allowed, which statuses may
// follow which) live in the domain packages; a store keeps records and makes
// each step atomic, guarding it with the conditions the domain gives. Every
// backend passes the conformance suite in package storetest.
package store

import (
	"context"
	"errors"
)

// ErrNotFound is returned when a looked-up record does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned when a guarded write found its record changed (by
// a concurrent request) or not in the state the guard requires; nothing was
// written. The caller reads again and decides again.
var ErrConflict = errors.New("store: conflict")

// ErrClosed is returned by a store that has been closed or is shutting down.
var ErrClosed = errors.New("store: closed")

// ErrUnavailable is returned when the database cannot be reached (a
// connection refused or lost, the server restarting); the request may be
// tried again. APIs answer it with 503.
var ErrUnavailable = errors.New("store: the database is unavailable")

// ErrFull is returned when an addition would take a list past its cap;
// nothing was written.
var ErrFull = errors.New("store: full")

type writtenKey struct{}

// WhenWritten returns ctx carrying fn, for the one write made with it. A
// store whose commit is written before it is synced (SQLite: the WAL's
// frames, then their fsync) calls fn once the write is committed and would
// survive a crash of the process, before the sync makes it survive one of
// the machine; the write returns after the sync, as always. A store that
// cannot tell the two apart never calls fn. fn runs on the store's writer,
// between its commit and its sync: it must be quick and must not block.
func WhenWritten(ctx context.Context, fn func()) context.Context {
	return context.WithValue(ctx, writtenKey{}, fn)
}

// Written returns the fn WhenWritten put in ctx, or nil.
func Written(ctx context.Context) func() {
	fn, _ := ctx.Value(writtenKey{}).(func())
	return fn
}
