package publish

import (
	"errors"

	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/ui"
)

// locatedError turns a manifest error into a ui.Located, so that it becomes
// an annotation on its line.
type locatedError struct {
	msg string
	pos manifest.Position
}

func (l locatedError) Error() string { return l.msg }
func (l locatedError) Location() ui.Location {
	return ui.Location{File: l.pos.File, Line: l.pos.Line, Col: l.pos.Col}
}

// locate makes each manifest error in err a located one.
func locate(err error) error {
	errs := manifest.Errors(err)
	if len(errs) == 0 {
		return err
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = locatedError{e.Error(), e.Pos}
	}
	return errors.Join(out...)
}
