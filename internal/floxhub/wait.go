package floxhub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// storepathStatusRequest is StoreInfoRequest, the body of POST
// /api/v1/catalog/store/status.
type storepathStatusRequest struct {
	Outpaths []string `json:"outpaths"`
}

// storepathStatusResponse is StorepathStatusResponse.
type storepathStatusResponse struct {
	Items map[string][]struct {
		Catalog      string `json:"catalog"`
		Package      string `json:"package"`
		NarinfoKnown bool   `json:"narinfo_known"`
	} `json:"items"`
}

// Wait bounds Client.WaitPublished.
type Wait struct {
	// Timeout is how long to wait in all; 0 means DefaultPublisherTimeout.
	// The publisher-timeout input sets it.
	Timeout time.Duration
	// Interval is the time between polls; 0 means 2s, as the Flox CLI.
	Interval time.Duration
	// Progress, when set, is told after each poll how many of the paths
	// FloxHub knows and how long the wait has lasted.
	Progress func(known, total int, waited time.Duration)
}

// DefaultPublisherTimeout is the Flox CLI's wait for its publisher service
// (PUBLISH_COMPLETION_TIMEOUT_MILLIS). Large closures can need more, which
// is why Wait.Timeout can be raised.
const DefaultPublisherTimeout = 30 * time.Minute

// ErrPublisherTimeout is returned by WaitPublished when FloxHub has not
// confirmed the paths in time (as a *PublisherTimeoutError).
var ErrPublisherTimeout = errors.New("FloxHub's publisher has not confirmed the store paths in time")

// PublisherTimeoutError says how far FloxHub got when the wait ran out.
type PublisherTimeoutError struct {
	Catalog      string
	Known, Total int
	Timeout      time.Duration
	// Fix says how to wait longer, in the words of where the run is; the
	// edge sets it (the publisher-timeout input).
	Fix string
}

func (e *PublisherTimeoutError) Error() string {
	return fmt.Sprintf("catalog %s (store type publisher): %v: %d of %d known after %s. The upload itself is done; FloxHub's publisher is still ingesting. %s, or re-run later: a re-run finds the build already published",
		e.Catalog, ErrPublisherTimeout, e.Known, e.Total, e.Timeout, cmp.Or(e.Fix, "Wait longer"))
}

func (e *PublisherTimeoutError) Is(target error) bool { return target == ErrPublisherTimeout }

// WaitPublished polls FloxHub's store status (POST
// /api/v1/catalog/store/status) until it knows the narinfo of every one
// of outputs, the step after recording a build in a publisher store. A path
// FloxHub answers nothing for is not known yet (the Flox CLI takes an
// empty answer for done; this waits for each path). Cancelling ctx ends
// the wait at once.
func (f *Client) WaitPublished(ctx context.Context, catalog string, outputs []string, w Wait) error {
	if w.Timeout <= 0 {
		w.Timeout = DefaultPublisherTimeout
	}
	if w.Interval <= 0 {
		w.Interval = 2 * time.Second
	}
	paths := append([]string(nil), outputs...)
	sort.Strings(paths)
	o := op{verb: "ask FloxHub whether it has ingested the store paths of catalog " + catalog, catalog: catalog}
	start := time.Now()
	deadline := start.Add(w.Timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	known := 0
	for {
		var st storepathStatusResponse
		err := f.call(ctx, o, "/api/v1/catalog/store/status", nil, storepathStatusRequest{Outpaths: paths}, &st)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("catalog %s (store type publisher): %w", catalog, err)
		}
		if err == nil {
			known = 0
			for _, p := range paths {
				statuses := st.Items[p]
				ok := len(statuses) > 0
				for _, s := range statuses {
					ok = ok && s.NarinfoKnown
				}
				if ok {
					known++
				}
			}
			if w.Progress != nil {
				w.Progress(known, len(paths), time.Since(start))
			}
			if known == len(paths) {
				return nil
			}
		}
		if ctx.Err() != nil || time.Until(deadline) <= 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(w.Interval, time.Until(deadline))):
		}
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		return &PublisherTimeoutError{Catalog: catalog, Known: known, Total: len(paths), Timeout: w.Timeout}
	}
	return fmt.Errorf("catalog %s (store type publisher): waiting for FloxHub: %w", catalog, ctx.Err())
}
