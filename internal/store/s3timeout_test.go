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
// is cut after the stall time, with a timeout the retry policy retries.
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
	c := stallClient{next: newHTTPClient(), stall: time.Second, drain: 100 * time.Millisecond}

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

	start = time.Now()
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/held", nil)
	_, err = c.Do(req)
	if !errors.Is(err, errStalled) || !retryable(err) {
		t.Errorf("held-open request: got %v, want the stall error, retryable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("held-open request cut after %s, want about 1s", d)
	}
}
