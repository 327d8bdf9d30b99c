package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldError is one problem in a descriptor, located at a line and column.
type FieldError struct {
	File string
	Line int
	Col  int
	Path string // e.g. apps[1].policies[0].target, or apps[1].policies[cpu].target when named
	Msg  string
	raw  string // the descriptor path Path was made from
}

func (e *FieldError) Error() string {
	loc := e.File
	if loc == "" {
		loc = "<descriptor>"
	}
	if e.Path == "" {
		return fmt.Sprintf("%s:%d:%d: %s", loc, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", loc, e.Line, e.Col, e.Path, e.Msg)
}

// Errors is every problem found in a descriptor, in file order.
type Errors []*FieldError

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// maxDescriptor bounds what Parse reads: a descriptor is a few KiB, never megabytes.
const maxDescriptor = 4 << 20

// Load reads, checks and completes the descriptor at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read descriptor: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDescriptor+1))
	if err != nil {
		return nil, fmt.Errorf("read descriptor %s: %w", path, err)
	}
	cfg, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	for _, n := range cfg.Notes {
		slog.Warn("ignored", "note", n.Error())
	}
	return cfg, nil
}

// Parse checks and completes a descriptor. name is used in error messages. On
// failure the error is an Errors listing every problem found: the structural
// ones (unknown fields, ill-typed values) and the semantic ones of what could
// be read, sorted by position.
func Parse(name string, data []byte) (*Config, error) {
	if len(data) > maxDescriptor {
		return nil, Errors{{File: name, Line: 1, Col: 1, Msg: "descriptor larger than 4 MiB"}}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: name, Line: 1, Col: 1, Msg: "descriptor is empty"}}
		}
		return nil, Errors{syntaxError(name, err, data)}
	}
	w := &walker{file: name, pos: map[string]*yaml.Node{}}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		w.add(&extra, "", "only one YAML document is allowed")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if isCompose(root) {
		return parseCompose(w, root)
	}
	if !w.walk(root, reflect.TypeOf(Config{}), "") {
		return nil, w.sorted()
	}
	return w.finish(root, Config{})
}

// finish decodes the walked (and cleaned) tree over base, completes it and
// adds the semantic errors to the structural ones.
func (w *walker) finish(root *yaml.Node, base Config) (*Config, error) {
	cfg := base
	if err := root.Decode(&cfg); err != nil {
		// The walk checks and cleans every field, so this is a bug or an
		// exotic input; still report it where we can.
		w.errs = append(w.errs, syntaxError(w.file, err, nil))
		return nil, w.sorted()
	}
	cfg.File = w.file
	written := func(p string) bool { _, ok := w.pos[p]; return ok }
	for i := range cfg.Apps {
		cfg.Apps[i].defaultPredictive(fmt.Sprintf("apps[%d]", i), written)
	}
	cfg.SetDefaults()
	for _, p := range cfg.check() {
		if !w.hidden(p) {
			w.errAt(p.path, p.msg)
		}
	}
	if w.extra != nil {
		w.extra(&cfg)
	}
	if len(w.errs) > 0 {
		return nil, w.sorted()
	}
	cfg.Notes = sortedNotes(w.notes)
	return &cfg, nil
}

// hidden says whether a semantic problem follows from a structural error
// already reported: a field whose value was refused reads as its zero value,
// and "must be > 0" about it would only repeat the first error.
func (w *walker) hidden(p problem) bool {
	for _, path := range append([]string{p.path}, p.also...) {
		for t := range w.tainted {
			if path == t || strings.HasPrefix(path, t+".") || strings.HasPrefix(path, t+"[") {
				return true
			}
		}
	}
	return false
}

// parserProblems are the yaml library's parser (not scanner) errors. It
// reports their line 0-based (one line early: an unclosed { on line 42 is
// "line 41"), while scanner errors are 1-based.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'": true, "did not find expected ',' or '}'": true,
	"did not find expected '-' indicator": true, "did not find expected key": true,
	"did not find expected node content": true, "did not find expected <document start>": true,
	"did not find expected <stream-start>": true, "found duplicate %YAML directive": true,
	"found duplicate %TAG directive": true, "found incompatible YAML document": true,
	"found undefined tag handle": true,
}

// syntaxError turns a yaml library error ("yaml: line 3: ...") into a
// located error, on the line the problem is.
func syntaxError(file string, err error, data []byte) *FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line, col := 1, 1
	if strings.HasPrefix(msg, "line ") {
		rest := msg[len("line "):]
		if i := strings.Index(rest, ":"); i > 0 {
			if n, convErr := strconv.Atoi(rest[:i]); convErr == nil {
				line = n
				msg = strings.TrimSpace(rest[i+1:])
				if parserProblems[msg] {
					line++
				}
			}
		}
	}
	if strings.Contains(msg, "tab character") {
		// The library names the line of the enclosing block; the tab is
		// on that line or after it.
		lines := strings.Split(string(data), "\n")
		for i := line - 1; i >= 0 && i < len(lines); i++ {
			indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " \t"))]
			if j := strings.IndexByte(indent, '\t'); j >= 0 {
				line, col = i+1, j+1
				break
			}
		}
	}
	return &FieldError{File: file, Line: line, Col: col, Msg: msg}
}

// walker checks the YAML tree against the Go types before decoding, so that
// every unknown field and every ill-typed value is reported with its position,
// not only the first one.
type walker struct {
	file string
	errs Errors
	pos  map[string]*yaml.Node // path -> node, for semantic errors
	// tainted are the paths of structural errors: their values are dropped
	// before decoding, so semantic checks about them are not repeated.
	tainted map[string]bool
	// rename turns a path of the tree walked into the one the operator
	// wrote (a Compose file's), in messages; nil: the same.
	rename func(string) string
	// extra adds checks that need the decoded config.
	extra func(*Config)
	// notes are what was ignored (unused Compose keys).
	notes []*Note
	// aliases counts alias expansions: nested aliases can make a small file
	// expand exponentially ("billion laughs"), so there is a budget.
	aliases int
}

// maxAliases bounds alias expansions in one descriptor.
const maxAliases = 1000

func (w *walker) add(n *yaml.Node, path, msg string) {
	if w.tainted == nil {
		w.tainted = map[string]bool{}
	}
	w.tainted[path] = true
	w.errs = append(w.errs, &FieldError{File: w.file, Line: n.Line, Col: n.Column, Path: w.display(path), Msg: msg, raw: path})
}

// errAt reports msg at the node of path, or of its closest ancestor that exists.
func (w *walker) errAt(path, msg string) {
	p := path
	for {
		if n, ok := w.pos[p]; ok {
			w.errs = append(w.errs, &FieldError{File: w.file, Line: n.Line, Col: n.Column, Path: w.display(path), Msg: msg, raw: path})
			return
		}
		if p == "" {
			w.errs = append(w.errs, &FieldError{File: w.file, Line: 1, Col: 1, Path: w.display(path), Msg: msg, raw: path})
			return
		}
		p = parentPath(p)
	}
}

func (w *walker) display(path string) string {
	if w.rename == nil {
		return path
	}
	return w.rename(path)
}

func (w *walker) sorted() Errors {
	for _, e := range w.errs {
		w.namePolicy(e)
	}
	sort.SliceStable(w.errs, func(i, j int) bool {
		if w.errs[i].Line != w.errs[j].Line {
			return w.errs[i].Line < w.errs[j].Line
		}
		return w.errs[i].Col < w.errs[j].Col
	})
	return w.errs
}

// policyPath is the part of a descriptor path naming an app's policy.
var policyPath = regexp.MustCompile(`^(apps\[\d+\]\.policies)\[(\d+)\]`)

// namePolicy writes a named policy's name in e's path instead of its
// position (policies[cpu].target for policies[0].target), as every other
// message names it. Errors about the name itself keep the position, as do
// those of a name given twice.
func (w *walker) namePolicy(e *FieldError) {
	m := policyPath.FindStringSubmatch(e.raw)
	if m == nil || strings.HasPrefix(e.raw[len(m[0]):], ".name") {
		return
	}
	n, ok := w.pos[m[0]+".name"]
	if !ok || n.Kind != yaml.ScalarNode || !policyNameRE.MatchString(n.Value) {
		return
	}
	same := 0
	for k := 0; ; k++ {
		at := m[1] + "[" + strconv.Itoa(k) + "]"
		if _, ok := w.pos[at]; !ok {
			break
		}
		if o, ok := w.pos[at+".name"]; ok && o.Value == n.Value {
			same++
		}
	}
	if same > 1 {
		return
	}
	// The displayed path ends as the descriptor path does (a Compose
	// file's only differs in its prefix).
	tail := "policies[" + m[2] + "]" + e.raw[len(m[0]):]
	if strings.HasSuffix(e.Path, tail) {
		e.Path = strings.TrimSuffix(e.Path, tail) + PolicyLabel(0, n.Value) + e.raw[len(m[0]):]
	}
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// walk checks n against t, reporting every problem, and cleans the tree so
// that it decodes: unknown fields are removed, and it returns false when n
// itself is wrong, for the caller to replace it with null (the zero value).
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		w.aliases++
		if w.aliases > maxAliases {
			if w.aliases == maxAliases+1 {
				w.add(n, path, "too many YAML aliases")
			}
			return false
		}
		n = n.Alias
	}
	w.pos[path] = n
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return true // an empty value leaves the field at its zero value
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.add(n, path, err.Error())
			return false
		}
		return true
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.walk(n, t.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.add(n, path, "must be a mapping of fields")
			return false
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		kept := n.Content[:0:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				w.add(k, path, "YAML merge keys are not supported")
				continue
			}
			sub := join(path, k.Value)
			if seen[k.Value] {
				w.add(k, sub, "field given twice")
				continue
			}
			seen[k.Value] = true
			ft, ok := fields[k.Value]
			if !ok || k.Kind != yaml.ScalarNode {
				w.add(k, sub, "unknown field (known: "+strings.Join(sortedKeys(fields), ", ")+")")
				continue
			}
			if !w.walk(v, ft, sub) {
				v = nullLike(v)
			}
			kept = append(kept, k, v)
		}
		n.Content = kept
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.add(n, path, "must be a list")
			return false
		}
		for i, item := range n.Content {
			if !w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)) {
				n.Content[i] = nullLike(item)
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.add(n, path, "must be a mapping")
			return false
		}
		kept := n.Content[:0:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				w.add(k, path, "keys must be plain strings")
				continue
			}
			if !w.walk(v, t.Elem(), join(path, k.Value)) {
				v = nullLike(v)
			}
			kept = append(kept, k, v)
		}
		n.Content = kept
	default:
		if n.Kind != yaml.ScalarNode {
			w.add(n, path, "must be "+kindName(t))
			return false
		}
		if isFloat(t) {
			return w.number(n, path)
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.add(n, path, fmt.Sprintf("must be %s, not %q", kindName(t), n.Value))
			return false
		}
	}
	return true
}

// number checks a float field. A number may be quoted, as Compose writes
// cpus: '0.50'; it must be finite: a NaN target never scales, and YAML reads
// .nan and .inf in every spelling as numbers.
func (w *walker) number(n *yaml.Node, path string) bool {
	var f float64
	if n.Tag == "!!str" {
		// As Compose reads cpus: strconv.ParseFloat of the string.
		v, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			w.add(n, path, fmt.Sprintf("must be a number, not %q", n.Value))
			return false
		}
		f = v
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			// Decode the number it holds.
			n.Tag, n.Style, n.Value = "!!float", 0, strconv.FormatFloat(f, 'g', -1, 64)
		}
	} else if err := n.Decode(&f); err != nil {
		w.add(n, path, fmt.Sprintf("must be a number, not %q", n.Value))
		return false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.add(n, path, fmt.Sprintf("must be a finite number, not %q", n.Value))
		return false
	}
	return true
}

func isFloat(t reflect.Type) bool { return t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64 }

// nullLike is a null at n's position: the zero value of the field.
func nullLike(n *yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

// join appends a key to a path. A key that is not a plain word is quoted, so
// that a key holding a line break or a terminal escape cannot forge a line of
// the error message.
func join(path, key string) string {
	if !plainKey(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func plainKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:@", r)) {
			return false
		}
	}
	return true
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return "a " + t.Kind().String()
}

// yamlName is a struct field's YAML key as go.yaml.in/yaml reads it; false
// for fields it never reads (unexported, or tagged "-").
func yamlName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return "", false
	case "":
		return strings.ToLower(f.Name), true
	}
	return name, true
}

// yamlFields maps the YAML keys of a struct type to their field types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, ok := yamlName(f)
		if !ok {
			continue
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
