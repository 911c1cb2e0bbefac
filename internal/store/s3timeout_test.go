package store

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestStallClient: a request whose body the server reads slowly but
// steadily is not cut, however long it takes; one the server holds open
// is cut, with a timeout the retry policy retries: Answer after its start
// when its body is small, once it stops moving when it is large.
func TestStallClient(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			buf := make([]byte, 32<<10)
			for {
				time.Sleep(20 * time.Millisecond)
				if _, err := r.Body.Read(buf); err != nil {
					break
				}
			}
			w.Write([]byte("ok"))
		case "/held":
			io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		case "/trickle":
			// Bytes for 600ms, longer than Answer, then nothing.
			w.WriteHeader(http.StatusOK)
			for range 6 {
				w.Write([]byte("x"))
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
			<-r.Context().Done()
		}
	}))
	// A server that takes the body slowly, as a slow link does: its
	// receive buffer is small, like the bytes a slow link holds in flight.
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.(*net.TCPConn).SetReadBuffer(16 << 10)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newStallClient(newHTTPClient(), Timeouts{Answer: 500 * time.Millisecond, Stall: time.Second, Drain: 100 * time.Millisecond})

	// 4 MiB at 32 KiB per 20ms: more than 2s of steady progress, twice the
	// stall time.
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/slow", bytes.NewReader(make([]byte, 4<<20)))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("a slow upload that progresses was cut after %s: %v", time.Since(start), err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" || time.Since(start) < 2*time.Second {
		t.Errorf("slow upload: %q after %s", body, time.Since(start))
	}

	// Held open: a small request is cut Answer after its start, a large
	// one once it stops moving for Stall (plus Drain once all sent).
	for _, tc := range []struct {
		name   string
		method string
		body   int
		want   error
		min    time.Duration
		max    time.Duration
	}{
		{"HEAD", http.MethodHead, 0, errNoAnswer, 400 * time.Millisecond, 900 * time.Millisecond},
		{"GET", http.MethodGet, 0, errNoAnswer, 400 * time.Millisecond, 900 * time.Millisecond},
		{"PUT of a narinfo", http.MethodPut, 1 << 10, errNoAnswer, 400 * time.Millisecond, 900 * time.Millisecond},
		// Not cut at Answer: once it stops, after Stall (plus Drain). The
		// server's small receive buffer makes loopback TCP send it in
		// bursts, seconds apart at times.
		{"PUT of a part", http.MethodPut, 1 << 20, errStalled, time.Second, 15 * time.Second},
	} {
		start := time.Now()
		var body io.Reader
		if tc.body > 0 {
			body = bytes.NewReader(make([]byte, tc.body))
		}
		req, _ := http.NewRequest(tc.method, srv.URL+"/held", body)
		_, err := c.Do(req)
		if !errors.Is(err, tc.want) || !retryable(err) {
			t.Errorf("held-open %s: got %v, want %v, retryable", tc.name, err, tc.want)
		}
		if d := time.Since(start); d < tc.min || d > tc.max {
			t.Errorf("held-open %s cut after %s, want %s to %s", tc.name, d, tc.min, tc.max)
		}
	}

	// A small request's answer that comes, then whose body stops, is cut
	// by the progress rule, not the answer's.
	start = time.Now()
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/trickle", nil)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if d := time.Since(start); !errors.Is(err, errStalled) || d < 1500*time.Millisecond || d > 4*time.Second {
		t.Errorf("an answer whose body stops: %v after %s, want the stall error after about 1.6s (600ms of progress, then 1s)", err, d)
	}
}
