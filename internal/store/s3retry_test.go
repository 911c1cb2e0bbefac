package store

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awscreds "github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/flox-publish/publish-action/internal/retry"
)

// fakeS3 answers each request with the next status of a script (the last
// one repeats) and counts requests.
type fakeS3 struct {
	mu       sync.Mutex
	script   []func(w http.ResponseWriter)
	requests atomic.Int32
	times    []time.Time
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(f.requests.Add(1)) - 1
	f.mu.Lock()
	f.times = append(f.times, time.Now())
	f.mu.Unlock()
	f.script[min(n, len(f.script)-1)](w)
}

func status(code int, s3code string, header ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if code == http.StatusOK {
			// Enough for PutObject and HeadObject: an ETag, no body.
			w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
			w.WriteHeader(code)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(code)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>scripted %d</Message><RequestId>req-1</RequestId></Error>`, s3code, code)
	}
}

// resetConn closes the connection without an answer, as a crashed proxy
// would.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST, not FIN
	}
	conn.Close()
}

func openFake(t *testing.T, endpoint string, logf func(string, ...any)) *S3 {
	t.Helper()
	u, _ := url.Parse("s3://retry-test/pre?endpoint=" + endpoint)
	s, err := openS3URL(context.Background(), u, Options{
		Jobs:        1,
		Credentials: awscreds.NewStaticCredentialsProvider("AKIDRETRYTEST", "retry-secret-value", ""),
		Retry:       retry.Policy{Attempts: 4, Base: 10 * time.Millisecond, Max: 50 * time.Millisecond, MaxRetryAfter: 3 * time.Second},
		Logf:        logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRetryer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		script   []func(http.ResponseWriter)
		op       string // put or size
		wantReqs int32
		wantErr  string // "" for success
		minDelay time.Duration
	}{
		{name: "503 then 200 honours Retry-After", op: "put",
			script:   []func(http.ResponseWriter){status(503, "SlowDown", "Retry-After", "1"), status(200, "")},
			wantReqs: 2, minDelay: time.Second},
		{name: "500 twice then 200", op: "put",
			script:   []func(http.ResponseWriter){status(500, "InternalError"), status(500, "InternalError"), status(200, "")},
			wantReqs: 3},
		{name: "429 then 200", op: "size",
			script:   []func(http.ResponseWriter){status(429, "TooManyRequests"), status(200, "")},
			wantReqs: 2},
		{name: "408 then 200", op: "size",
			script:   []func(http.ResponseWriter){status(408, "RequestTimeout"), status(200, "")},
			wantReqs: 2},
		{name: "S3 RequestTimeout (400) then 200", op: "put",
			script:   []func(http.ResponseWriter){status(400, "RequestTimeout"), status(200, "")},
			wantReqs: 2},
		{name: "connection reset then 200", op: "put",
			script:   []func(http.ResponseWriter){resetConn, status(200, "")},
			wantReqs: 2},
		{name: "503 forever gives up after MaxAttempts", op: "put",
			script:   []func(http.ResponseWriter){status(503, "ServiceUnavailable")},
			wantReqs: 4, wantErr: "ServiceUnavailable (HTTP 503"},
		{name: "400 fails at once", op: "put",
			script:   []func(http.ResponseWriter){status(400, "InvalidArgument"), status(200, "")},
			wantReqs: 1, wantErr: "InvalidArgument (HTTP 400"},
		{name: "403 fails at once", op: "put",
			script:   []func(http.ResponseWriter){status(403, "AccessDenied"), status(200, "")},
			wantReqs: 1, wantErr: `The bucket "retry-test" refused the write`},
		{name: "404 NoSuchBucket fails at once", op: "put",
			script:   []func(http.ResponseWriter){status(404, "NoSuchBucket"), status(200, "")},
			wantReqs: 1, wantErr: `The bucket "retry-test" does not exist`},
		{name: "501 fails at once", op: "put",
			script:   []func(http.ResponseWriter){status(501, "NotImplemented"), status(200, "")},
			wantReqs: 1, wantErr: "NotImplemented"},
		{name: "AWS's wrong-region redirect names the region", op: "size",
			script:   []func(http.ResponseWriter){status(301, "", "X-Amz-Bucket-Region", "eu-west-1"), status(200, "")},
			wantReqs: 1, wantErr: `The bucket "retry-test" is in region eu-west-1, not us-east-1: add ?region=eu-west-1 to the store URL`},
		{name: "HEAD 403 fails at once", op: "size",
			script:   []func(http.ResponseWriter){status(403, ""), status(200, "")},
			wantReqs: 1, wantErr: "HTTP 403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeS3{script: tt.script}
			srv := httptest.NewServer(f)
			defer srv.Close()
			var logs []string
			var mu sync.Mutex
			s := openFake(t, srv.URL, func(format string, a ...any) {
				mu.Lock()
				logs = append(logs, fmt.Sprintf(format, a...))
				mu.Unlock()
			})
			start := time.Now()
			var err error
			switch tt.op {
			case "put":
				_, err = s.Put(context.Background(), "x.narinfo", strings.NewReader("hello"), "text/x-nix-narinfo")
			case "size":
				_, err = s.Size(context.Background(), "x.narinfo")
			}
			elapsed := time.Since(start)
			if got := f.requests.Load(); got != tt.wantReqs {
				t.Errorf("%d requests, want %d (err %v)", got, tt.wantReqs, err)
			}
			if tt.wantErr == "" && err != nil {
				t.Fatalf("failed: %v", err)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "s3://retry-test/pre/x.narinfo") {
					t.Errorf("the error does not name the bucket and key: %v", err)
				}
			}
			if elapsed < tt.minDelay {
				t.Errorf("took %s, want at least %s (Retry-After)", elapsed, tt.minDelay)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(logs) != int(tt.wantReqs)-1 {
				t.Errorf("%d retry notes for %d requests: %q", len(logs), tt.wantReqs, logs)
			}
			for _, l := range append(logs, fmt.Sprint(err)) {
				if strings.Contains(l, "retry-secret-value") || strings.Contains(l, "AKIDRETRYTEST") {
					t.Errorf("credentials leaked: %s", l)
				}
			}
		})
	}
}

func TestRetryRefusedConnectionFailsAtOnce(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	s := openFake(t, "http://"+addr, nil)
	start := time.Now()
	_, err = s.Put(context.Background(), "nix-cache-info", strings.NewReader("StoreDir: /nix/store\n"), "text/x-nix-cache-info")
	if err == nil {
		t.Fatal("Put to a closed port succeeded")
	}
	for _, w := range []string{"cannot reach http://" + addr, "connection refused", "check endpoint= and scheme=", "s3://retry-test/pre/nix-cache-info"} {
		if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(w)) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s: a refused connection is not worth retrying", d)
	}
}

func TestRetryDelayIsCappedWithJitter(t *testing.T) {
	t.Parallel()
	p := retry.Policy{Base: 100 * time.Millisecond, Max: time.Second}.Or(DefaultRetry)
	seen := map[time.Duration]bool{}
	for attempt := 1; attempt <= 12; attempt++ {
		for range 20 {
			d := p.Wait(attempt, retryAfter(fmt.Errorf("x")))
			full := min(100*time.Millisecond<<(attempt-1), time.Second)
			if d < full/2 || d > full {
				t.Fatalf("attempt %d: delay %s outside [%s, %s]", attempt, d, full/2, full)
			}
			seen[d] = true
		}
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct delays: no jitter?", len(seen))
	}
}
