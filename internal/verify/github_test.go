package verify_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/verify"
	"github.com/flox-publish/publish-action/internal/workflow"
)

const testToken = "ghs_standInToken123"

// githubAPIStandIn stands in for api.github.com (served under a GHES-style
// /api/v3 prefix, so the base URL handling is exercised too). It answers
// GitHub's "Get a commit" endpoint, GET /repos/{owner}/{repo}/commits/{ref},
// with status, and checks every request against the documented contract:
// the method and path; "Authorization: Bearer <token>" as go-github sends it
// (GitHub also accepts "token <token>"); and the Accept header, which must
// ask for the bare SHA (application/vnd.github.sha, or go-github's
// application/vnd.github.v3.sha) since only existence matters. On 200 the
// body is the SHA, as GitHub answers that media type; on errors it is
// GitHub's JSON error shape.
func githubAPIStandIn(t *testing.T, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rest, ok := strings.CutPrefix(req.URL.Path, "/api/v3/repos/octo/hello/commits/")
		switch {
		case req.Method != http.MethodGet || !ok || len(rest) != 40:
			t.Errorf("stand-in: unexpected request %s %s", req.Method, req.URL.Path)
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		case req.Header.Get("Authorization") != "Bearer "+testToken && req.Header.Get("Authorization") != "token "+testToken:
			t.Errorf("stand-in: Authorization header %q", req.Header.Get("Authorization"))
		case req.Header.Get("Accept") != "application/vnd.github.v3.sha" && req.Header.Get("Accept") != "application/vnd.github.sha":
			t.Errorf("stand-in: Accept header %q", req.Header.Get("Accept"))
		case req.Header.Get("X-GitHub-Api-Version") == "":
			t.Errorf("stand-in: no X-GitHub-Api-Version header")
		}
		if status == http.StatusOK {
			w.Header().Set("Content-Type", "application/vnd.github.sha; charset=utf-8")
			_, _ = w.Write([]byte(rest))
			return
		}
		messages := map[int]string{
			http.StatusNotFound:            "Not Found",
			http.StatusUnprocessableEntity: "No commit found for SHA: " + rest,
			http.StatusUnauthorized:        "Bad credentials",
			http.StatusForbidden:           "Resource not accessible by integration",
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"message":           messages[status],
			"documentation_url": "https://docs.github.com/rest/commits/commits#get-a-commit",
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestGitHubCommitCheck(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		status       int
		check        func(t *testing.T, err error)
		warnInDryRun bool
	}{
		{name: "found", status: http.StatusOK},
		{
			name: "not found", status: http.StatusNotFound, warnInDryRun: true,
			check: func(t *testing.T, err error) {
				if e := as[*verify.ErrNotOnGitHub](t, err); e.Status != 404 || e.Repository != "octo/hello" {
					t.Errorf("got %+v", e)
				}
			},
		},
		{
			name: "no commit for SHA", status: http.StatusUnprocessableEntity, warnInDryRun: true,
			check: func(t *testing.T, err error) {
				if e := as[*verify.ErrNotOnGitHub](t, err); e.Status != 422 {
					t.Errorf("got %+v", e)
				}
			},
		},
		{
			name: "bad credentials", status: http.StatusUnauthorized,
			check: func(t *testing.T, err error) {
				if e := as[*verify.ErrGitHubAuth](t, err); e.Status != 401 {
					t.Errorf("got %+v", e)
				}
				if !strings.Contains(err.Error(), "contents: read") {
					t.Errorf("message does not name the permission: %s", err)
				}
			},
		},
		{
			name: "token lacks permission", status: http.StatusForbidden,
			check: func(t *testing.T, err error) {
				if e := as[*verify.ErrGitHubAuth](t, err); e.Status != 403 {
					t.Errorf("got %+v", e)
				}
			},
		},
	}
	for _, tc := range cases {
		for _, dryRun := range []bool{false, true} {
			name := tc.name
			if dryRun {
				name += " (dry run)"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				srv := githubAPIStandIn(t, tc.status)
				r := newRepo(t, ".")
				opts := r.options()
				opts.DryRun = dryRun
				opts.HTTPClient = srv.Client()
				opts.Run = workflow.Run{
					InActions: true, Event: "push", Ref: "refs/heads/main", SHA: r.head(),
					Repository: "octo/hello", APIURL: srv.URL + "/api/v3", ServerURL: srv.URL,
				}
				opts.GitHubToken = testToken
				src, err := verify.Verify(t.Context(), opts)
				if err != nil && strings.Contains(err.Error(), testToken) {
					t.Errorf("error shows the token: %s", err)
				}
				switch {
				case tc.check == nil:
					if err != nil {
						t.Fatalf("Verify: %v", err)
					}
				case dryRun && tc.warnInDryRun:
					if err != nil {
						t.Fatalf("dry run: Verify: %v", err)
					}
					if w := strings.Join(src.Warnings, "\n"); !strings.Contains(w, "GitHub has no commit") || strings.Contains(w, testToken) {
						t.Errorf("Warnings = %q", src.Warnings)
					}
				default:
					if err == nil {
						t.Fatalf("Verify passed: %+v", src)
					}
					tc.check(t, err)
				}
			})
		}
	}
}
