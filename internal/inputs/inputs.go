// Package inputs reads and validates the action's inputs.
//
// In GitHub Actions (GITHUB_ACTIONS=true) the runner hands each input over as
// an environment variable INPUT_<NAME>, upper-cased with hyphens kept
// (store-url → INPUT_STORE-URL). Elsewhere the same names are command-line
// flags (--store-url), so one run works the same on a laptop and in CI.
// GitHub does not enforce `required:` nor any type, so every value is
// checked here and a bad one is a single error naming the input and what it
// accepts.
package inputs

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/workflow"
)

// Mode says whether a run writes to the store.
type Mode string

// Dry-run settings.
const (
	DryRunAuto  Mode = "auto"
	DryRunTrue  Mode = "true"
	DryRunFalse Mode = "false"
)

// Config is the validated set of inputs.
type Config struct {
	Dir            string   // environment directory holding .flox/
	Packages       []string // builds to publish; empty means all
	Catalog        string
	Store          store.Location // the zero Location when store-url is empty
	SigningKey     string         // secret: the key's contents
	SigningKeyFile string
	DryRun         Mode
	Builder        string // auto, flox, local
	Compression    string // zstd, xz, none
	Level          int    // zstd level, 1–19
	Jobs           int
	GitHubToken    string // secret

	// S3 and OIDC, named as aws-actions/configure-aws-credentials names them.
	RoleToAssume    string
	AWSRegion       string // the input, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1
	RoleSessionName string
	Audience        string
	STSEndpoint     string

	// Catalog.
	FloxHubToken string // secret
	CatalogURL   string
	// Rebuild builds and publishes a package FloxHub already has from
	// this commit for this system, instead of reporting it published.
	Rebuild bool
	// PublisherTimeout bounds the wait for FloxHub's publisher service to
	// ingest the store paths of a catalog whose store is Flox's own.
	PublisherTimeout time.Duration

	// UpstreamCaches are substituter URLs whose signed paths are not
	// uploaded; empty disables the look-up. UpstreamKeys are the public
	// keys (NAME:BASE64) trusted for them.
	UpstreamCaches []string
	UpstreamKeys   []string

	// CheckVersion turns on the check that a version tag matches each
	// build's version.
	CheckVersion bool

	// BuildTimeout bounds each build (and version command); when it
	// passes, the build's processes are ended and the run fails naming it.
	BuildTimeout time.Duration

	// InActions is true when the inputs came from the Actions runner.
	InActions bool
}

// Secrets returns the secret values present in c, for masking.
func (c Config) Secrets() []string {
	var s []string
	for _, v := range []string{c.SigningKey, c.GitHubToken, c.FloxHubToken} {
		if strings.TrimSpace(v) != "" {
			s = append(s, v)
		}
	}
	// The key in each form something could print it (the whole key is
	// already in the list).
	if masks := signing.MaskValues(c.SigningKey); len(masks) > 1 {
		s = append(s, masks[1:]...)
	}
	return s
}

// maxPublisherTimeout is the longest a GitHub-hosted job runs: a wait
// beyond it would be cut by the runner instead of ending with an error
// that says what happened.
const maxPublisherTimeout = 6 * time.Hour

// Input describes one input: its name as in action.yml, its default, and
// what it is for. The same table makes the flags, the Actions look-ups and
// the documentation, so they cannot drift apart.
type Input struct {
	Name        string
	Default     string // used when the input is empty or unset
	Description string
	Secret      bool
	// ActionDefault is the default action.yml declares when it differs from
	// Default (an expression such as ${{ github.token }}).
	ActionDefault string
}

// All lists every input the action reads, in the order action.yml and the
// README show them.
var All = []Input{
	{Name: "dir", Default: ".", Description: "Directory of the Flox environment (the one holding `.flox/`), relative to the repository root."},
	{Name: "packages", Description: "Builds to publish: names of `[build]` entries in the manifest, separated by spaces, commas or newlines. Empty publishes every build."},
	{Name: "catalog", Description: "Catalog to publish into. Defaults to the repository owner.", ActionDefault: "${{ github.repository_owner }}"},
	{Name: "store-url", Description: "Binary cache to upload to: `s3://BUCKET[/PREFIX]?region=…&endpoint=…` or `file:///path`. Required unless the run is a dry run or the catalog names the store."},
	{Name: "signing-key", Secret: true, Description: "Secret key that signs the store paths, in Nix's format (`nix key generate-secret`). Pass it from a secret."},
	{Name: "signing-key-file", Description: "Path of a file holding the secret signing key, instead of `signing-key`."},
	{Name: "dry-run", Default: string(DryRunAuto), Description: "`true` builds (and signs, given a key) but uploads nothing; `false` publishes; `auto` is a dry run on pull_request, pull_request_target and merge_group events. Pull-request events are always dry runs."},
	{Name: "builder", Default: "auto", Description: "`flox` runs `flox build`; `local` runs each build's command with bash and imports `$out` as a content-addressed store path; `auto` uses flox when it is on PATH."},
	{Name: "compression", Default: "zstd", Description: "Compression of NAR files in the cache: `zstd`, `xz` or `none`."},
	{Name: "compression-level", Default: "3", Description: "zstd level, counted as zstd counts them: 1–2 is fastest (files about 8% larger), 3–5 matches the size of `nix copy`'s files, 6–9 and 10–19 compress harder and slower. Only zstd has levels."},
	// jobs bounds the requests in flight (cache.Options.Jobs); the NARs
	// held at once are bounded apart, by memory (cache.DefaultMemory: four
	// large NARs streamed, or small ones by the hundred), so a closure of
	// large paths is as narrow as before whatever jobs says. Measured with
	// the benchmark's latency case (make bench: 1,500 paths of about 27 KB
	// to MinIO on the same 2 cores, medians of 2, a busy machine), 25 ms a
	// request against none: jobs 4 (the old default) 3.0–4.5×; 16, 1.36×;
	// 32, 1.16×; 64, 1.05×; 128, 1.06×, at peak RSS 28, 31, 39 and 54 MiB.
	// Past 64 nothing is gained and memory grows; a store farther away
	// than 25 ms is where a user raises it.
	{Name: "jobs", Default: "64", Description: "Most requests to the store in flight at once (1–256): small paths are checked for and uploaded this many at a time; large NARs are also bounded by memory, a few at a time."},
	{Name: "github-token", Secret: true, Description: "Token used to check that the commit exists in the repository on GitHub.", ActionDefault: "${{ github.token }}"},
	{Name: "role-to-assume", Description: "IAM role to assume with the workflow's OIDC token (needs `permissions: id-token: write`), as in aws-actions/configure-aws-credentials. Without it, AWS credentials come from the environment: a preceding configure-aws-credentials step, or `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`."},
	{Name: "aws-region", Description: "AWS region of the STS endpoint and of the bucket when `store-url` names none. Empty uses `AWS_REGION` or `AWS_DEFAULT_REGION` (which configure-aws-credentials sets), else us-east-1."},
	{Name: "role-session-name", Default: "GitHubActions", Description: "Session name for the assumed role (2–64 characters from letters, digits and `+=,.@_-`)."},
	{Name: "audience", Default: "sts.amazonaws.com", Description: "Audience of the OIDC token exchanged for AWS credentials."},
	{Name: "sts-endpoint", Description: "STS endpoint URL, for S3-compatible services such as MinIO. Empty uses AWS's."},
	{Name: "floxhub-token", Secret: true, Description: "FloxHub token; with it, each build is recorded in the FloxHub catalog."},
	{Name: "catalog-url", Default: "https://api.flox.dev", Description: "Base URL of the FloxHub catalog API."},
	{Name: "rebuild", Default: "false", Description: "`true` builds and publishes a package even when the catalog (FloxHub, or a `file://` store's index) already has it from this commit for this system; `false` reports it as already published without building it."},
	{Name: "publisher-timeout", Default: "30m", Description: "How long to wait for FloxHub to ingest the store paths when the catalog's store is Flox's own (store type `publisher`): a duration such as `45m` or `2h`, at most `6h`."},
	{Name: "check-version", Default: "true", Description: "On a version tag (`v1.2.3` or `1.2.3`), require every published build to have that version. `false` turns the check off."},
	{Name: "upstream-caches", ActionDefault: "https://cache.nixos.org https://cache.flox.dev", Description: "Binary caches (http or https URLs, separated by spaces or newlines) whose paths are not uploaded again: a path one of them serves, signed by a key in `upstream-keys`, is skipped, and consumers substitute it from there. Empty uploads the whole closure."},
	{Name: "upstream-keys", Default: "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY= flox-cache-public-1:7F4OyH7ZCnFhcze3fJdfyXYLQw/aV7GEed86nQ7IsOs=", Description: "Public keys (`NAME:BASE64`, separated by spaces or newlines) trusted for the paths of `upstream-caches`, as in nix.conf's `trusted-public-keys`."},
	{Name: "build-timeout", Default: "5h", Description: "Longest time one build (or version command) may run, as a Go duration (`90m`, `2h30m`); then every process it started is ended and the run fails naming the build. The default leaves an hour of a hosted runner's 6-hour job limit for the upload and the report."},
}

// Parse reads the inputs: from INPUT_* variables when the run is in
// Actions, else from args as --name=value flags. getenv also gives the
// AWS region variables aws-region falls back to.
func Parse(run workflow.Run, getenv func(string) string, args []string) (Config, error) {
	raw := map[string]string{}
	inActions := run.InActions
	if inActions {
		if len(args) > 0 {
			return Config{}, fmt.Errorf("unexpected arguments %q: in GitHub Actions, inputs come from the workflow's `with:`", args)
		}
		for _, in := range All {
			raw[in.Name] = getenv(EnvName(in.Name))
		}
	} else {
		fs := flag.NewFlagSet("flox-publish", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		vals := map[string]*string{}
		for _, in := range All {
			vals[in.Name] = fs.String(in.Name, "", in.Description)
		}
		if err := fs.Parse(args); err != nil {
			return Config{}, fmt.Errorf("%w (run with --help for the list of flags)", err)
		}
		if fs.NArg() > 0 {
			return Config{}, fmt.Errorf("unexpected argument %q: inputs are flags, such as --packages %s", fs.Arg(0), fs.Arg(0))
		}
		for name, v := range vals {
			raw[name] = *v
		}
	}
	p := parser{raw: raw, inActions: inActions}
	return p.config(run, getenv)
}

// EnvName is the variable the runner sets for an input.
func EnvName(name string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, " ", "_"))
}

// Usage writes the flags and what they do.
func Usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: flox-publish [--name value]...")
	fmt.Fprintln(w, "       flox-publish keygen --name NAME --out PATH")
	fmt.Fprintln(w, "       flox-publish --version")
	fmt.Fprintln(w, "\nPublishes the builds of a Flox environment to a Nix binary cache. Flags (the action's inputs):")
	for _, in := range All {
		def := ""
		if in.Default != "" {
			def = " (default " + in.Default + ")"
		}
		fmt.Fprintf(w, "  --%s%s\n      %s\n", in.Name, def, strings.ReplaceAll(in.Description, "`", ""))
	}
}

type parser struct {
	raw       map[string]string
	inActions bool
	errs      []error
}

func (p *parser) get(name string) string {
	v := strings.TrimSpace(p.raw[name])
	if v == "" {
		for _, in := range All {
			if in.Name == name {
				return in.Default
			}
		}
	}
	return v
}

func (p *parser) fail(name, format string, a ...any) {
	p.errs = append(p.errs, &Error{Input: name, Msg: fmt.Sprintf(format, a...), InActions: p.inActions})
}

// nixSettingFix is what to do about a Nix binary-cache setting on a store
// URL whose equivalent is an input.
func (p *parser) nixSettingFix(param, why string) string {
	fix, ok := map[string]Fix{
		"compression":       {Workflow: "use the action's `compression` input", Terminal: "use --compression"},
		"compression-level": {Workflow: "use the action's `compression-level` input", Terminal: "use --compression-level"},
		"secret-key":        {Workflow: "use the action's `signing-key` or `signing-key-file` input", Terminal: "use --signing-key-file"},
		"secret-keys":       {Workflow: "use the action's `signing-key` or `signing-key-file` input", Terminal: "use --signing-key-file"},
	}[param]
	switch {
	case !ok:
		return why
	case p.inActions:
		return fix.Workflow
	}
	return fix.Terminal
}

// name is how another input is written in a message: as in `with:` in
// Actions, as a flag in a terminal.
func (p *parser) name(input string) string {
	return Config{InActions: p.inActions}.Name(input)
}

func (p *parser) oneOf(name string, allowed ...string) string {
	v := strings.ToLower(p.get(name))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, "%q is not one of %s", p.get(name), strings.Join(allowed, ", "))
	return ""
}

// bool reads a true-or-false input.
func (p *parser) bool(name string) bool {
	switch strings.ToLower(p.get(name)) {
	case "true":
		return true
	case "false":
	default:
		p.fail(name, "%q is not true or false", p.get(name))
	}
	return false
}

// Error is a bad or missing input, phrased for where the run is: in
// Actions it names the input ("input signing-key: …") and its fix is a
// workflow snippet; in a terminal it names the flag ("--signing-key-file:
// …") and its fix is a shell command. Both forms of the fix are written
// where the error is made, so no message speaks workflow syntax in a
// terminal or flags in a workflow.
type Error struct {
	// Input is the input's name as action.yml declares it ("store-url").
	// A name already prefixed ("input store-url", "--store-url") is shown
	// as given and decides the phrasing; such errors predate Fix.
	Input string
	// Msg says what is wrong, in words that fit both places.
	Msg string
	// Fix says what to do, in both forms.
	Fix Fix
	// InActions selects the phrasing; Config.Errorf sets it.
	InActions bool
}

// Fix is what to do about an input error: Workflow in Actions (input
// names, `with:` snippets), Terminal in a terminal (flags, shell commands).
type Fix struct {
	Workflow string
	Terminal string
}

func (e *Error) Error() string {
	name, actions := e.Input, e.InActions
	if n, ok := strings.CutPrefix(name, "input "); ok {
		name, actions = n, true
	} else if n, ok := strings.CutPrefix(name, "--"); ok {
		name, actions = n, false
	}
	s := "--" + name + ": " + e.Msg
	fix := e.Fix.Terminal
	if actions {
		s = "input " + name + ": " + e.Msg
		fix = e.Fix.Workflow
	}
	if fix != "" {
		s += "; " + fix
	}
	return s
}

// Errorf returns an error about input name, phrased for where c was read.
func (c Config) Errorf(name string, fix Fix, format string, a ...any) *Error {
	return &Error{Input: name, Msg: fmt.Sprintf(format, a...), Fix: fix, InActions: c.InActions}
}

// Name is how an input is written where c was read: "signing-key" in
// Actions (as in `with:`), "--signing-key" in a terminal.
func (c Config) Name(input string) string {
	if c.InActions {
		return input
	}
	return "--" + input
}

// Set is the advice to give an input a value, as it is written where c
// was read: "set rebuild: true" in Actions, "pass --rebuild true" in a
// terminal.
func (c Config) Set(input, value string) string {
	if c.InActions {
		return "set " + input + ": " + value
	}
	return "pass --" + input + " " + value
}

// dryRunFix is the last resort of every "required to publish" error.
var dryRunFix = Fix{Workflow: "or set dry-run: true to build without publishing", Terminal: "or pass --dry-run true to build without publishing"}

// StoreURLRequired is the error of a publishing run that has nowhere to
// upload to. Its rule is store-url's description's.
func (c Config) StoreURLRequired() error {
	return c.Errorf("store-url", Fix{
		Workflow: "add store-url: s3://BUCKET?region=REGION (or file:///path) to the step's with:, " + dryRunFix.Workflow,
		Terminal: "pass --store-url 's3://BUCKET?region=REGION' or --store-url file:///path, " + dryRunFix.Terminal,
	}, "is required unless the run is a dry run or the catalog names the store")
}

// SigningKeyRequired is the error of a publishing run without a key.
func (c Config) SigningKeyRequired() error {
	name := "signing-key"
	if !c.InActions {
		// In a terminal the key is passed as a file: a flag's value is
		// visible to every user of the machine.
		name = "signing-key-file"
	}
	return c.Errorf(name, Fix{
		Workflow: "add signing-key: ${{ secrets.NIX_SIGNING_KEY }} to the step's with:, the secret holding a key made by `nix --extra-experimental-features nix-command key generate-secret --key-name NAME`, " + dryRunFix.Workflow,
		Terminal: "make a key with `go run . keygen --name NAME --out KEY` (or `nix --extra-experimental-features nix-command key generate-secret --key-name NAME > KEY.sec`) and pass --signing-key-file KEY.sec, " + dryRunFix.Terminal,
	}, "no signing key: publishing signs every store path with your secret key")
}

var (
	catalogRe      = regexp.MustCompile(`^[a-zA-Z0-9\-_]{3,63}$`)
	indexCatalogRe = regexp.MustCompile(`^[a-zA-Z0-9\-_]{1,63}$`)
	packageRe      = regexp.MustCompile(`^[a-zA-Z0-9.\-_]{1,128}$`)
	sessionNameRe  = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	roleARNRe      = regexp.MustCompile(`^arn:[a-z0-9-]+:iam:[a-z0-9-]*:[0-9]*:role/[\w+=,.@/-]+$`)
	regionRe       = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
	splitRe        = regexp.MustCompile(`[\s,]+`)
)

func (p *parser) config(run workflow.Run, getenv func(string) string) (Config, error) {
	c := Config{InActions: p.inActions}
	c.Dir = p.get("dir")

	for _, name := range splitRe.Split(p.get("packages"), -1) {
		if name == "" {
			continue
		}
		if !packageRe.MatchString(name) {
			p.fail("packages", "%q is not a package name (1 to 128 letters, digits and . - _)", name)
			continue
		}
		c.Packages = append(c.Packages, name)
	}

	c.Catalog = p.get("catalog")
	if c.Catalog == "" {
		c.Catalog = run.Owner
	}

	// The store URL is checked whole here, before anything is built.
	if raw := p.get("store-url"); raw != "" {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			p.fail("store-url", "%q carries credentials; give them through role-to-assume or the AWS environment instead", store.RedactURL(raw))
		} else if c.Store, err = store.ParseLocation(raw); err != nil {
			var ns *store.NixSettingError
			if errors.As(err, &ns) {
				ns.Fix = p.nixSettingFix(ns.Param, ns.Why)
			}
			p.fail("store-url", "%v", err)
		} else if c.Store.IsHTTP() {
			// Only a catalog names an http(s) store (FloxHub's own).
			c.Store = store.Location{}
			p.fail("store-url", "%s: scheme %q is not supported: use file:///absolute/path or s3://BUCKET[/PREFIX]?region=…", store.RedactURL(raw), strings.SplitN(raw, ":", 2)[0])
		}
	}

	c.SigningKey = strings.TrimSpace(p.raw["signing-key"])
	c.SigningKeyFile = p.get("signing-key-file")
	if c.SigningKey != "" && c.SigningKeyFile != "" {
		p.fail("signing-key", "%s is set too; give only one of the two", p.name("signing-key-file"))
	}

	c.DryRun = Mode(p.oneOf("dry-run", "auto", "true", "false"))
	c.Builder = p.oneOf("builder", "auto", "flox", "local")
	c.Compression = p.oneOf("compression", "zstd", "xz", "none")
	if n, err := strconv.Atoi(p.get("compression-level")); err != nil || n < 1 || n > 19 {
		p.fail("compression-level", "%q is not a zstd level from 1 (fastest) to 19 (smallest)", p.get("compression-level"))
	} else {
		c.Level = n
	}

	if n, err := strconv.Atoi(p.get("jobs")); err != nil || n < 1 || n > 256 {
		p.fail("jobs", "%q is not a number from 1 to 256", p.get("jobs"))
	} else {
		c.Jobs = n
	}
	c.GitHubToken = strings.TrimSpace(p.raw["github-token"])

	c.RoleToAssume = p.get("role-to-assume")
	if c.RoleToAssume != "" && !roleARNRe.MatchString(c.RoleToAssume) {
		p.fail("role-to-assume", "%q is not a role ARN such as arn:aws:iam::123456789012:role/flox-publish", c.RoleToAssume)
	}
	c.AWSRegion = p.get("aws-region")
	regionFrom := "aws-region"
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if c.AWSRegion == "" {
			c.AWSRegion, regionFrom = strings.TrimSpace(getenv(v)), v
		}
	}
	if c.AWSRegion == "" {
		c.AWSRegion = "us-east-1"
	}
	if !regionRe.MatchString(c.AWSRegion) {
		if regionFrom == "aws-region" {
			p.fail("aws-region", "%q is not a region name such as us-east-1", c.AWSRegion)
		} else {
			p.fail("aws-region", "is empty, and %s=%q is not a region name such as us-east-1", regionFrom, c.AWSRegion)
		}
	}
	c.RoleSessionName = p.get("role-session-name")
	if !sessionNameRe.MatchString(c.RoleSessionName) {
		p.fail("role-session-name", "%q must be 2 to 64 characters from letters, digits and +=,.@_-", c.RoleSessionName)
	}
	c.Audience = p.get("audience")
	c.STSEndpoint = p.get("sts-endpoint")
	if c.STSEndpoint != "" {
		if u, err := url.Parse(c.STSEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.fail("sts-endpoint", "%q is not an http(s) URL", c.STSEndpoint)
		}
	}

	c.FloxHubToken = strings.TrimSpace(p.raw["floxhub-token"])
	// FloxHub's rule for catalog names; without a token the name is only a
	// directory of the store's index, and the default (the repository
	// owner) may be shorter than FloxHub allows.
	switch {
	case c.Catalog == "":
	case c.FloxHubToken != "" && !catalogRe.MatchString(c.Catalog):
		p.fail("catalog", "%q is not a FloxHub catalog name (3 to 63 letters, digits, - and _)", c.Catalog)
	case !indexCatalogRe.MatchString(c.Catalog):
		p.fail("catalog", "%q is not a catalog name (1 to 63 letters, digits, - and _)", c.Catalog)
	}
	c.CatalogURL = p.get("catalog-url")
	if u, err := url.Parse(c.CatalogURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail("catalog-url", "%q is not an http(s) URL", c.CatalogURL)
	}
	for _, u := range strings.Fields(p.get("upstream-caches")) {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.User != nil {
			p.fail("upstream-caches", "%q is not an http(s) URL of a binary cache, such as https://cache.nixos.org", store.RedactURL(u))
			continue
		}
		c.UpstreamCaches = append(c.UpstreamCaches, strings.TrimSuffix(u, "/"))
	}
	for _, k := range strings.Fields(p.get("upstream-keys")) {
		if _, err := signature.ParsePublicKey(k); err != nil {
			p.fail("upstream-keys", "%q is not a public key NAME:BASE64 (as in nix.conf's trusted-public-keys): %v", k, err)
			continue
		}
		c.UpstreamKeys = append(c.UpstreamKeys, k)
	}
	if len(c.UpstreamCaches) > 0 && len(c.UpstreamKeys) == 0 {
		p.fail("upstream-keys", "is empty, so no path of upstream-caches can be trusted; give the caches' public keys, or set upstream-caches to empty")
	}

	c.Rebuild = p.bool("rebuild")
	if d, err := time.ParseDuration(p.get("publisher-timeout")); err != nil || d < time.Second || d > maxPublisherTimeout {
		p.fail("publisher-timeout", "%q is not a duration from 1s to 6h, such as 30m or 2h", p.get("publisher-timeout"))
	} else {
		c.PublisherTimeout = d
	}

	c.CheckVersion = p.bool("check-version")
	if d, err := time.ParseDuration(p.get("build-timeout")); err != nil || d < time.Second {
		p.fail("build-timeout", "%q is not a duration of a second or more, such as 90m or 2h30m", p.get("build-timeout"))
	} else {
		c.BuildTimeout = d
	}

	return c, errors.Join(p.errs...)
}

// LoadSigningKey reads the key from the signing-key input, or when that is
// empty from the file signing-key-file names, and phrases its errors for
// where the inputs were read (an *Error: the input's name and a
// workflow snippet in Actions, the flag and a shell command in a
// terminal). It returns (nil, nil) when neither is given: whether that is
// an error depends on the run (see SigningKeyRequired).
func (c Config) LoadSigningKey() (*signing.Key, error) {
	if c.SigningKey == "" && c.SigningKeyFile == "" {
		return nil, nil
	}
	regenerate := Fix{
		Workflow: "store the whole .sec file made by `nix --extra-experimental-features nix-command key generate-secret --key-name NAME` (or this action's keygen) as the secret",
		Terminal: "make a key with `go run . keygen --name NAME --out KEY` (or `nix --extra-experimental-features nix-command key generate-secret --key-name NAME > KEY.sec`) and pass --signing-key-file KEY.sec",
	}
	if c.SigningKey != "" {
		k, err := signing.Parse(c.SigningKey)
		if err != nil {
			return nil, c.Errorf("signing-key", regenerate, "%v", err)
		}
		return k, nil
	}
	data, err := os.ReadFile(c.SigningKeyFile)
	if err != nil {
		return nil, c.Errorf("signing-key-file", Fix{
			Workflow: "give the path of a file the workflow wrote before this step, relative to the workspace, or pass the key itself as signing-key: ${{ secrets.NIX_SIGNING_KEY }}",
			Terminal: "check the path, or " + regenerate.Terminal,
		}, "cannot read the key: %v", err)
	}
	k, err := signing.Parse(string(data))
	if err != nil {
		return nil, c.Errorf("signing-key-file", regenerate, "%s: %v", c.SigningKeyFile, err)
	}
	return k, nil
}
