package testenv

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Fault is what FaultProxy does to one request.
type Fault string

// The faults FaultProxy injects. Those marked "reaches the server" pass the
// request on first, so the operation takes effect and only its answer is
// lost: the case a client must not take for a failure to act.
const (
	NoFault Fault = ""
	// Status500 answers 500 InternalError without passing the request on.
	Status500 Fault = "500"
	// SlowDown answers 503 SlowDown (S3's throttling) with Retry-After: 1.
	SlowDown Fault = "slowdown"
	// ResetMidBody reads part of the request body, then resets the
	// connection (TCP RST).
	ResetMidBody Fault = "reset-mid-body"
	// CutResponse reaches the server, then sends the answer's headers and
	// half its body, and closes the connection.
	CutResponse Fault = "cut-response"
	// ResetResponse reaches the server, then resets the connection after
	// the answer's headers and half its body.
	ResetResponse Fault = "reset-response"
	// Stall reaches the server, then sends the answer's headers and
	// nothing more for FaultProxy.StallFor, then the rest.
	Stall Fault = "stall"
	// HoldOpen reads the request and never answers: the connection stays
	// open until the client gives up (or FaultProxy.HoldFor passes).
	// FaultProxy.Holds says how long each waited.
	HoldOpen Fault = "hold-open"
)

// Faults lists every fault FaultProxy can inject.
var Faults = []Fault{Status500, SlowDown, ResetMidBody, CutResponse, ResetResponse, Stall, HoldOpen}

// FaultProxy is an HTTP proxy between an S3 client and a real S3 server
// (MinIO in the tests) that injects faults into the requests a Policy
// picks. Requests pass on with their Host header unchanged, so SigV4
// signatures made for the proxy's address still verify at the server.
//
// It is a test helper for the store and cache tests and, later, for tests
// that run the action's binary against it (set its URL as the endpoint).
type FaultProxy struct {
	// URL is the proxy's address, http://127.0.0.1:port.
	URL string
	// StallFor is how long Stall withholds the answer's body; default 5s.
	StallFor time.Duration
	// HoldFor bounds HoldOpen, so that a client that never gives up does
	// not hang the test; default 2 minutes.
	HoldFor time.Duration

	target *url.URL
	srv    *http.Server
	ln     net.Listener
	client *http.Client

	mu       sync.Mutex
	policy   Policy
	delay    time.Duration
	seq      int
	injected map[Fault]int
	requests int
	log      []Request
	held     sync.WaitGroup
	holds    []time.Duration // how long each held-open request waited, in the order they ended
	closing  chan struct{}
}

// Request is one request the proxy received, as its log keeps it.
type Request struct {
	Op     string // the S3 operation (see Operation)
	Path   string // the URL path: /bucket/key with path-style requests
	Status int    // the answer's status; 0 when a fault lost it
}

// Policy picks the fault for a request: op is the S3 operation it is
// (see Operation), path its URL path (/bucket/key with path-style
// requests), seq counts requests from 0.
type Policy func(op, path string, seq int) Fault

// StartFaultProxy starts a proxy to target (such as a MinIO endpoint)
// that injects nothing until SetPolicy.
func StartFaultProxy(target string) (*FaultProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{
		URL:      "http://" + ln.Addr().String(),
		StallFor: 5 * time.Second,
		HoldFor:  2 * time.Minute,
		target:   u,
		ln:       ln,
		client: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			DisableCompression:  true,
			MaxIdleConnsPerHost: 256,
		}},
		injected: map[Fault]int{},
		closing:  make(chan struct{}),
	}
	p.srv = &http.Server{Handler: p}
	go p.srv.Serve(ln)
	return p, nil
}

// Close stops the proxy, ending held requests.
func (p *FaultProxy) Close() {
	close(p.closing)
	p.srv.Close()
	p.held.Wait()
}

// SetPolicy replaces the policy; nil injects nothing.
func (p *FaultProxy) SetPolicy(policy Policy) {
	p.mu.Lock()
	p.policy, p.seq = policy, 0
	p.mu.Unlock()
}

// SetDelay makes every request wait d before it is passed on, as if the
// server were d away (one round trip per request); 0 passes requests on at
// once. The benchmark's latency case and the request-count tests use it.
func (p *FaultProxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Log returns the requests received since the last ResetLog, in the order
// their answers were sent.
func (p *FaultProxy) Log() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.log...)
}

// ResetLog empties the log.
func (p *FaultProxy) ResetLog() {
	p.mu.Lock()
	p.log = nil
	p.mu.Unlock()
}

// Injected returns how many of each fault were injected so far.
func (p *FaultProxy) Injected() map[Fault]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[Fault]int, len(p.injected))
	for k, v := range p.injected {
		m[k] = v
	}
	return m
}

// Holds returns how long each HoldOpen request waited before its client
// gave up on it (or HoldFor passed), in the order they ended: what a
// request the server never answers costs the client.
func (p *FaultProxy) Holds() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.holds...)
}

// Requests returns how many requests the proxy received.
func (p *FaultProxy) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

// RandomFaults injects, into each request with probability rate, one of
// faults, drawn from a generator seeded with seed. Only requests whose
// operation is in ops (all when ops is empty) are faulted.
func RandomFaults(seed uint64, rate float64, faults []Fault, ops ...string) Policy {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func(op, _ string, _ int) Fault {
		if len(ops) > 0 && !contains(ops, op) {
			return NoFault
		}
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() >= rate {
			return NoFault
		}
		return faults[rng.IntN(len(faults))]
	}
}

// FirstOf injects fault into the first n requests of operation op.
func FirstOf(op string, n int, fault Fault) Policy {
	var mu sync.Mutex
	seen := 0
	return func(o, _ string, _ int) Fault {
		if o != op {
			return NoFault
		}
		mu.Lock()
		defer mu.Unlock()
		seen++
		if seen <= n {
			return fault
		}
		return NoFault
	}
}

// OnSuffix injects fault into every request of operation op whose path
// ends in suffix, such as every PutObject of a ".narinfo".
func OnSuffix(op, suffix string, fault Fault) Policy {
	return func(o, path string, _ int) Fault {
		if o == op && strings.HasSuffix(path, suffix) {
			return fault
		}
		return NoFault
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Operation names the S3 operation of a request, as the SDK does.
func Operation(r *http.Request) string {
	q := r.URL.Query()
	_, uploads := q["uploads"]
	upload := q.Get("uploadId") != ""
	switch r.Method {
	case http.MethodHead:
		return "HeadObject"
	case http.MethodGet:
		if uploads {
			return "ListMultipartUploads"
		}
		return "GetObject"
	case http.MethodPut:
		if q.Get("partNumber") != "" {
			return "UploadPart"
		}
		return "PutObject"
	case http.MethodPost:
		if uploads {
			return "CreateMultipartUpload"
		}
		if upload {
			return "CompleteMultipartUpload"
		}
	case http.MethodDelete:
		if upload {
			return "AbortMultipartUpload"
		}
		return "DeleteObject"
	}
	return r.Method
}

func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := Operation(r)
	p.mu.Lock()
	p.requests++
	fault := NoFault
	if p.policy != nil {
		fault = p.policy(op, r.URL.Path, p.seq)
		p.seq++
	}
	if fault != NoFault {
		p.injected[fault]++
	}
	delay := p.delay
	p.mu.Unlock()

	status := 0
	defer func() {
		p.mu.Lock()
		p.log = append(p.log, Request{Op: op, Path: r.URL.Path, Status: status})
		p.mu.Unlock()
	}()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		case <-p.closing:
			return
		}
	}

	switch fault {
	case Status500:
		io.Copy(io.Discard, r.Body)
		status = http.StatusInternalServerError
		s3Error(w, status, "InternalError", "injected by FaultProxy")
		return
	case SlowDown:
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Retry-After", "1")
		status = http.StatusServiceUnavailable
		s3Error(w, status, "SlowDown", "injected by FaultProxy")
		return
	case ResetMidBody:
		io.CopyN(io.Discard, r.Body, max(r.ContentLength/2, 1))
		reset(w)
		return
	case HoldOpen:
		// The body is read (a small one is in the socket's buffers
		// whether or not the server reads it), so that the server sees
		// the client hang up and the wait is measured to that moment.
		p.held.Add(1)
		defer p.held.Done()
		start := time.Now()
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-p.closing:
		case <-time.After(p.HoldFor):
		}
		p.mu.Lock()
		p.holds = append(p.holds, time.Since(start))
		p.mu.Unlock()
		reset(w)
		return
	}

	resp, body, err := p.forward(r)
	if err != nil {
		status = http.StatusBadGateway
		s3Error(w, status, "ProxyError", err.Error())
		return
	}
	if fault == NoFault || fault == Stall {
		status = resp.StatusCode
	}
	for k, v := range resp.Header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	if r.Method == http.MethodHead {
		// A HEAD answer has no body but the object's length.
		w.Header().Set("Content-Length", fmt.Sprint(resp.ContentLength))
	} else {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	}
	switch fault {
	case CutResponse, ResetResponse:
		if len(body) == 0 {
			// Nothing to cut: lose the whole answer instead.
			reset(w)
			return
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		if fault == ResetResponse {
			reset(w)
			return
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	case Stall:
		w.WriteHeader(resp.StatusCode)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-time.After(p.StallFor):
		}
		w.Write(body)
		return
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
}

// forward passes r to the target and reads the whole answer.
func (p *FaultProxy) forward(r *http.Request) (*http.Response, []byte, error) {
	u := *p.target
	u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), r.Body)
	if err != nil {
		return nil, nil, err
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host
	out.ContentLength = r.ContentLength
	if r.ContentLength == 0 {
		out.Body = http.NoBody
	}
	resp, err := p.client.Do(out)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	return resp, body, nil
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>faultproxy</RequestId></Error>`, code, strings.ReplaceAll(msg, "<", "&lt;"))
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", fmt.Sprint(b.Len()))
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// reset closes the client's connection with a TCP RST.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
