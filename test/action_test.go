package test

// Tests that what users read — action.yml, the README, the example
// workflows, the Dockerfile — says what the code does: every input and
// output the runner hands over or reads back is one the code handles, with
// the same default and description, and every workflow passes only inputs
// that exist.

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// actionMetadata is action.yml, as GitHub reads it for a Docker action.
// Decoding refuses keys GitHub does not know, so a typo such as `defualt:`
// fails here instead of being silently ignored by the runner.
type actionMetadata struct {
	Name        string `yaml:"name"`
	Author      string `yaml:"author"`
	Description string `yaml:"description"`
	Branding    struct {
		Icon  string `yaml:"icon"`
		Color string `yaml:"color"`
	} `yaml:"branding"`
	Inputs  map[string]actionInput  `yaml:"inputs"`
	Outputs map[string]actionOutput `yaml:"outputs"`
	Runs    struct {
		Using          string            `yaml:"using"`
		Image          string            `yaml:"image"`
		Env            map[string]string `yaml:"env"`
		Entrypoint     string            `yaml:"entrypoint"`
		PreEntrypoint  string            `yaml:"pre-entrypoint"`
		PostEntrypoint string            `yaml:"post-entrypoint"`
		PreIf          string            `yaml:"pre-if"`
		PostIf         string            `yaml:"post-if"`
		Args           []string          `yaml:"args"`
		// A composite action's (native/action.yml).
		Steps []compositeStep `yaml:"steps"`
	} `yaml:"runs"`

	// InputOrder and OutputOrder are the names in the file's order.
	InputOrder  []string `yaml:"-"`
	OutputOrder []string `yaml:"-"`
}

type actionInput struct {
	Description        string  `yaml:"description"`
	Required           bool    `yaml:"required"`
	Default            *string `yaml:"default"`
	DeprecationMessage string  `yaml:"deprecationMessage"`
}

type actionOutput struct {
	Description string `yaml:"description"`
	Value       string `yaml:"value"` // a composite action's
}

type compositeStep struct {
	ID    string            `yaml:"id"`
	Name  string            `yaml:"name"`
	If    string            `yaml:"if"`
	Shell string            `yaml:"shell"`
	Env   map[string]string `yaml:"env"`
	Run   string            `yaml:"run"`
	Uses  string            `yaml:"uses"`
	With  map[string]string `yaml:"with"`
}

// DefaultValue is the input's default, "" when it declares none.
func (in actionInput) DefaultValue() string {
	if in.Default == nil {
		return ""
	}
	return *in.Default
}

func loadAction(t testing.TB) *actionMetadata { return loadActionFile(t, "action.yml") }

// loadActionFile reads an action's metadata: action.yml, the container
// action, or native/action.yml, the native one.
func loadActionFile(t testing.TB, rel string) *actionMetadata {
	t.Helper()
	path := filepath.Join(testenv.ProjectRoot(t), rel)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var meta actionMetadata
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&meta); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	meta.InputOrder = mappingKeys(&doc, "inputs")
	meta.OutputOrder = mappingKeys(&doc, "outputs")
	return &meta
}

// mappingKeys returns the keys of the top-level mapping key of doc, in order.
func mappingKeys(doc *yaml.Node, key string) []string {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != key {
			continue
		}
		var keys []string
		m := top.Content[i+1]
		for j := 0; j+1 < len(m.Content); j += 2 {
			keys = append(keys, m.Content[j].Value)
		}
		return keys
	}
	return nil
}

func codeInputNames() []string {
	var names []string
	for _, in := range inputs.All {
		names = append(names, in.Name)
	}
	return names
}

// codeOutputNames are the outputs a run writes: the report stage
// (internal/publish/report.go) hands report.Report.Outputs() to SetOutputs
// and nothing else (checked by TestActionOutputsAreOnlyWrittenThroughReport).
func codeOutputNames(t *testing.T) []string {
	t.Helper()
	rep := &report.Report{Packages: []report.Package{{Name: "p", Version: "1", StorePaths: []string{"/nix/store/x-p-1"}}}}
	outs, err := rep.Outputs()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, kv := range outs {
		names = append(names, kv[0])
	}
	return names
}

// diffNames reports names in a but not in b.
func diffNames(a, b []string) []string {
	var out []string
	for _, n := range a {
		if !slices.Contains(b, n) {
			out = append(out, n)
		}
	}
	return out
}

func TestActionMetadata(t *testing.T) {
	meta := loadAction(t)
	if meta.Name == "" || meta.Description == "" || meta.Author == "" {
		t.Errorf("action.yml needs name, description and author (the Marketplace shows them): %q, %q, %q", meta.Name, meta.Description, meta.Author)
	}
	// The Marketplace's colours; icons are Feather's, which we cannot list
	// here, so only their presence is checked.
	colors := []string{"white", "black", "yellow", "blue", "green", "orange", "red", "purple", "gray-dark"}
	if !slices.Contains(colors, meta.Branding.Color) || meta.Branding.Icon == "" {
		t.Errorf("branding: icon %q, color %q; color must be one of %v", meta.Branding.Icon, meta.Branding.Color, colors)
	}
	r := meta.Runs
	if r.Using != "docker" {
		t.Errorf("runs.using is %q, want docker", r.Using)
	}
	switch {
	case r.Image == "Dockerfile":
		if _, err := os.Stat(filepath.Join(testenv.ProjectRoot(t), "Dockerfile")); err != nil {
			t.Errorf("runs.image names the Dockerfile: %v", err)
		}
	case strings.HasPrefix(r.Image, "docker://"):
	default:
		t.Errorf("runs.image is %q, want Dockerfile or docker://IMAGE", r.Image)
	}
	// The binary takes its inputs from INPUT_* only and refuses arguments
	// in Actions; it is the image's entrypoint.
	if len(r.Args) > 0 || r.Entrypoint != "" || r.PreEntrypoint != "" || r.PostEntrypoint != "" {
		t.Errorf("runs sets args or entrypoints (%q, %q, %q, %q): the binary reads INPUT_* variables and refuses arguments in Actions",
			r.Args, r.Entrypoint, r.PreEntrypoint, r.PostEntrypoint)
	}
	for k := range r.Env {
		if strings.HasPrefix(k, "INPUT_") {
			t.Errorf("runs.env sets %s: inputs come from `inputs:`", k)
		}
	}
}

func TestActionInputsMatchCode(t *testing.T) {
	meta := loadAction(t)
	code := codeInputNames()
	for _, n := range diffNames(meta.InputOrder, code) {
		t.Errorf("action.yml declares input %q, which the code never reads: add it to inputs.All (internal/inputs) or remove it from action.yml", n)
	}
	for _, n := range diffNames(code, meta.InputOrder) {
		t.Errorf("the code reads input %q (inputs.All), which action.yml does not declare: the runner would never set INPUT_%s", n, strings.ToUpper(n))
	}
	if !t.Failed() && !slices.Equal(meta.InputOrder, code) {
		t.Errorf("inputs are in a different order:\naction.yml:  %v\ninputs.All:  %v", meta.InputOrder, code)
	}
	for _, in := range inputs.All {
		decl, ok := meta.Inputs[in.Name]
		if !ok {
			continue
		}
		want := in.Default
		if in.ActionDefault != "" {
			want = in.ActionDefault
		}
		if got := decl.DefaultValue(); got != want {
			t.Errorf("input %s: action.yml default %q, the code's %q", in.Name, got, want)
		}
		if decl.Default == nil {
			t.Errorf("input %s: action.yml gives no default: write `default: %q` so users see it", in.Name, want)
		}
		if strings.TrimSpace(decl.Description) == "" {
			t.Errorf("input %s has no description in action.yml", in.Name)
		}
		if decl.Description != in.Description {
			t.Errorf("input %s: descriptions differ (--help prints the code's):\naction.yml: %s\ninputs.All: %s", in.Name, decl.Description, in.Description)
		}
		// An expression default is evaluated by the runner only; when the
		// action is used as docker://IMAGE the input arrives unset, so the
		// code must work without it.
		if strings.Contains(in.Default, "${{") {
			t.Errorf("input %s: the code's Default %q is an expression the code cannot evaluate; put it in ActionDefault", in.Name, in.Default)
		}
	}
}

// TestActionInputsAreOnlyReadThroughTheTable checks that no code reads an
// INPUT_ variable by name, around inputs.All: such an input would escape
// the check above.
func TestActionInputsAreOnlyReadThroughTheTable(t *testing.T) {
	if got := inputs.EnvName("store-url"); got != "INPUT_STORE-URL" {
		t.Errorf("EnvName(store-url) = %q; the runner sets INPUT_STORE-URL (upper case, hyphens kept)", got)
	}
	for path, src := range goSources(t) {
		if path == "internal/inputs/inputs.go" {
			continue
		}
		if strings.Contains(src, `"INPUT_`) {
			t.Errorf("%s names an INPUT_ variable: read inputs through inputs.All so that action.yml and the README can be checked against them", path)
		}
	}
}

func TestActionOutputsMatchCode(t *testing.T) {
	meta := loadAction(t)
	code := codeOutputNames(t)
	for _, n := range diffNames(meta.OutputOrder, code) {
		t.Errorf("action.yml declares output %q, which the code never writes", n)
	}
	for _, n := range diffNames(code, meta.OutputOrder) {
		t.Errorf("the code writes output %q (report.Report.Outputs), which action.yml does not declare", n)
	}
	for name, o := range meta.Outputs {
		if strings.TrimSpace(o.Description) == "" {
			t.Errorf("output %s has no description in action.yml", name)
		}
	}
}

// TestActionOutputsAreOnlyWrittenThroughReport checks that every
// SetOutputs call hands over the result of a .Outputs() call, and that
// nothing but the ui package opens $GITHUB_OUTPUT: an output written any
// other way would escape TestActionOutputsMatchCode.
func TestActionOutputsAreOnlyWrittenThroughReport(t *testing.T) {
	calls := 0
	for path, src := range goSources(t) {
		// workflow reads the file's path from the environment; ui writes it.
		if path != "internal/ui/ui.go" && path != "internal/workflow/workflow.go" && strings.Contains(src, `"GITHUB_OUTPUT"`) {
			t.Errorf("%s names GITHUB_OUTPUT: write outputs with ui.SetOutputs(report.Outputs())", path)
		}
		if !strings.Contains(src, "SetOutputs(") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, src, 0)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			fn, ok := n.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				return true
			}
			fromOutputs := map[string]bool{} // variables assigned from X.Outputs()
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.AssignStmt:
					if len(n.Rhs) == 1 && isMethodCall(n.Rhs[0], "Outputs") {
						if id, ok := n.Lhs[0].(*ast.Ident); ok {
							fromOutputs[id.Name] = true
						}
					}
				case *ast.CallExpr:
					if !isMethodCall(n, "SetOutputs") {
						return true
					}
					calls++
					ok := false
					if len(n.Args) == 1 {
						ok = isMethodCall(n.Args[0], "Outputs")
						if id, isID := n.Args[0].(*ast.Ident); isID {
							ok = fromOutputs[id.Name]
						}
					}
					if !ok {
						t.Errorf("%s: %s calls SetOutputs with something other than report.Report.Outputs(): declare its outputs in action.yml and teach this test about them", path, fn.Name.Name)
					}
				}
				return true
			})
			return false
		})
	}
	if calls == 0 {
		t.Error("no SetOutputs call found: the outputs action.yml declares are never written")
	}
}

func isMethodCall(e ast.Expr, name string) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == name
}

// goSources returns the action's Go files by slash path: the module's, but
// for tests and internal/testenv, which only tests import (its fixtures
// set INPUT_* and GITHUB_OUTPUT for the runs they start).
func goSources(t *testing.T) map[string]string {
	t.Helper()
	root := testenv.ProjectRoot(t)
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "examples" || p == filepath.Join(root, "internal", "testenv")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readmeTable returns the rows of the first table under the README's
// "## heading" section, as cells without surrounding spaces.
func readmeTable(t *testing.T, readme, heading string) [][]string {
	t.Helper()
	lines := strings.Split(readme, "\n")
	start := slices.Index(lines, "## "+heading)
	if start < 0 {
		t.Fatalf("README.md has no %q section", "## "+heading)
	}
	var rows [][]string
	for _, line := range lines[start+1:] {
		if strings.HasPrefix(line, "## ") {
			break
		}
		if !strings.HasPrefix(line, "|") {
			if len(rows) > 0 {
				break // the end of the first table
			}
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	if len(rows) < 3 || !strings.HasPrefix(rows[1][0], "---") {
		t.Fatalf("README.md: the %q section has no table with a header and rows", heading)
	}
	return rows[2:]
}

// codeName returns the name in a `name` cell, "" when the cell is not one.
func codeName(cell string) string {
	if len(cell) > 2 && strings.HasPrefix(cell, "`") && strings.HasSuffix(cell, "`") && strings.Count(cell, "`") == 2 {
		return cell[1 : len(cell)-1]
	}
	return ""
}

func TestREADMEDocumentsEveryInputAndOutput(t *testing.T) {
	meta := loadAction(t)
	data, err := os.ReadFile(filepath.Join(testenv.ProjectRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)

	var documented []string
	for _, row := range readmeTable(t, readme, "Inputs") {
		name := codeName(row[0])
		if name == "" || len(row) < 3 {
			t.Errorf("README inputs table: row %q does not start with `name` | default | description", row)
			continue
		}
		documented = append(documented, name)
		decl, ok := meta.Inputs[name]
		if !ok {
			continue
		}
		// A literal default is shown as it is; an expression default may
		// be told in words; no default must not look like one.
		def, cell := decl.DefaultValue(), row[1]
		switch {
		case def == "":
			if codeName(cell) != "" {
				t.Errorf("README: input %s shows the default %s, but it has none", name, cell)
			}
		case strings.Contains(def, "${{"):
		case cell != "`"+def+"`":
			t.Errorf("README: input %s shows the default %s, action.yml says %q", name, cell, def)
		}
		if strings.TrimSpace(row[2]) == "" {
			t.Errorf("README: input %s has no description", name)
		}
	}
	for _, n := range diffNames(meta.InputOrder, documented) {
		t.Errorf("README.md's Inputs table lacks input %q", n)
	}
	for _, n := range diffNames(documented, meta.InputOrder) {
		t.Errorf("README.md's Inputs table lists %q, which action.yml does not declare", n)
	}
	if !t.Failed() && !slices.Equal(documented, meta.InputOrder) {
		t.Errorf("README.md's Inputs table is not in action.yml's order:\nREADME:     %v\naction.yml: %v", documented, meta.InputOrder)
	}

	documented = nil
	for _, row := range readmeTable(t, readme, "Outputs") {
		name := codeName(row[0])
		if name == "" || len(row) < 2 || row[1] == "" {
			t.Errorf("README outputs table: row %q does not start with `name` | description", row)
			continue
		}
		documented = append(documented, name)
	}
	for _, n := range diffNames(meta.OutputOrder, documented) {
		t.Errorf("README.md's Outputs table lacks output %q", n)
	}
	for _, n := range diffNames(documented, meta.OutputOrder) {
		t.Errorf("README.md's Outputs table lists %q, which action.yml does not declare", n)
	}
}

// workflow is the part of a workflow file these tests read.
type workflow struct {
	On          any                    `yaml:"on"`
	Permissions map[string]string      `yaml:"permissions"`
	Jobs        map[string]workflowJob `yaml:"jobs"`

	// snippet marks a README block that is only a list of steps.
	snippet bool
}

type workflowJob struct {
	RunsOn      any               `yaml:"runs-on"`
	Permissions map[string]string `yaml:"permissions"`
	Steps       []workflowStep    `yaml:"steps"`
}

type workflowStep struct {
	ID   string            `yaml:"id"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]string `yaml:"with"`
}

// usesThisAction reports whether a step's uses: names this action.
func usesThisAction(uses string) bool {
	return uses == "./" || strings.Contains(uses, "flox-publish/publish-action")
}

func loadWorkflows(t *testing.T) map[string]workflow {
	t.Helper()
	root := testenv.ProjectRoot(t)
	out := map[string]workflow{}
	for _, dir := range []string{".github/workflows", "examples/workflows"} {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*.yml"))
		yamlFiles, _ := filepath.Glob(filepath.Join(root, dir, "*.yaml"))
		files = append(files, yamlFiles...)
		if len(files) == 0 {
			t.Errorf("%s holds no workflow", dir)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var w workflow
			if err := yaml.Unmarshal(data, &w); err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			rel, _ := filepath.Rel(root, f)
			out[filepath.ToSlash(rel)] = w
		}
	}
	// The README's workflow snippets are workflows users copy.
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	for i, b := range blocks {
		name := fmt.Sprintf("README.md (YAML block %d)", i+1)
		var node yaml.Node
		if err := yaml.Unmarshal([]byte(b[1]), &node); err != nil || len(node.Content) == 0 {
			t.Errorf("%s does not parse: %v", name, err)
			continue
		}
		var w workflow
		var err error
		if node.Content[0].Kind == yaml.SequenceNode { // steps to paste into a job
			var steps []workflowStep
			err = node.Decode(&steps)
			w = workflow{snippet: true, Jobs: map[string]workflowJob{"(steps)": {Steps: steps}}}
		} else {
			err = node.Decode(&w)
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(w.Jobs) > 0 {
			out[name] = w
		}
	}
	return out
}

func TestWorkflowsPassOnlyDeclaredInputs(t *testing.T) {
	meta := loadAction(t)
	pinned := regexp.MustCompile(`^[\w.-]+/[\w./-]+@(v[0-9]+(\.[0-9]+){0,2}|[0-9a-f]{40})$`)
	workflows := loadWorkflows(t)
	uses := 0
	var names []string
	for name := range workflows {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		w := workflows[name]
		if !w.snippet && (w.On == nil || len(w.Jobs) == 0) {
			t.Errorf("%s: no `on:` or no jobs", name)
		}
		for jobName, job := range w.Jobs {
			if job.RunsOn == nil && !w.snippet {
				t.Errorf("%s: job %s has no runs-on", name, jobName)
			}
			for _, s := range job.Steps {
				switch {
				case s.Uses == "":
				case usesThisAction(s.Uses):
					uses++
					for k := range s.With {
						if _, ok := meta.Inputs[k]; !ok {
							t.Errorf("%s: job %s passes `%s:` to the action, which has no such input (inputs: %v)", name, jobName, k, meta.InputOrder)
						}
					}
				case strings.HasPrefix(s.Uses, "docker://"), strings.HasPrefix(s.Uses, "./"):
				case !pinned.MatchString(s.Uses):
					t.Errorf("%s: job %s uses %s: pin actions to a version (owner/repo@vN) or a commit", name, jobName, s.Uses)
				}
			}
		}
	}
	if uses == 0 {
		t.Error("no workflow uses the action")
	}
}

// TestExampleWorkflowsLeastPrivilege checks the permissions the examples
// teach: read the contents, and an OIDC token only where the publish job
// assumes an AWS role; the pull-request validation holds no secrets.
func TestExampleWorkflowsLeastPrivilege(t *testing.T) {
	root := testenv.ProjectRoot(t)
	workflows := loadWorkflows(t)
	for name, want := range map[string]map[string]string{
		"examples/workflows/release.yml":      {"contents": "read", "id-token": "write"},
		"examples/workflows/pull-request.yml": {"contents": "read"},
		".github/workflows/ci.yml":            {"contents": "read"},
		".github/workflows/release.yml":       {"contents": "read", "packages": "write"},
	} {
		w, ok := workflows[name]
		if !ok {
			t.Errorf("%s is missing", name)
			continue
		}
		for jobName, job := range w.Jobs {
			want := want
			// The release's tagging job pushes the release commit's tags
			// (README, "Releasing"), and only that.
			if name == ".github/workflows/release.yml" && jobName == "tag" {
				want = map[string]string{"contents": "write"}
			}
			// Its attesting job signs the binaries' provenance (Sigstore,
			// through the OIDC token), and only that.
			if name == ".github/workflows/release.yml" && jobName == "attest" {
				want = map[string]string{"contents": "read", "id-token": "write", "attestations": "write", "artifact-metadata": "write"}
			}
			perms := job.Permissions
			if perms == nil {
				perms = w.Permissions
			}
			if perms == nil {
				t.Errorf("%s: job %s sets no permissions (the token would get the repository's defaults)", name, jobName)
				continue
			}
			for k, v := range perms {
				if want[k] != v {
					t.Errorf("%s: job %s has permission %s: %s, beyond %v", name, jobName, k, v, want)
				}
			}
		}
	}
	data, err := os.ReadFile(filepath.Join(root, "examples/workflows/pull-request.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "secrets.") {
		t.Error("examples/workflows/pull-request.yml reads secrets: pull-request validation must pass without them (forks have none)")
	}
	var selfTest bool
	for _, job := range workflows[".github/workflows/ci.yml"].Jobs {
		for _, s := range job.Steps {
			if s.Uses == "./" && s.With["dry-run"] == "true" && s.With["dir"] != "" {
				selfTest = true
				if _, err := os.Stat(filepath.Join(root, s.With["dir"], ".flox", "env", "manifest.toml")); err != nil {
					t.Errorf("the self-test publishes %s: %v", s.With["dir"], err)
				}
			}
		}
	}
	if !selfTest {
		t.Error(".github/workflows/ci.yml has no self-test step (uses: ./ with dry-run: \"true\" and a dir)")
	}
}

// TestDockerfile lints the Dockerfile for what a container action needs (the
// container test builds and runs it, where a Docker engine runs): a static,
// -trimpath binary built in its own stage, pinned base images, a runtime
// stage with git and Flox that runs as root without a WORKDIR, the binary
// as entrypoint; and what lets a builder without a registry, or the legacy
// builder, build it: no `# syntax=` frontend image, a default for
// BUILDPLATFORM, which the legacy builder does not set.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.ProjectRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(?im)^#\s*syntax\s*=`).Match(data) {
		t.Error("the Dockerfile names a frontend image (# syntax=): a builder that reaches no registry cannot build it")
	}
	instrs := testenv.DockerfileInstructions(t)
	args := map[string]string{} // global ARG defaults
	type stage struct {
		from   string
		instrs []string
	}
	var stages []*stage
	for _, in := range instrs {
		word, rest, _ := strings.Cut(in, " ")
		switch strings.ToUpper(word) {
		case "ARG":
			if len(stages) == 0 {
				k, v, _ := strings.Cut(rest, "=")
				args[k] = v
			}
		case "FROM":
			stages = append(stages, &stage{from: rest})
			continue
		}
		if len(stages) > 0 {
			stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("the Dockerfile has %d stage(s): build the binary in one stage and copy it into a runtime image", len(stages))
	}
	expand := regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)
	for _, s := range stages {
		image := strings.Fields(s.from)
		ref := image[0]
		if strings.HasPrefix(ref, "--platform") && len(image) > 1 {
			if p := strings.TrimPrefix(ref, "--platform="); strings.Contains(p, "$") && !strings.Contains(p, ":-") {
				t.Errorf("FROM %s: the platform has no default; the legacy builder (DOCKER_BUILDKIT=0) sets no BUILDPLATFORM and refuses an empty one", s.from)
			}
			ref = image[1]
		}
		ref = expand.ReplaceAllStringFunc(ref, func(m string) string {
			sub := expand.FindStringSubmatch(m)
			return args[sub[1]+sub[2]]
		})
		tag := ""
		if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
			tag = ref[i+1:]
		}
		if !strings.Contains(ref, "@sha256:") && (tag == "" || tag == "latest" || !strings.ContainsAny(tag, "0123456789")) {
			t.Errorf("base image %q (FROM %s) is not pinned to a version or digest", ref, s.from)
		}
	}
	build, runtime := stages[0], stages[len(stages)-1]
	buildText := strings.Join(build.instrs, "\n")
	for _, want := range []string{"CGO_ENABLED=1", "-trimpath", "go build", "-tags netgo,osusergo", "-linkmode=external -extldflags=-static"} {
		if !strings.Contains(buildText, want) {
			t.Errorf("the build stage does not use %s", want)
		}
	}
	var entrypoint, copied string
	// The binary the build stage writes, e.g. /out/flox-publish.
	output := ""
	if m := regexp.MustCompile(`-o (\S+) \.(\s|$)`).FindStringSubmatch(buildText); m != nil {
		output = m[1]
	}
	runtimeText := strings.Join(runtime.instrs, "\n")
	for _, in := range runtime.instrs {
		word, rest, _ := strings.Cut(in, " ")
		switch strings.ToUpper(word) {
		case "USER":
			t.Errorf("the runtime stage sets USER %s: GitHub runs container actions as root", rest)
		case "WORKDIR":
			t.Errorf("the runtime stage sets WORKDIR %s: the runner sets --workdir /github/workspace", rest)
		case "ENTRYPOINT":
			entrypoint = rest
		case "COPY":
			if f := strings.Fields(rest); len(f) >= 3 && strings.HasPrefix(f[0], "--from=") {
				src, dst := f[1], f[len(f)-1]
				copied = dst
				if strings.HasSuffix(dst, "/") && strings.HasPrefix(output, src) {
					copied = dst + strings.TrimPrefix(strings.TrimPrefix(output, src), "/")
				}
			}
		}
	}
	var ep []string
	if err := yaml.Unmarshal([]byte(entrypoint), &ep); err != nil || len(ep) != 1 {
		t.Errorf("ENTRYPOINT %s: want the exec form with the binary alone, [\"/path/to/binary\"] (the runner passes no arguments)", entrypoint)
	} else if copied == "" || ep[0] != copied {
		t.Errorf("ENTRYPOINT %s is not the binary copied from the build stage (%q)", entrypoint, copied)
	}
	for _, want := range []string{"git", "flox"} {
		if !regexp.MustCompile(`\b` + want + `\b`).MatchString(runtimeText) {
			t.Errorf("the runtime stage does not install %s", want)
		}
	}
}

// TestPackagesOutputFieldsAreDocumented checks that every field of the
// packages output's JSON objects (report.Package) is named in action.yml's
// description of the output and in the README's Outputs table.
func TestPackagesOutputFieldsAreDocumented(t *testing.T) {
	meta := loadAction(t)
	data, err := os.ReadFile(filepath.Join(testenv.ProjectRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var readmeRow string
	for _, row := range readmeTable(t, string(data), "Outputs") {
		if codeName(row[0]) == "packages" {
			readmeRow = strings.Join(row[1:], "|")
		}
	}
	if readmeRow == "" {
		t.Fatal("README.md's Outputs table has no packages row")
	}
	typ := reflect.TypeOf(report.Package{})
	for i := 0; i < typ.NumField(); i++ {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if !regexp.MustCompile(`\b` + name + `\b`).MatchString(meta.Outputs["packages"].Description) {
			t.Errorf("action.yml's packages output does not list the field %s (report.Package.%s)", name, typ.Field(i).Name)
		}
		if !strings.Contains(readmeRow, "`"+name+"`") {
			t.Errorf("README.md's packages output does not list the field `%s` (report.Package.%s)", name, typ.Field(i).Name)
		}
	}
}

// ruleRe finds the sentences that state when an input is required.
var ruleRe = regexp.MustCompile(`(?i)[^.]*\brequired\b[^.]*\.`)

// TestInputRulesAreWordedTheSame checks that the README states each
// input's rule (when it is required) in the words of action.yml and
// --help, which share inputs.All's description.
func TestInputRulesAreWordedTheSame(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.ProjectRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, row := range readmeTable(t, string(data), "Inputs") {
		if len(row) >= 3 {
			rows[codeName(row[0])] = row[2]
		}
	}
	rules := 0
	for _, in := range inputs.All {
		readme, ok := rows[in.Name]
		if !ok {
			continue // TestREADMEDocumentsEveryInputAndOutput reports it
		}
		code := trimAll(ruleRe.FindAllString(in.Description, -1))
		doc := trimAll(ruleRe.FindAllString(readme, -1))
		rules += len(code)
		if !slices.Equal(code, doc) {
			t.Errorf("input %s: the README states its rule as %q, action.yml and --help as %q: word them the same", in.Name, doc, code)
		}
	}
	if rules == 0 {
		t.Error("no input states when it is required: store-url should")
	}
}

func trimAll(s []string) []string {
	for i := range s {
		s[i] = strings.TrimSpace(s[i])
	}
	return s
}
