package native_test

// A composite action's steps, run as GitHub's runner runs them: each
// `run:` in `bash --noprofile --norc -eo pipefail FILE`, its `env:` with
// the expressions the runner would evaluate, a GITHUB_OUTPUT file of its
// own whose lines become steps.ID.outputs, and the action's outputs
// evaluated from them. Only the expressions this action uses are known
// (inputs, steps' outputs, github.action_ref, github.token,
// github.repository_owner); any other fails the test, so that a step the
// runner could not run as written is not run here as something else.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type compositeAction struct {
	Inputs map[string]struct {
		Default *string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []struct {
			ID    string            `yaml:"id"`
			Shell string            `yaml:"shell"`
			Env   map[string]string `yaml:"env"`
			Run   string            `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"runs"`
}

// runner is one job's runner: its environment (RUNNER_*, GITHUB_*) and
// the github context of the expressions.
type runner struct {
	env     []string
	github  map[string]string
	summary string // GITHUB_STEP_SUMMARY of the last run
}

// result is one use of the action: each step's log, the action's
// outputs, and the step that failed ("" when none did).
type result struct {
	log     string
	outputs map[string]string
	failed  string
}

var exprRe = regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)

// run uses the action in dir with the step's `with:` values.
func (r *runner) run(t *testing.T, dir string, with map[string]string) result {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a compositeAction
	if err := yaml.Unmarshal(data, &a); err != nil {
		t.Fatal(err)
	}
	if a.Runs.Using != "composite" {
		t.Fatalf("runs.using is %q", a.Runs.Using)
	}
	steps := map[string]map[string]string{}
	eval := func(s string) string {
		return exprRe.ReplaceAllStringFunc(s, func(m string) string {
			e := exprRe.FindStringSubmatch(m)[1]
			parts := strings.Split(e, ".")
			switch {
			case len(parts) == 2 && parts[0] == "inputs":
				if v, ok := with[parts[1]]; ok {
					return v
				}
				in, ok := a.Inputs[parts[1]]
				if !ok {
					t.Fatalf("the action reads inputs.%s, which it does not declare", parts[1])
				}
				if in.Default == nil {
					return ""
				}
				return exprRe.ReplaceAllStringFunc(*in.Default, func(m string) string {
					k := strings.TrimPrefix(exprRe.FindStringSubmatch(m)[1], "github.")
					return r.github[k]
				})
			case len(parts) == 4 && parts[0] == "steps" && parts[2] == "outputs":
				return steps[parts[1]][parts[3]]
			case len(parts) == 2 && parts[0] == "github":
				if v, ok := r.github[parts[1]]; ok {
					return v
				}
			}
			t.Fatalf("the test's runner cannot evaluate ${{ %s }}", e)
			return ""
		})
	}
	for k := range with {
		if _, ok := a.Inputs[k]; !ok {
			t.Fatalf("with: %s is not an input of the action", k)
		}
	}
	var res result
	tmp := t.TempDir()
	for i, s := range a.Runs.Steps {
		if s.Shell != "bash" {
			t.Fatalf("step %s: shell %q (the test runs bash steps)", s.ID, s.Shell)
		}
		script := filepath.Join(tmp, fmt.Sprintf("step-%d.sh", i))
		os.WriteFile(script, []byte(eval(s.Run)), 0o644)
		out := filepath.Join(tmp, fmt.Sprintf("output-%d", i))
		summary := filepath.Join(tmp, fmt.Sprintf("summary-%d", i))
		os.WriteFile(out, nil, 0o644)
		os.WriteFile(summary, nil, 0o644)
		env := append(append([]string{}, r.env...), "GITHUB_ACTION_PATH="+dir, "GITHUB_OUTPUT="+out, "GITHUB_STEP_SUMMARY="+summary)
		for k, v := range s.Env {
			env = append(env, k+"="+eval(v))
		}
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
		cmd.Env = env
		cmd.Dir = r.github["workspace"]
		log, err := cmd.CombinedOutput()
		res.log += fmt.Sprintf("--- step %s ---\n%s", s.ID, log)
		steps[s.ID] = readOutputs(t, out)
		sum, _ := os.ReadFile(summary)
		r.summary = string(sum)
		if err != nil {
			res.failed = s.ID
			return res
		}
	}
	res.outputs = map[string]string{}
	for name, o := range a.Outputs {
		res.outputs[name] = eval(o.Value)
	}
	return res
}

// readOutputs parses a GITHUB_OUTPUT file: NAME=VALUE lines and
// NAME<<DELIMITER blocks.
func readOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var val []string
			for sc.Scan() && sc.Text() != delim {
				val = append(val, sc.Text())
			}
			out[name] = strings.Join(val, "\n")
			continue
		}
		if name, val, ok := strings.Cut(line, "="); ok {
			out[name] = val
		}
	}
	return out
}
