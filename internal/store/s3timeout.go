package store

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// notSentLimit bounds the unsent bytes the kernel holds per connection
// (see limitUnsent).
const notSentLimit = 128 << 10

// newHTTPClient is the SDK's HTTP client with limitUnsent on every
// connection.
func newHTTPClient() aws.HTTPClient {
	return awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) { d.Control = limitUnsent })
}

// errStalled is a request that moved no byte for Timeouts.Stall. It is a
// timeout (net.Error), so the retry policy tries the request again.
var errStalled error = stalledError{}

type stalledError struct{}

func (stalledError) Error() string   { return "no progress: the transfer stalled" }
func (stalledError) Timeout() bool   { return true }
func (stalledError) Temporary() bool { return true }

// stallClient abandons a request that makes no progress: no byte of its
// body read by the transport, no answer, no byte of the answer's body, for
// stall. A fixed per-request timeout would cut a large part on a slow link
// that is still moving; this cuts only a connection that stopped, such as
// a request the server holds open, whatever its size.
//
// The clock runs while the request is sent and its answer awaited, and
// then only while the caller waits in a Read of the answer's body: a
// caller that reads slowly is not the server's fault.
type stallClient struct {
	next  aws.HTTPClient
	stall time.Duration
	drain time.Duration // Timeouts.Drain
}

func (c stallClient) Do(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &watchdog{stall: c.stall, cancel: cancel, grace: c.drain}
	w.timer = time.AfterFunc(c.stall, w.fire)
	req = req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = &sendBody{ReadCloser: req.Body, w: w}
	}
	if get := req.GetBody; get != nil {
		req.GetBody = func() (io.ReadCloser, error) {
			b, err := get()
			if err != nil || b == nil || b == http.NoBody {
				return b, err
			}
			return &sendBody{ReadCloser: b, w: w}, nil
		}
	}
	resp, err := c.next.Do(req)
	w.pause()
	if err != nil {
		if errors.Is(context.Cause(ctx), errStalled) {
			err = errStalled
		}
		cancel(nil)
		return nil, err
	}
	resp.Body = &receiveBody{body: resp.Body, w: w, ctx: ctx, cancel: cancel}
	return resp, nil
}

type watchdog struct {
	stall  time.Duration
	grace  time.Duration // added once the body is all read (Timeouts.Drain)
	sent   bool
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	timer  *time.Timer
}

func (w *watchdog) fire() { w.cancel(errStalled) }

// kick restarts the clock: something moved.
func (w *watchdog) kick() {
	w.mu.Lock()
	d := w.stall
	if w.sent {
		d += w.grace
	}
	w.timer.Reset(d)
	w.mu.Unlock()
}

// allSent restarts the clock with the drain grace: the last bytes of the
// body may still be on their way.
func (w *watchdog) allSent() {
	w.mu.Lock()
	w.sent = true
	w.timer.Reset(w.stall + w.grace)
	w.mu.Unlock()
}

func (w *watchdog) pause() {
	w.mu.Lock()
	w.timer.Stop()
	w.mu.Unlock()
}

type sendBody struct {
	io.ReadCloser
	w *watchdog
}

func (b *sendBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.w.allSent()
	} else {
		b.w.kick()
	}
	return n, err
}

type receiveBody struct {
	body   io.ReadCloser
	w      *watchdog
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (b *receiveBody) Read(p []byte) (int, error) {
	b.w.kick()
	n, err := b.body.Read(p)
	b.w.pause()
	if err != nil && err != io.EOF && errors.Is(context.Cause(b.ctx), errStalled) {
		err = errStalled
	}
	return n, err
}

func (b *receiveBody) Close() error {
	b.w.pause()
	err := b.body.Close()
	b.cancel(nil)
	return err
}
