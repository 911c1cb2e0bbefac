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
	"regexp"
	"strconv"
	"strings"
	"time"
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
	StoreURL       string
	SigningKey     string // secret: the key's contents
	SigningKeyFile string
	DryRun         Mode
	Builder        string // auto, flox, local
	Compression    string // zstd, xz, none
	Level          int    // zstd level, 1–19
	Jobs           int
	GitHubToken    string // secret

	// S3 and OIDC.
	AWSRoleARN         string
	AWSRegion          string
	AWSRoleSessionName string
	OIDCAudience       string
	STSEndpoint        string

	// Catalog.
	FloxHubToken string // secret
	CatalogURL   string

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
	// The key's base64 half is the secret; mask it on its own too, in case
	// something prints it without its name.
	if _, data, ok := strings.Cut(c.SigningKey, ":"); ok && data != "" {
		s = append(s, data)
	}
	return s
}

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
	{Name: "dry-run", Default: string(DryRunAuto), Description: "`true` builds and signs but uploads nothing; `false` publishes; `auto` is a dry run on pull_request, pull_request_target and merge_group events. Pull-request events are always dry runs."},
	{Name: "builder", Default: "auto", Description: "`flox` runs `flox build`; `local` runs each build's command with bash and imports `$out` as a content-addressed store path; `auto` uses flox when it is on PATH."},
	{Name: "compression", Default: "zstd", Description: "Compression of NAR files in the cache: `zstd`, `xz` or `none`."},
	{Name: "compression-level", Default: "3", Description: "zstd level, counted as zstd counts them: 1–2 is fastest (files about 8% larger), 3–5 matches the size of `nix copy`'s files, 6–9 and 10–19 compress harder and slower. Only zstd has levels."},
	{Name: "jobs", Default: "4", Description: "Number of store paths processed in parallel."},
	{Name: "github-token", Secret: true, Description: "Token used to check that the commit exists in the repository on GitHub.", ActionDefault: "${{ github.token }}"},
	{Name: "aws-role-arn", Description: "IAM role to assume with the workflow's OIDC token (needs `permissions: id-token: write`). Without it, the AWS SDK's default credentials are used."},
	{Name: "aws-region", Default: "us-east-1", Description: "AWS region of the STS endpoint and of the bucket when `store-url` names none."},
	{Name: "aws-role-session-name", Default: "flox-publish", Description: "Session name for the assumed role (2–64 characters from letters, digits and `+=,.@_-`)."},
	{Name: "oidc-audience", Default: "sts.amazonaws.com", Description: "Audience of the OIDC token exchanged for AWS credentials."},
	{Name: "sts-endpoint", Description: "STS endpoint URL, for S3-compatible services such as MinIO. Empty uses AWS's."},
	{Name: "floxhub-token", Secret: true, Description: "FloxHub token; with it, each build is recorded in the FloxHub catalog."},
	{Name: "catalog-url", Default: "https://api.flox.dev", Description: "Base URL of the FloxHub catalog API."},
	{Name: "check-version", Default: "true", Description: "On a version tag (`v1.2.3` or `1.2.3`), require every published build to have that version. `false` turns the check off."},
	{Name: "build-timeout", Default: "5h", Description: "Longest time one build (or version command) may run, as a Go duration (`90m`, `2h30m`); then every process it started is ended and the run fails naming the build. The default leaves an hour of a hosted runner's 6-hour job limit for the upload and the report."},
}

// Parse reads the inputs: from INPUT_* variables when GITHUB_ACTIONS is
// "true", else from args as --name=value flags.
func Parse(getenv func(string) string, args []string) (Config, error) {
	raw := map[string]string{}
	inActions := getenv("GITHUB_ACTIONS") == "true"
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
	return p.config(getenv)
}

// EnvName is the variable the runner sets for an input.
func EnvName(name string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, " ", "_"))
}

// Usage writes the flags and what they do.
func Usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: flox-publish [--name value]...")
	fmt.Fprintln(w, "       flox-publish keygen --name NAME --out PATH")
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

// label is how an input is named in messages: "input store-url" in Actions,
// "--store-url" in a terminal.
func (p *parser) label(name string) string {
	if p.inActions {
		return "input " + name
	}
	return "--" + name
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
	p.errs = append(p.errs, &Error{Input: p.label(name), Msg: fmt.Sprintf(format, a...)})
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

// Error is a bad input value.
type Error struct {
	Input string
	Msg   string
}

func (e *Error) Error() string { return e.Input + ": " + e.Msg }

var (
	catalogRe     = regexp.MustCompile(`^[a-zA-Z0-9\-_]{3,63}$`)
	packageRe     = regexp.MustCompile(`^[a-zA-Z0-9.\-_]{1,128}$`)
	sessionNameRe = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	roleARNRe     = regexp.MustCompile(`^arn:[a-z0-9-]+:iam:[a-z0-9-]*:[0-9]*:role/[\w+=,.@/-]+$`)
	regionRe      = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
	splitRe       = regexp.MustCompile(`[\s,]+`)
)

func (p *parser) config(getenv func(string) string) (Config, error) {
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
	if c.Catalog == "" && p.inActions {
		c.Catalog = getenv("GITHUB_REPOSITORY_OWNER")
	}
	if c.Catalog != "" && !catalogRe.MatchString(c.Catalog) {
		p.fail("catalog", "%q is not a catalog name (3 to 63 letters, digits, - and _)", c.Catalog)
	}

	c.StoreURL = p.get("store-url")
	if c.StoreURL != "" {
		if u, err := url.Parse(c.StoreURL); err != nil || (u.Scheme != "s3" && u.Scheme != "file") {
			p.fail("store-url", "%q is not a store URL; use s3://BUCKET[/PREFIX]?region=… or file:///absolute/path", redactURL(c.StoreURL))
		} else if u.User != nil {
			p.fail("store-url", "%q carries credentials; give them through aws-role-arn or the AWS environment instead", redactURL(c.StoreURL))
		}
	}

	c.SigningKey = strings.TrimSpace(p.raw["signing-key"])
	c.SigningKeyFile = p.get("signing-key-file")
	if c.SigningKey != "" && c.SigningKeyFile != "" {
		p.fail("signing-key", "both signing-key and signing-key-file are set; give only one")
	}

	c.DryRun = Mode(p.oneOf("dry-run", "auto", "true", "false"))
	c.Builder = p.oneOf("builder", "auto", "flox", "local")
	c.Compression = p.oneOf("compression", "zstd", "xz", "none")
	if n, err := strconv.Atoi(p.get("compression-level")); err != nil || n < 1 || n > 19 {
		p.fail("compression-level", "%q is not a zstd level from 1 (fastest) to 19 (smallest)", p.get("compression-level"))
	} else {
		c.Level = n
	}

	if n, err := strconv.Atoi(p.get("jobs")); err != nil || n < 1 || n > 64 {
		p.fail("jobs", "%q is not a number from 1 to 64", p.get("jobs"))
	} else {
		c.Jobs = n
	}
	c.GitHubToken = strings.TrimSpace(p.raw["github-token"])

	c.AWSRoleARN = p.get("aws-role-arn")
	if c.AWSRoleARN != "" && !roleARNRe.MatchString(c.AWSRoleARN) {
		p.fail("aws-role-arn", "%q is not a role ARN such as arn:aws:iam::123456789012:role/flox-publish", c.AWSRoleARN)
	}
	c.AWSRegion = p.get("aws-region")
	if !regionRe.MatchString(c.AWSRegion) {
		p.fail("aws-region", "%q is not a region name such as us-east-1", c.AWSRegion)
	}
	c.AWSRoleSessionName = p.get("aws-role-session-name")
	if !sessionNameRe.MatchString(c.AWSRoleSessionName) {
		p.fail("aws-role-session-name", "%q must be 2 to 64 characters from letters, digits and +=,.@_-", c.AWSRoleSessionName)
	}
	c.OIDCAudience = p.get("oidc-audience")
	c.STSEndpoint = p.get("sts-endpoint")
	if c.STSEndpoint != "" {
		if u, err := url.Parse(c.STSEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.fail("sts-endpoint", "%q is not an http(s) URL", c.STSEndpoint)
		}
	}

	c.FloxHubToken = strings.TrimSpace(p.raw["floxhub-token"])
	c.CatalogURL = p.get("catalog-url")
	if u, err := url.Parse(c.CatalogURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail("catalog-url", "%q is not an http(s) URL", c.CatalogURL)
	}
	switch strings.ToLower(p.get("check-version")) {
	case "true":
		c.CheckVersion = true
	case "false":
	default:
		p.fail("check-version", "%q is not true or false", p.get("check-version"))
	}
	if d, err := time.ParseDuration(p.get("build-timeout")); err != nil || d < time.Second {
		p.fail("build-timeout", "%q is not a duration of a second or more, such as 90m or 2h30m", p.get("build-timeout"))
	} else {
		c.BuildTimeout = d
	}

	return c, errors.Join(p.errs...)
}

// redactURL hides a password in a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
