package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-github/v60/github"
)

// checkGitHub asks GitHub whether the repository the workflow runs for has
// the commit. The git remote may be a mirror or a fork; this is the
// repository whose token, pages and permissions the run uses.
func (v *verifier) checkGitHub(ctx context.Context) error {
	gh := v.opts.Run
	if !gh.InActions || v.opts.GitHubToken == "" {
		return nil
	}
	owner, repo, ok := strings.Cut(gh.Repository, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return fmt.Errorf("GITHUB_REPOSITORY is %q, not owner/name", gh.Repository)
	}
	client := github.NewClient(v.opts.HTTPClient).WithAuthToken(v.opts.GitHubToken)
	if gh.APIURL != "" {
		// Set directly rather than WithEnterpriseURLs, which appends
		// /api/v3/ to addresses that lack it: GITHUB_API_URL is already
		// the API's root, on github.com and on GHES alike.
		base, err := url.Parse(strings.TrimSuffix(gh.APIURL, "/") + "/")
		if err != nil {
			return fmt.Errorf("GITHUB_API_URL %q: %w", gh.APIURL, err)
		}
		client.BaseURL = base
	}
	rev := v.src.Rev
	sha, _, err := client.Repositories.GetCommitSHA1(ctx, owner, repo, rev, "")
	if err == nil {
		if !strings.EqualFold(strings.TrimSpace(sha), rev) {
			return v.soft(&ErrNotOnGitHub{Rev: rev, Repository: gh.Repository, Status: http.StatusOK})
		}
		return nil
	}
	var rateErr *github.RateLimitError
	var abuseErr *github.AbuseRateLimitError
	var respErr *github.ErrorResponse
	switch {
	case errors.As(err, &rateErr), errors.As(err, &abuseErr):
		return fmt.Errorf("asking GitHub whether %s has commit %s: rate limited, retry later: %w", gh.Repository, rev, err)
	case errors.As(err, &respErr) && respErr.Response != nil:
		switch code := respErr.Response.StatusCode; code {
		case http.StatusNotFound, http.StatusUnprocessableEntity:
			return v.soft(&ErrNotOnGitHub{Rev: rev, Repository: gh.Repository, Status: code})
		case http.StatusUnauthorized, http.StatusForbidden:
			return &ErrGitHubAuth{Repository: gh.Repository, Status: code}
		}
	}
	return fmt.Errorf("asking GitHub whether %s has commit %s: %w", gh.Repository, rev, err)
}
