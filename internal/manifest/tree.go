package manifest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// The manifest is read in two passes. go-toml's decoder is the authority on
// TOML itself (syntax, duplicate keys, tables defined twice); its errors
// carry a line and column. Then go-toml's unstable parser, which keeps byte
// ranges, builds a tree of values that remember where their keys and values
// are, so that schema errors found later point at the offending text too.

type kind int

const (
	kindTable kind = iota
	kindArray
	kindString
	kindInteger
	kindFloat
	kindBool
	kindDatetime
)

var kindNames = [...]string{kindTable: "a table", kindArray: "a list", kindString: "a string", kindInteger: "an integer",
	kindFloat: "a float", kindBool: "a boolean", kindDatetime: "a date/time"}

func (k kind) String() string { return kindNames[k] }

// value is a TOML value with the offset where it starts in the file.
type value struct {
	kind kind
	off  int

	str     string // a string, or the text of a float or a date/time
	boolean bool
	integer int64

	entries []*entry // tables, in the order their keys first appear
	index   map[string]*entry

	elems         []*value // arrays
	arrayOfTables bool     // an array made by [[header]]
}

// entry is one key of a table; keyOff is where that key is first written.
type entry struct {
	key    string
	keyOff int
	val    *value
}

func newTable(off int) *value {
	return &value{kind: kindTable, off: off, index: map[string]*entry{}}
}

func (t *value) get(key string) *entry { return t.index[key] }

func (t *value) add(key string, keyOff int, v *value) *entry {
	e := &entry{key: key, keyOff: keyOff, val: v}
	t.entries = append(t.entries, e)
	t.index[key] = e
	return e
}

// parseTOML checks data is valid TOML and returns its tree, and the same
// as plain Go data (to compare builds with the lock's). The tree is built
// first: that pass is linear, counts keys and sees ctx, so that the
// decoder's check, which is quadratic in the number of keys, runs only on
// data within MaxManifestKeys.
func parseTOML(ctx context.Context, src *source) (*value, map[string]any, error) {
	b := treeBuilder{src: src}
	root, treeErr := b.build(ctx)
	if b.keys > MaxManifestKeys || ctx.Err() != nil {
		return nil, nil, treeErr
	}
	var plain map[string]any
	if err := toml.Unmarshal(src.data, &plain); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, col := de.Position()
			return nil, nil, &Error{
				Pos: src.pos(src.offsetOf(line, col)),
				Msg: "invalid TOML: " + strings.TrimPrefix(de.Error(), "toml: "),
			}
		}
		return nil, nil, &Error{Pos: Position{File: src.file}, Msg: "invalid TOML: " + err.Error()}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", src.file, err)
	}
	return root, plain, treeErr
}

func (b *treeBuilder) build(ctx context.Context) (*value, error) {
	src := b.src
	root := newTable(0)
	cur := root
	p := unstable.Parser{}
	p.Reset(src.data)
	for n := 0; p.NextExpression(); n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("parse %s: %w", src.file, err)
			}
		}
		expr := p.Expression()
		var err error
		switch expr.Kind {
		case unstable.KeyValue:
			err = b.keyValue(cur, expr)
		case unstable.Table, unstable.ArrayTable:
			cur, err = b.header(root, expr, expr.Kind == unstable.ArrayTable)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := p.Error(); err != nil {
		var pe *unstable.ParserError
		if errors.As(err, &pe) && len(pe.Highlight) > 0 {
			return nil, src.errorf(int(p.Range(pe.Highlight).Offset), "invalid TOML: %s", pe.Message)
		}
		return nil, &Error{Pos: Position{File: src.file}, Msg: "invalid TOML: " + err.Error()}
	}
	return root, nil
}

type treeBuilder struct {
	src  *source
	keys int
}

type keyPart struct {
	name string
	off  int
}

// descend returns the table named by part inside t, creating it when absent.
// An array of tables stands for its last element, as TOML specifies.
func (b *treeBuilder) descend(t *value, part keyPart) (*value, error) {
	e := t.get(part.name)
	if e == nil {
		return t.add(part.name, part.off, newTable(part.off)).val, nil
	}
	switch {
	case e.val.kind == kindTable:
		return e.val, nil
	case e.val.kind == kindArray && e.val.arrayOfTables && len(e.val.elems) > 0:
		return e.val.elems[len(e.val.elems)-1], nil
	}
	return nil, b.src.errorf(part.off, "invalid TOML: key %q is already %s, not a table", part.name, e.val.kind)
}

// parent counts the parts of n's key, refusing one key too many, and
// returns the table that holds the last part, creating the tables on the
// way, and that last part.
func (b *treeBuilder) parent(t *value, n *unstable.Node) (*value, keyPart, error) {
	var last keyPart
	var err error
	for it, i := n.Key(), 0; it.Next(); i++ {
		if i > 0 {
			if t, err = b.descend(t, last); err != nil {
				return nil, keyPart{}, err
			}
		}
		last = keyPart{name: string(it.Node().Data), off: int(it.Node().Raw.Offset)}
		if b.keys++; b.keys > MaxManifestKeys {
			return nil, keyPart{}, b.src.errorf(last.off, "the manifest has more than %d keys, the most this action reads (real ones have at most a few hundred): remove what is not needed to publish", MaxManifestKeys)
		}
	}
	return t, last, nil
}

func (b *treeBuilder) header(root *value, n *unstable.Node, array bool) (*value, error) {
	t, last, err := b.parent(root, n)
	if err != nil {
		return nil, err
	}
	if !array {
		return b.descend(t, last)
	}
	e := t.get(last.name)
	if e == nil {
		e = t.add(last.name, last.off, &value{kind: kindArray, off: last.off, arrayOfTables: true})
	}
	if e.val.kind != kindArray || !e.val.arrayOfTables {
		return nil, b.src.errorf(last.off, "invalid TOML: key %q is already %s, not an array of tables", last.name, e.val.kind)
	}
	elem := newTable(last.off)
	e.val.elems = append(e.val.elems, elem)
	return elem, nil
}

func (b *treeBuilder) keyValue(t *value, n *unstable.Node) error {
	t, last, err := b.parent(t, n)
	if err != nil {
		return err
	}
	if t.get(last.name) != nil {
		return b.src.errorf(last.off, "invalid TOML: key %q is defined twice", last.name)
	}
	v, err := b.value(n.Value(), b.valueStart(n))
	if err != nil {
		return err
	}
	t.add(last.name, last.off, v)
	return nil
}

// valueStart finds where the value of a key/value node starts: go-toml
// records no range for arrays, so it is found after the key and the '='.
func (b *treeBuilder) valueStart(n *unstable.Node) int {
	end := 0
	for it := n.Key(); it.Next(); {
		end = int(it.Node().Raw.Offset + it.Node().Raw.Length)
	}
	rest := bytes.TrimLeft(b.src.data[end:], " \t")
	rest = bytes.TrimLeft(bytes.TrimPrefix(rest, []byte("=")), " \t")
	return len(b.src.data) - len(rest)
}

func (b *treeBuilder) value(n *unstable.Node, off int) (*value, error) {
	if n.Raw.Length > 0 {
		off = int(n.Raw.Offset)
	}
	v := &value{off: off, str: string(n.Data)}
	var err error
	switch n.Kind {
	case unstable.String:
		v.kind = kindString
	case unstable.Bool:
		v.kind, v.boolean = kindBool, v.str == "true"
	case unstable.Integer:
		// go-toml checked the syntax, which Go's own integer syntax
		// covers (0x, 0o, 0b, underscores); only the range is left.
		v.kind = kindInteger
		if v.integer, err = strconv.ParseInt(v.str, 0, 64); err != nil {
			return nil, b.src.errorf(off, "invalid TOML: integer %s is out of range", v.str)
		}
	case unstable.Float:
		v.kind = kindFloat
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		v.kind = kindDatetime
	case unstable.Array, unstable.InlineTable:
		if v.kind = kindArray; n.Kind == unstable.InlineTable {
			v = newTable(off)
		}
		for it := n.Children(); it.Next() && err == nil; {
			switch c := it.Node(); {
			case c.Kind == unstable.Comment:
			case v.kind == kindTable:
				if c.Kind == unstable.KeyValue {
					err = b.keyValue(v, c)
				}
			default:
				// A nested array has no range of its own: it inherits the
				// position of the array holding it.
				var elem *value
				elem, err = b.value(c, off)
				v.elems = append(v.elems, elem)
			}
		}
		if err != nil {
			return nil, err
		}
	default:
		return nil, b.src.errorf(off, "invalid TOML: unexpected %s", n.Kind)
	}
	return v, nil
}
