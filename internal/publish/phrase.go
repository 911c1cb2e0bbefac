package publish

import (
	"errors"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/inputs"
)

// The domain packages say what went wrong without naming the action's
// inputs, which are written one way in a workflow (`with: store-url:`) and
// another in a terminal (--store-url). Here, at the edge, their typed
// errors become the phrasing for where the run is (see inputs.Error).

// chooseBuilder picks the builder, once, from the builder input.
func chooseBuilder(cfg inputs.Config) (builder.Builder, error) {
	b, err := builder.Select(cfg.Builder)
	return b, phrase(cfg, err)
}

// phrase turns err, when it is one the user fixes through an input, into
// the words for where the run is; other errors come back as they are.
func phrase(cfg inputs.Config, err error) error {
	var unknown *builder.UnknownError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, builder.ErrNoFlox):
		return cfg.Errorf("builder", inputs.Fix{
			Workflow: "use the action's image, which has Flox, or set builder: local",
			Terminal: "install Flox (https://flox.dev/docs/install-flox/) or pass --builder local",
		}, "is flox, but flox is not on PATH")
	case errors.As(err, &unknown):
		return cfg.Errorf("builder", inputs.Fix{}, "%q is not one of auto, flox, local", unknown.Name)
	}
	return err
}
