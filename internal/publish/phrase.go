package publish

import (
	"errors"
	"strings"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/credentials"
	"github.com/flox-publish/publish-action/internal/floxhub"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/sandbox"
	"github.com/flox-publish/publish-action/internal/store"
)

// The domain packages say what went wrong without naming the action's
// inputs, which are written one way in a workflow (`with: store-url:`) and
// another in a terminal (--store-url). Here, at the edge, their typed
// errors get the words for where the run is (see inputs.Error).

// chooseBuilder picks the builder, once, from the builder input.
func chooseBuilder(cfg inputs.Config) (builder.Builder, error) {
	b, err := builder.Select(cfg.Builder)
	return b, phrase(cfg, err)
}

// phrase gives err, when it is one the user fixes through an input, the
// words for where the run is; other errors come back as they are.
func phrase(cfg inputs.Config, err error) error {
	actions := cfg.InActions
	var (
		unknown *builder.UnknownError
		baseURL *floxhub.BaseURLError
		given   *catalog.StoreURLError
		noCreds *store.NoCredentialsError
		timeout *floxhub.PublisherTimeoutError
		build   *sandbox.TimeoutError
		api     *floxhub.APIError
		noToken *credentials.MissingPermissionError
		refused *credentials.RefusedError
		sts     *credentials.ExchangeError
	)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, builder.ErrNoFlox):
		return cfg.Errorf("builder", inputs.Fix{
			Workflow: "on the runner (the native action) add a `uses: flox/install-flox-action@v2` step before this one, which installs Flox and its Nix daemon; or use the container action, whose image has Flox; or set builder: local",
			Terminal: "install Flox (https://flox.dev/docs/install-flox/) or pass --builder local",
		}, "is flox, but flox is not on PATH")
	case errors.As(err, &unknown):
		return cfg.Errorf("builder", inputs.Fix{}, "%q is not one of auto, flox, local", unknown.Name)
	case errors.Is(err, cache.ErrNoKey):
		return cfg.SigningKeyRequired()
	case errors.Is(err, floxhub.ErrNoToken):
		return cfg.Errorf("floxhub-token", inputs.Fix{}, "is empty")
	case errors.Is(err, floxhub.ErrTokenText):
		return cfg.Errorf("floxhub-token", inputs.Fix{}, "has spaces or control characters; paste the token alone")
	case errors.As(err, &baseURL):
		return cfg.Errorf("catalog-url", inputs.Fix{}, "%s %s", baseURL.URL, baseURL.Why)
	case errors.As(err, &given):
		return rephrase(err, given, func() { given.Name = cfg.Name("store-url") })
	case errors.As(err, &noCreds):
		return rephrase(err, noCreds, func() {
			noCreds.Fix = "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or AWS_PROFILE to use a profile of ~/.aws"
			if actions {
				noCreds.Fix = "set role-to-assume (with `permissions: id-token: write`) to assume a role with the workflow's OIDC token, " +
					"run aws-actions/configure-aws-credentials before this step, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the step's env"
			}
		})
	case errors.As(err, &timeout):
		return rephrase(err, timeout, func() {
			timeout.Fix = "Pass a longer --publisher-timeout"
			if actions {
				timeout.Fix = "Raise the publisher-timeout input"
			}
		})
	case errors.As(err, &build):
		return rephrase(err, build, func() {
			build.Fix = "pass a longer --build-timeout"
			if actions {
				build.Fix = "raise the build-timeout input"
			}
		})
	case errors.As(err, &noToken):
		if !actions {
			return rephrase(err, noToken, func() {
				noToken.Fix = "Outside GitHub Actions there is no such token: leave out --role-to-assume, and export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, instead."
			})
		}
	case errors.As(err, &refused):
		return rephrase(err, refused, func() {
			refused.AudienceName, refused.RoleName = "the audience input", "role-to-assume"
			if !actions {
				refused.AudienceName, refused.RoleName = "--audience", "--role-to-assume"
			}
		})
	case errors.As(err, &sts):
		return rephrase(err, sts, func() { sts.Check = cfg.Name("sts-endpoint") + " and " + cfg.Name("aws-region") })
	case errors.As(err, &api):
		fixes := map[int][2]string{
			401: {"pass it with --floxhub-token", "store it in the secret the floxhub-token input reads"},
			403: {"check --catalog and whose token --floxhub-token is", "check the catalog input and whose token floxhub-token holds"},
			404: {"check --catalog", "check the catalog input"},
		}
		if fix, ok := fixes[api.Status]; ok {
			return rephrase(err, api, func() {
				api.Fix = fix[0]
				if actions {
					api.Fix = fix[1]
				}
			})
		}
	}
	return err
}

// rephrase gives inner, somewhere in err's chain, the words set sets (its
// Fix or Name for where the run is), keeping what wraps it, which was
// written with inner's first words.
func rephrase(err, inner error, set func()) error {
	before := inner.Error()
	set()
	return &phrased{msg: strings.Replace(err.Error(), before, inner.Error(), 1), err: err}
}

// phrased is an error in the words of where the run is.
type phrased struct {
	msg string
	err error
}

func (p *phrased) Error() string { return p.msg }
func (p *phrased) Unwrap() error { return p.err }
