package floxhub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestRetryableStatus(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]bool{
		200: false, 400: false, 401: false, 403: false, 404: false, 409: false, 422: false,
		408: true, 429: true, 500: true, 502: true, 503: true, 504: true,
	} {
		if got := retryableStatus(code); got != want {
			t.Errorf("retryableStatus(%d) = %v, want %v", code, got, want)
		}
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestRetryableError(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	post := func(err error) error { return &url.Error{Op: "Post", URL: "https://api.flox.dev/x", Err: err} }
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"connection reset", context.Background(), post(&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), true},
		{"closed before the answer", context.Background(), post(io.EOF), true},
		{"answer cut short", context.Background(), fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		{"network timeout", context.Background(), post(timeoutError{}), true},
		{"the try's deadline", context.Background(), post(context.DeadlineExceeded), true},
		{"temporary DNS failure", context.Background(), post(&net.DNSError{Err: "server misbehaving", Name: "api.flox.dev", IsTemporary: true}), true},
		{"no such host", context.Background(), post(&net.DNSError{Err: "no such host", Name: "api.flox.dev", IsNotFound: true}), false},
		{"certificate error", context.Background(), post(errors.New("x509: certificate signed by unknown authority")), false},
		{"the caller gave up", cancelled, post(context.Canceled), false},
		{"the caller gave up during a reset", cancelled, post(syscall.ECONNRESET), false},
	}
	for _, tt := range tests {
		if got := retryableError(tt.ctx, tt.err); got != tt.want {
			t.Errorf("%s: retryableError = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestErrorDetail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body, want string
	}{
		{`{"detail":"You are not permitted to write to this catalog."}`, "You are not permitted to write to this catalog."},
		{`{"detail":[{"loc":["body","derivation","system"],"msg":"Input should be 'x86_64-linux'"},{"loc":["query","name"],"msg":"Field required"}]}`,
			"body.derivation.system: Input should be 'x86_64-linux'; query.name: Field required"},
		{"<html>\n<body>Bad Gateway</body>", "<html>"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := errorDetail([]byte(tt.body)); got != tt.want {
			t.Errorf("errorDetail(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
	if got := errorDetail([]byte(fmt.Sprintf(`{"detail":"%0600d"}`, 0))); len(got) > 510 {
		t.Errorf("a long detail is kept whole (%d bytes)", len(got))
	}
}

func TestAPIErrorMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		wantIn string
	}{
		{http.StatusUnauthorized, "invalid or expired"},
		{http.StatusForbidden, "not permitted to write to catalog acme"},
		{http.StatusNotFound, "no catalog acme"},
		{http.StatusUnprocessableEntity, "invalid (422)"},
		{http.StatusTeapot, "418 I'm a teapot"},
	}
	for _, tt := range tests {
		e := &APIError{Op: "create package hello in catalog acme", Catalog: "acme", Status: tt.status, Detail: "d", Hint: "h"}
		msg := e.Error()
		for _, w := range []string{e.Op, tt.wantIn, ": d", "; h"} {
			if !strings.Contains(msg, w) {
				t.Errorf("%d: %q does not say %q", tt.status, msg, w)
			}
		}
	}
}
