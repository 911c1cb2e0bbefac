package manifest

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
)

// decoder turns the tree of a manifest into a Manifest, checking every key
// against the schema the manifest declares and recording each problem with
// the position of the key or value at fault.
type decoder struct {
	src    *source
	schema SchemaVersion
	errs   ErrorList
}

func (d *decoder) fail(off int, format string, args ...any) {
	if len(d.errs) < maxErrors {
		d.errs = append(d.errs, d.src.errorf(off, format, args...))
	}
}

// path names a key for messages, e.g. build.hello.version or
// include.environments[0].dir; "" is the top level.
type path string

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// child names key k of p, quoted unless it is a bare key.
func (p path) child(k string) path {
	if !bareKey.MatchString(k) {
		k = fmt.Sprintf("%q", k)
	}
	if p == "" {
		return path(k)
	}
	return p + "." + path(k)
}

// table names the table p for messages.
func (p path) table() string {
	switch {
	case p == "":
		return "the top level of the manifest"
	case strings.Contains(string(p), "["):
		return string(p)
	}
	return "[" + string(p) + "]"
}

// field is one key a table accepts, from schema `since` on.
type field struct {
	name  string
	since SchemaVersion
	set   func(e *entry, p path)
	// hidden keeps the key out of the "allowed" list of messages.
	hidden bool
}

// fields decodes table t at p: each key must be one of fs, allowed in this
// manifest's schema.
func (d *decoder) fields(t *value, p path, fs []field) {
	for _, e := range t.entries {
		i := slices.IndexFunc(fs, func(f field) bool { return f.name == e.key })
		switch {
		case i < 0:
			d.unknownKey(e, p, fs)
		case fs[i].since > d.schema:
			d.tooNew(e.keyOff, string(p.child(e.key)), fs[i].since)
		default:
			fs[i].set(e, p.child(e.key))
		}
	}
}

func (d *decoder) unknownKey(e *entry, p path, fs []field) {
	var names []string
	for _, f := range fs {
		if f.since <= d.schema && !f.hidden {
			names = append(names, f.name)
		}
	}
	msg := fmt.Sprintf("unknown key %q in %s", e.key, p.table())
	if len(names) > 0 {
		msg += fmt.Sprintf(" (allowed: %s)", strings.Join(names, ", "))
	}
	if s := suggest(e.key, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	d.fail(e.keyOff, "%s", msg)
}

func (d *decoder) tooNew(off int, what string, since SchemaVersion) {
	d.fail(off, "%s needs schema-version %q or later, but this manifest declares %s: raise the schema version or remove %s",
		what, since.String(), d.schema.declaration(), what)
}

// suggest returns the name closest to k when it is close enough to be a
// typo: at most two edits, and not more than a third of the key.
func suggest(k string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if dist := editDistance(strings.ToLower(k), n); dist < bestDist && dist*3 <= len(k) {
			best, bestDist = n, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// Typed accessors: each reports a wrong type at the value and returns ok=false.

func (d *decoder) wrongType(v *value, p path, want string) {
	d.fail(v.off, "%s must be %s, not %s", p, want, v.kind)
}

func (d *decoder) str(e *entry, p path) (string, bool) {
	if e.val.kind != kindString {
		d.wrongType(e.val, p, "a string")
		return "", false
	}
	return e.val.str, true
}

func (d *decoder) table(e *entry, p path) *value {
	if e.val.kind != kindTable {
		d.wrongType(e.val, p, "a table")
		return nil
	}
	return e.val
}

func (d *decoder) strList(e *entry, p path) []string {
	if e.val.kind != kindArray {
		d.wrongType(e.val, p, `a list of strings, like ["a", "b"]`)
		return nil
	}
	out := make([]string, 0, len(e.val.elems))
	for i, el := range e.val.elems {
		if el.kind != kindString {
			d.wrongType(el, path(fmt.Sprintf("%s[%d]", p, i)), "a string")
			continue
		}
		out = append(out, el.str)
	}
	return out
}

// optStr decodes an optional string into *dst.
func (d *decoder) optStr(dst *string) func(*entry, path) {
	return func(e *entry, p path) {
		if s, ok := d.str(e, p); ok {
			*dst = s
		}
	}
}

func (d *decoder) optBool(dst **bool) func(*entry, path) {
	return func(e *entry, p path) {
		if e.val.kind != kindBool {
			d.wrongType(e.val, p, "true or false")
			return
		}
		b := e.val.boolean
		*dst = &b
	}
}

func (d *decoder) optList(dst *[]string) func(*entry, path) {
	return func(e *entry, p path) { *dst = d.strList(e, p) }
}

// decodeManifest checks root against the schema it declares.
func decodeManifest(src *source, root *value, plain map[string]any) (*Manifest, error) {
	d := &decoder{src: src}
	m := &Manifest{Path: src.file, vars: map[string]string{}, buildPos: src.pos(0)}
	if !d.declaredSchema(root) {
		return nil, d.errs.err()
	}
	m.Schema = d.schema

	// The tables publishing does not read are Flox's business: only their
	// shape is checked, so that a typo'd top-level key is still caught.
	table := func(e *entry, p path) { d.table(e, p) }
	fs := []field{
		{name: "version", hidden: d.schema != SchemaV1, set: func(*entry, path) {}},
		{name: "schema-version", hidden: d.schema == SchemaV1, set: func(e *entry, _ path) {
			if d.schema == SchemaV1 { // version wins, as in Flox
				d.fail(e.keyOff, "the manifest sets both version and schema-version: keep only schema-version")
			}
		}},
		{name: "minimum-cli-version", since: Schema1_10_0, set: func(e *entry, p path) {
			if e.val.kind != kindString && e.val.kind != kindTable {
				d.wrongType(e.val, p, `a version string or { version = "X.Y.Z", reason = "..." }`)
			}
		}},
		{name: "install", set: func(e *entry, p path) { m.Install = each(d, e, p, d.pkg) }},
		{name: "vars", set: func(e *entry, p path) {
			if t := d.table(e, p); t != nil {
				for _, ve := range t.entries {
					if s, ok := d.str(ve, p.child(ve.key)); ok {
						m.vars[ve.key] = s
					}
				}
			}
		}},
		{name: "hook", set: table},
		{name: "profile", set: table},
		{name: "options", set: func(e *entry, p path) { m.Options = d.options(e, p) }},
		{name: "services", set: table},
		{name: "build", set: func(e *entry, p path) {
			m.buildPos = d.src.pos(e.keyOff)
			m.builds = each(d, e, p, d.build)
			m.buildData, _ = plain["build"].(map[string]any)
		}},
		{name: "containerize", set: table},
		{name: "include", set: func(e *entry, p path) { m.includes = d.include(e, p) }},
		{name: "plugins", since: Schema1_14_0, set: table},
	}
	d.fields(root, "", fs)
	d.checkRuntimePackages(m, root)

	slices.SortStableFunc(d.errs, func(a, b *Error) int { return cmp.Or(a.Pos.Line-b.Pos.Line, a.Pos.Col-b.Pos.Col) })
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	return m, nil
}

// declaredSchema reads `version = 1` or `schema-version = "X.Y.Z"`. Like
// Flox, `version` wins when both are present.
func (d *decoder) declaredSchema(root *value) bool {
	latest := LatestSchema.String()
	switch v, sv := root.get("version"), root.get("schema-version"); {
	case v != nil && v.val.kind != kindInteger:
		d.fail(v.val.off, `version must be the integer 1 (version = 1), not %s; newer manifests use schema-version = %q instead`, v.val.kind, latest)
	case v != nil && v.val.integer != 1:
		d.fail(v.val.off, `version = %d is not a manifest version Flox knows: use version = 1 or schema-version = %q`, v.val.integer, latest)
	case v != nil:
		d.schema = SchemaV1
	case sv == nil:
		d.fail(0, `the manifest declares no schema: add schema-version = %q (or version = 1) at the top`, latest)
	case sv.val.kind != kindString:
		d.fail(sv.val.off, `schema-version must be a version string like %q, not %s`, latest, sv.val.kind)
	default:
		var ok bool
		if d.schema, ok = parseSchemaVersion(sv.val.str); !ok {
			d.fail(sv.val.off, `schema-version %q is not a schema this action knows (known: "1.10.0" to %q, or version = 1); if a newer Flox wrote it, update this action`, sv.val.str, latest)
		}
	}
	return d.schema != 0
}

// each decodes every entry of table e with one, keeping those it accepts.
func each[T any](d *decoder, e *entry, p path, one func(*entry, path) (T, bool)) []T {
	var out []T
	if t := d.table(e, p); t != nil {
		for _, te := range t.entries {
			if v, ok := one(te, p.child(te.key)); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

func (d *decoder) pkg(e *entry, p path) (Package, bool) {
	pkg := Package{InstallID: e.key, Pos: d.src.pos(e.keyOff)}
	t := e.val
	if t.kind != kindTable {
		d.fail(t.off, `%s must be a package descriptor such as { pkg-path = "hello" }, not %s`, p, t.kind)
		return pkg, false
	}
	var sources []*entry
	for _, k := range []string{"pkg-path", "flake", "store-path"} {
		if se := t.get(k); se != nil {
			sources = append(sources, se)
		}
	}
	if len(sources) == 0 {
		d.fail(e.keyOff, `%s needs one of pkg-path (a catalog package), flake (a flake installable) or store-path`, p)
		return pkg, false
	} else if len(sources) > 1 {
		d.fail(sources[1].keyOff, `%s sets both %s and %s: a package comes from exactly one of pkg-path, flake or store-path`, p, sources[0].key, sources[1].key)
		return pkg, false
	}
	priority := field{name: "priority", set: func(e *entry, p path) {
		if e.val.kind != kindInteger || e.val.integer < 0 {
			d.fail(e.val.off, "%s must be a whole number from 0 to %d", p, uint64(math.MaxUint64))
			return
		}
		n := uint64(e.val.integer)
		pkg.Priority = &n
	}}
	systems := field{name: "systems", set: d.optList(&pkg.Systems)}
	outputs := field{name: "outputs", since: Schema1_10_0, set: func(e *entry, p path) { pkg.Outputs = d.outputs(e, p) }}
	switch sources[0].key {
	case "pkg-path":
		pkg.Kind = KindCatalog
		d.fields(t, p, []field{
			{name: "pkg-path", set: d.optStr(&pkg.PkgPath)},
			{name: "pkg-group", set: d.optStr(&pkg.PkgGroup)},
			priority,
			{name: "version", set: d.optStr(&pkg.Version)},
			systems,
			outputs,
		})
	case "flake":
		pkg.Kind = KindFlake
		d.fields(t, p, []field{{name: "flake", set: d.optStr(&pkg.Flake)}, priority, systems, outputs})
	case "store-path":
		pkg.Kind = KindStorePath
		d.fields(t, p, []field{{name: "store-path", set: d.optStr(&pkg.StorePath)}, systems, priority})
	}
	return pkg, true
}

func (d *decoder) outputs(e *entry, p path) *Outputs {
	switch e.val.kind {
	case kindString:
		if e.val.str == "all" {
			return &Outputs{All: true}
		}
	case kindArray:
		return &Outputs{Names: d.strList(e, p)}
	}
	d.fail(e.val.off, `%s must be "all" or a list of output names like ["out", "man"]`, p)
	return nil
}

// sub decodes a nested table with fields fs.
func (d *decoder) sub(fs ...field) func(*entry, path) {
	return func(e *entry, p path) {
		if t := d.table(e, p); t != nil {
			d.fields(t, p, fs)
		}
	}
}

func (d *decoder) options(e *entry, p path) (o Options) {
	d.sub(
		field{name: "systems", set: d.optList(&o.Systems)},
		field{name: "allow", set: d.sub(
			field{name: "unfree", set: d.optBool(&o.Allow.Unfree)},
			field{name: "broken", set: d.optBool(&o.Allow.Broken)},
			field{name: "licenses", set: d.optList(&o.Allow.Licenses)},
		)},
		field{name: "semver", set: d.sub(field{name: "allow-pre-releases", set: d.optBool(&o.Semver.AllowPreReleases)})},
		field{name: "cuda-detection", set: d.optBool(&o.CUDADetection)},
		field{name: "activate", set: d.sub(field{name: "mode", set: func(e *entry, p path) {
			if s, ok := d.str(e, p); ok && s != "dev" && s != "run" {
				d.fail(e.val.off, `%s = %q is not one of "dev", "run"`, p, s)
			} else if ok {
				o.Activate.Mode = s
			}
		}})},
	)(e, p)
	return o
}

// include checks that [include] holds only its list of environments, and
// reports whether it names any.
func (d *decoder) include(e *entry, p path) bool {
	t := d.table(e, p)
	if t == nil {
		return false
	}
	for _, ie := range t.entries {
		if ie.key == "environments" {
			if ie.val.kind != kindArray {
				d.wrongType(ie.val, p.child(ie.key), `a list of { dir = "PATH" } or { remote = "owner/name" } tables`)
			}
			continue
		}
		msg := fmt.Sprintf("unknown key %q in %s (allowed: environments)", ie.key, p.table())
		// The mistake seen in the wild: naming an included environment as
		// a key of [include] instead of listing it.
		if ie.val.kind == kindString {
			ref := "dir"
			if s := ie.val.str; strings.Count(s, "/") == 1 && !strings.HasPrefix(s, ".") && !strings.HasPrefix(s, "/") {
				ref = "remote"
			}
			msg += fmt.Sprintf(`; to include an environment, list it: environments = [{ %s = %q, name = %q }]`, ref, ie.val.str, ie.key)
		}
		d.fail(ie.keyOff, "%s", msg)
	}
	envs := t.get("environments")
	return envs != nil && len(envs.val.elems) > 0
}
