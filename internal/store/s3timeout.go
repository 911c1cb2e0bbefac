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

// errStalled is a request that moved no byte for Timeouts.Stall, and
// errNoAnswer a small one that got no answer within Timeouts.Answer. Both
// are timeouts (net.Error), so the retry policy tries the request again.
var (
	errStalled  error = timeoutError("no progress: the transfer stalled")
	errNoAnswer error = timeoutError("no answer in time: the server holds the request")
)

type timeoutError string

func (e timeoutError) Error() string { return string(e) }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// stallClient abandons a request that waits too long, by what it
// carries (see Timeouts). A request whose body is SmallBody or less gets
// Answer, from its start, for its answer to come. A larger one is cut when
// it makes no progress: no byte of its body read by the transport, no
// answer, for stall. A fixed per-request timeout would cut a large part on
// a slow link that is still moving; this cuts only a connection that
// stopped, such as a request the server holds open, whatever its size.
// The body of every answer is cut when no byte of it comes for stall.
//
// The clock runs while the request is sent and its answer awaited, and
// then only while the caller waits in a Read of the answer's body: a
// caller that reads slowly is not the server's fault.
type stallClient struct {
	next   aws.HTTPClient
	answer time.Duration // Timeouts.Answer
	stall  time.Duration
	drain  time.Duration // Timeouts.Drain
}

func newStallClient(next aws.HTTPClient, t Timeouts) stallClient {
	t = t.withDefaults()
	return stallClient{next: next, answer: t.Answer, stall: t.Stall, drain: t.Drain}
}

// stallTransport is a stallClient as an http.RoundTripper, for the
// stores that speak plain HTTP.
type stallTransport struct{ c stallClient }

func (t stallTransport) RoundTrip(req *http.Request) (*http.Response, error) { return t.c.Do(req) }

// transportClient sends requests through a RoundTripper.
type transportClient struct{ rt http.RoundTripper }

func (t transportClient) Do(req *http.Request) (*http.Response, error) { return t.rt.RoundTrip(req) }

// small tells a request whose body is in the connection's buffers as
// soon as it is written.
func small(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.ContentLength >= 0 && req.ContentLength <= SmallBody
}

func (c stallClient) Do(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &watchdog{stall: c.stall, cancel: cancel, grace: c.drain, cause: errStalled}
	if small(req) {
		// Neither the body's progress nor the drain moves the clock: the
		// answer is due Answer after the start.
		w.stall, w.grace, w.cause, w.fixed = c.answer, 0, errNoAnswer, true
	}
	w.timer = time.AfterFunc(w.stall, w.fire)
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
		if cause := context.Cause(ctx); errors.Is(cause, errStalled) || errors.Is(cause, errNoAnswer) {
			err = cause
		}
		cancel(nil)
		return nil, err
	}
	// The answer's body, however small the request, moves or is cut.
	w.receiving(c.stall)
	resp.Body = &receiveBody{body: resp.Body, w: w, ctx: ctx, cancel: cancel}
	return resp, nil
}

type watchdog struct {
	stall  time.Duration
	grace  time.Duration // added once the body is all read (Timeouts.Drain)
	cause  error         // what firing means: errStalled or errNoAnswer
	fixed  bool          // the clock runs from the start: nothing restarts it
	sent   bool
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	timer  *time.Timer
}

func (w *watchdog) fire() {
	w.mu.Lock()
	cause := w.cause
	w.mu.Unlock()
	w.cancel(cause)
}

// kick restarts the clock: something moved.
func (w *watchdog) kick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fixed {
		return
	}
	d := w.stall
	if w.sent {
		d += w.grace
	}
	w.timer.Reset(d)
}

// allSent restarts the clock with the drain grace: the last bytes of the
// body may still be on their way.
func (w *watchdog) allSent() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = true
	if !w.fixed {
		w.timer.Reset(w.stall + w.grace)
	}
}

// receiving switches the clock to the progress rule of an answer's body.
func (w *watchdog) receiving(stall time.Duration) {
	w.mu.Lock()
	w.stall, w.grace, w.cause, w.fixed = stall, 0, errStalled, false
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
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.ctx); errors.Is(cause, errStalled) || errors.Is(cause, errNoAnswer) {
			err = cause
		}
	}
	return n, err
}

func (b *receiveBody) Close() error {
	b.w.pause()
	err := b.body.Close()
	b.cancel(nil)
	return err
}
