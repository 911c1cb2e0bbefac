package test

// The native action (native/action.yml) is the container action run on
// the runner: the same inputs, in the same order, with the same defaults
// and descriptions (and so the same as --help and the README), the same
// outputs, and every input handed to the binary as the INPUT_* variable
// the runner sets for the container action.

import (
	"slices"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/inputs"
)

func TestNativeActionMatchesContainerAction(t *testing.T) {
	root, native := loadAction(t), loadActionFile(t, "native/action.yml")
	if native.Runs.Using != "composite" {
		t.Fatalf("native/action.yml: runs.using is %q, want composite", native.Runs.Using)
	}
	if !slices.Equal(native.InputOrder, root.InputOrder) {
		t.Errorf("inputs differ:\nnative/action.yml: %v\naction.yml:        %v", native.InputOrder, root.InputOrder)
	}
	for name, in := range root.Inputs {
		n, ok := native.Inputs[name]
		if !ok {
			continue
		}
		if n.Description != in.Description || n.DefaultValue() != in.DefaultValue() || (n.Default == nil) != (in.Default == nil) || n.Required != in.Required {
			t.Errorf("input %s differs: native/action.yml %+v (default %q), action.yml %+v (default %q)", name, n, n.DefaultValue(), in, in.DefaultValue())
		}
	}
	if !slices.Equal(native.OutputOrder, root.OutputOrder) {
		t.Errorf("outputs differ:\nnative/action.yml: %v\naction.yml:        %v", native.OutputOrder, root.OutputOrder)
	}
	var publish *compositeStep
	for i, s := range native.Runs.Steps {
		if s.ID == "publish" {
			publish = &native.Runs.Steps[i]
		}
	}
	if publish == nil {
		t.Fatal("native/action.yml has no step with id publish (the one that runs the binary)")
	}
	for name, o := range root.Outputs {
		n := native.Outputs[name]
		if n.Description != o.Description {
			t.Errorf("output %s: descriptions differ:\nnative/action.yml: %s\naction.yml:        %s", name, n.Description, o.Description)
		}
		if want := "${{ steps.publish.outputs." + name + " }}"; n.Value != want {
			t.Errorf("output %s: value %q, want %q", name, n.Value, want)
		}
	}
	// Every input reaches the binary under the name it has in the
	// container (inputs.EnvName), and nothing else named INPUT_.
	for _, in := range inputs.All {
		env := inputs.EnvName(in.Name)
		if got, want := publish.Env[env], "${{ inputs."+in.Name+" }}"; got != want {
			t.Errorf("the publish step sets %s to %q, want %q", env, got, want)
		}
	}
	for k := range publish.Env {
		if strings.HasPrefix(k, "INPUT_") && !slices.ContainsFunc(inputs.All, func(in inputs.Input) bool { return inputs.EnvName(in.Name) == k }) {
			t.Errorf("the publish step sets %s, which is no input", k)
		}
	}
}
