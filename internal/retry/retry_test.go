package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

func TestStatus(t *testing.T) {
	for code, want := range map[int]bool{500: true, 502: true, 503: true, 429: true, 408: true, 400: false, 403: false, 404: false, 409: false, 200: false} {
		if Status(code) != want {
			t.Errorf("Status(%d) = %v", code, !want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{fmt.Errorf("write: %w", syscall.EPIPE), true},
		{io.ErrUnexpectedEOF, true},
		{fmt.Errorf("x: %w", io.EOF), true},
		{timeoutErr{}, true},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), false},
		{errors.New("bad request"), false},
	} {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond},
		{10, 500 * time.Millisecond, time.Second},
		{100, 500 * time.Millisecond, time.Second}, // no overflow
	} {
		for range 20 {
			if d := Backoff(100*time.Millisecond, time.Second, tc.attempt); d < tc.min || d > tc.max {
				t.Fatalf("Backoff(attempt %d) = %s, want in [%s, %s]", tc.attempt, d, tc.min, tc.max)
			}
		}
	}
}

func TestAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{"120", 2 * time.Minute, true},
		{" 3 ", 3 * time.Second, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true}, // in the past
		{"soon", 0, false},
		{"-1", 0, false},
	} {
		if d, ok := After(tc.in, now); d != tc.want || ok != tc.ok {
			t.Errorf("After(%q) = %s, %v; want %s, %v", tc.in, d, ok, tc.want, tc.ok)
		}
	}
}

func TestSleepStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("Sleep: %v after %s", err, time.Since(start))
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep: %v", err)
	}
}

func TestWaitHonoursRetryAfterWithinTheCap(t *testing.T) {
	p := Policy{Base: time.Second, Max: 8 * time.Second, MaxRetryAfter: time.Minute}
	for _, tc := range []struct {
		attempt    int
		retryAfter time.Duration
		min, max   time.Duration
	}{
		{1, 0, 500 * time.Millisecond, time.Second},
		{2, 0, time.Second, 2 * time.Second},
		{3, 0, 2 * time.Second, 4 * time.Second},
		{4, 0, 4 * time.Second, 8 * time.Second},
		{10, 0, 4 * time.Second, 8 * time.Second},                 // capped
		{1, 30 * time.Second, 30 * time.Second, 30 * time.Second}, // the server asks for longer
		{1, time.Hour, time.Minute, time.Minute},                  // Retry-After capped
		{4, time.Second, 4 * time.Second, 8 * time.Second},        // never sooner than the backoff
	} {
		for range 50 {
			if d := p.Wait(tc.attempt, tc.retryAfter); d < tc.min || d > tc.max {
				t.Errorf("Wait(%d, %s) = %s, want within [%s, %s]", tc.attempt, tc.retryAfter, d, tc.min, tc.max)
				break
			}
		}
	}
}

func TestDo(t *testing.T) {
	boom := errors.New("503")
	final := errors.New("400")
	var waits []time.Duration
	p := Policy{Attempts: 4, Base: time.Millisecond, Max: time.Millisecond, MaxRetryAfter: time.Minute,
		Sleep: func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return ctx.Err() }}
	transient := func(err error) bool { return errors.Is(err, boom) }
	for _, tc := range []struct {
		name    string
		errs    []error
		want    string
		tries   int
		retries int
	}{
		{"success at once", []error{nil}, "", 1, 0},
		{"success after two failures", []error{boom, WithRetryAfter(boom, 7*time.Second), nil}, "", 3, 2},
		{"a permanent failure is not retried", []error{final}, "400", 1, 0},
		{"the tries run out", []error{boom, boom, boom, boom, boom}, "503 (after 4 tries)", 4, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			waits = nil
			tries, retries := 0, 0
			err := p.Do(context.Background(), func() error { tries++; return tc.errs[tries-1] }, transient,
				func(error, time.Duration, int) { retries++ })
			if (err == nil) != (tc.want == "") || err != nil && err.Error() != tc.want {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			if tries != tc.tries || retries != tc.retries || len(waits) != tc.retries {
				t.Errorf("%d tries, %d retries, waits %v; want %d tries, %d retries", tries, retries, waits, tc.tries, tc.retries)
			}
		})
	}
	waits = nil
	p.Do(context.Background(), func() error {
		if len(waits) == 0 {
			return WithRetryAfter(boom, 7*time.Second)
		}
		return nil
	}, transient, nil)
	if len(waits) != 1 || waits[0] != 7*time.Second {
		t.Errorf("waits %v, want the server's 7s", waits)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Policy{Attempts: 3}.Do(ctx, func() error { return boom }, transient, nil)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, boom) {
		t.Errorf("cancelled during the wait: %v, want the context's error and the last failure", err)
	}
}
