package store

import "syscall"

// tcpNotSentLowat is Linux's TCP_NOTSENT_LOWAT (linux/tcp.h), which the
// syscall package does not name.
const tcpNotSentLowat = 25

// limitUnsent keeps at most notSentLimit bytes of a connection's data
// waiting in the kernel unsent, so that the transport reads a request
// body about as fast as the network takes it: the stall timer then sees
// progress when bytes leave, not when they are buffered, and does not
// take the draining of a deep send buffer on a slow link for a stall.
func limitUnsent(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat, notSentLimit)
	})
	if err != nil {
		return err
	}
	// An older kernel without the option still works, only with coarser
	// progress.
	_ = serr
	return nil
}
