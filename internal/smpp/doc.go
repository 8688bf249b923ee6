// Package smpp is the connector that delivers through an operator's SMSC over
// SMPP 3.4, built on github.com/linxGnu/gosmpp for sessions, windowing and
// PDUs; otpgate owns encoding, splitting, throttling, receipts and failover.
package smpp

import (
	_ "github.com/linxGnu/gosmpp" // the session library this connector is built on
)
