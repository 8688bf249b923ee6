//go:build !unix

package loadgen

import "net"

// sockIO is the direct socket path of rawio_unix.go; elsewhere a rawClient
// uses net.Conn alone.
type sockIO struct{ pending []byte }

func newSockIO(net.Conn) *sockIO { return nil }

func (*sockIO) Read([]byte) (int, error) { panic("unreachable") }
