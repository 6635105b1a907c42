package docgen

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
)

// Key is one key of the workflow file, as the JSON Schema describes it.
type Key struct {
	Path        []string // e.g. steps, [], kubernetes, image
	Type        string
	Rules       []string // limits and constraints, in words
	Description string
	Example     any // the schema's first example
}

// Name is the key's dotted path: steps[].kubernetes.image.
func (k Key) Name() string { return strings.ReplaceAll(strings.Join(k.Path, "."), ".[]", "[]") }

// WorkflowKeys walks schema/runbook.schema.json in file order. Every key
// must have a description and an example: the reference shows both.
func WorkflowKeys(schema []byte) ([]Key, error) {
	var root yaml.MapSlice
	if err := yaml.UnmarshalWithOptions(schema, &root, yaml.UseOrderedMap()); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	w := &schemaWalker{root: root}
	w.object(nil, root)
	if len(w.errs) > 0 {
		return nil, fmt.Errorf("schema/runbook.schema.json:\n  %s", strings.Join(w.errs, "\n  "))
	}
	return w.keys, nil
}

type schemaWalker struct {
	root yaml.MapSlice
	keys []Key
	errs []string
}

func (w *schemaWalker) resolve(m yaml.MapSlice) yaml.MapSlice {
	for range 10 {
		ref, ok := sget(m, "$ref").(string)
		if !ok {
			return m
		}
		cur := w.root
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur, _ = sget(cur, part).(yaml.MapSlice)
		}
		// The referring node's own keys (a description) win over the target's.
		merged := yaml.MapSlice{}
		for _, it := range m {
			if it.Key != "$ref" {
				merged = append(merged, it)
			}
		}
		for _, it := range cur {
			if _, ok := slookup(merged, fmt.Sprint(it.Key)); !ok {
				merged = append(merged, it)
			}
		}
		m = merged
	}
	return m
}

func (w *schemaWalker) object(path []string, m yaml.MapSlice) {
	required := map[string]bool{}
	for _, r := range slist(sget(m, "required")) {
		required[fmt.Sprint(r)] = true
	}
	props, _ := sget(m, "properties").(yaml.MapSlice)
	for _, item := range props {
		name := fmt.Sprint(item.Key)
		raw, _ := item.Value.(yaml.MapSlice)
		p := w.resolve(raw)
		k := Key{Path: append(append([]string{}, path...), name), Description: strings.TrimSpace(fmt.Sprint(sget(p, "description")))}
		k.Type, k.Rules = w.describe(p)
		if required[name] {
			k.Rules = append([]string{"required"}, k.Rules...)
		}
		if sget(p, "description") == nil {
			w.errs = append(w.errs, k.Name()+" has no description")
		}
		if ex := slist(sget(raw, "examples")); len(ex) > 0 {
			k.Example = ex[0]
		} else if ex := slist(sget(p, "examples")); len(ex) > 0 {
			k.Example = ex[0]
		} else {
			w.errs = append(w.errs, k.Name()+` has no "examples": add one, it is shown in the workflow reference`)
		}
		w.keys = append(w.keys, k)
		if sget(p, "properties") != nil {
			w.object(k.Path, p)
		}
		if items, ok := sget(p, "items").(yaml.MapSlice); ok {
			if it := w.resolve(items); sget(it, "properties") != nil {
				w.object(append(k.Path, "[]"), it)
			}
		}
	}
}

// describe reads a schema node's type and constraints in words.
func (w *schemaWalker) describe(p yaml.MapSlice) (string, []string) {
	var rules []string
	if alts := slist(sget(p, "oneOf")); len(alts) > 0 {
		var types []string
		for _, a := range alts {
			am, _ := a.(yaml.MapSlice)
			t, r := w.describe(w.resolve(am))
			types = append(types, t)
			rules = append(rules, r...)
		}
		return strings.Join(types, ", or "), rules
	}
	t := typeWords(sget(p, "type"))
	if items, ok := sget(p, "items").(yaml.MapSlice); ok {
		it := w.resolve(items)
		if sget(it, "properties") != nil {
			t = "list of mappings"
		} else {
			it, _ := w.describe(it)
			t = "list of " + it
		}
	}
	if t == "mapping" || t == "mapping or null" {
		if ap, ok := sget(p, "additionalProperties").(yaml.MapSlice); ok {
			at, _ := w.describe(ap)
			t = strings.Replace(t, "mapping", "mapping of names to "+at, 1)
		}
	}
	add := func(key, format string) {
		if v := sget(p, key); v != nil {
			rules = append(rules, fmt.Sprintf(format, v))
		}
	}
	add("minItems", "at least %v")
	add("maxItems", "at most %v")
	add("minimum", "from %v")
	add("maximum", "to %v")
	add("minLength", "at least %v character(s)")
	add("maxLength", "at most %v characters")
	if sget(p, "uniqueItems") == true {
		rules = append(rules, "no duplicates")
	}
	add("pattern", "matches `%v`")
	if pn, ok := sget(p, "propertyNames").(yaml.MapSlice); ok {
		if pat := sget(pn, "pattern"); pat != nil {
			rules = append(rules, fmt.Sprintf("names match `%v`", pat))
		}
	}
	return t, rules
}

func typeWords(v any) string {
	names := map[string]string{"string": "string", "number": "number", "integer": "integer", "boolean": "boolean",
		"object": "mapping", "array": "list", "null": "null"}
	var ts []string
	switch x := v.(type) {
	case string:
		ts = []string{x}
	case []any:
		for _, e := range x {
			ts = append(ts, fmt.Sprint(e))
		}
	}
	if len(ts) == 0 {
		return "any"
	}
	// string/number/boolean is the workflow's "text": values read as written.
	if len(ts) >= 3 && ts[0] == "string" && ts[1] == "number" && ts[2] == "boolean" {
		return "text"
	}
	words := make([]string, len(ts))
	for i, t := range ts {
		words[i] = names[t]
	}
	return strings.Join(words, " or ")
}

// ExampleYAML is k's example in the smallest workflow that shows where it
// goes. Steps around it are named build (and test, when full is set, for a
// document that also validates: depends_on examples may name test).
func ExampleYAML(k Key, full bool) ([]byte, error) {
	var doc any = k.Example
	for i := len(k.Path) - 1; i >= 0; i-- {
		seg := k.Path[i]
		if seg == "[]" {
			m, _ := doc.(yaml.MapSlice)
			if _, ok := slookup(m, "name"); !ok {
				m = append(yaml.MapSlice{{Key: "name", Value: "build"}}, m...)
			}
			steps := []any{m}
			if full && len(k.Path) > 2 {
				steps = append([]any{yaml.MapSlice{{Key: "name", Value: "test"}, {Key: "command", Value: "make test"}}}, steps...)
			}
			doc = steps
			continue
		}
		doc = yaml.MapSlice{{Key: seg, Value: doc}}
	}
	if full && k.Path[0] != "steps" {
		doc = append(doc.(yaml.MapSlice), yaml.MapItem{Key: "steps", Value: []any{yaml.MapSlice{{Key: "name", Value: "build"}}}})
	}
	return yaml.MarshalWithOptions(doc, yaml.IndentSequence(true))
}

// Workflow renders the workflow reference.
func Workflow(schema []byte) ([]byte, error) {
	keys, err := WorkflowKeys(schema)
	if err != nil {
		return nil, err
	}
	var root yaml.MapSlice
	if err := yaml.UnmarshalWithOptions(schema, &root, yaml.UseOrderedMap()); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Workflow reference\n\n")
	p("<!-- Generated from schema/runbook.schema.json by `go run ./cmd/runbook docs-gen`; do not edit. -->\n\n")
	p("%s The schema of this page is [runbook.schema.json](runbook.schema.json); editors that speak yaml-language-server complete and check the file with it. `runbook validate FILE` prints every problem with its line and column.\n\n", sget(root, "description"))
	p("*text* is a string, number or boolean, read as written: `1.50` stays `\"1.50\"`.\n\n")
	p("## Keys\n\n| key | type | rules |\n|---|---|---|\n")
	for _, k := range keys {
		p("| [`%s`](#%s) | %s | %s |\n", k.Name(), keyAnchor(k), k.Type, cell(strings.Join(k.Rules, "; ")))
	}
	p("\n")
	for _, k := range keys {
		ex, err := ExampleYAML(k, false)
		if err != nil {
			return nil, fmt.Errorf("%s: example: %w", k.Name(), err)
		}
		p("<a id=\"%s\"></a>\n\n## `%s`\n\n", keyAnchor(k), k.Name())
		p("%s\n\n", k.Description)
		p("Type: %s.", k.Type)
		if len(k.Rules) > 0 {
			p(" Rules: %s.", strings.Join(k.Rules, "; "))
		}
		p("\n\n```yaml\n%s```\n\n", ex)
	}
	p("%s", stepEnvironment)
	return b.Bytes(), nil
}

func keyAnchor(k Key) string {
	return "key-" + strings.NewReplacer(".", "-", "[]", "").Replace(strings.ReplaceAll(k.Name(), "_", "-"))
}

func slookup(m yaml.MapSlice, key string) (any, bool) {
	for _, item := range m {
		if fmt.Sprint(item.Key) == key {
			return item.Value, true
		}
	}
	return nil, false
}

func sget(m yaml.MapSlice, key string) any { v, _ := slookup(m, key); return v }

func slist(v any) []any { l, _ := v.([]any); return l }

// stepEnvironment is what the executors give every step (see
// internal/executor/local and the scheduler's StepEnv).
const stepEnvironment = `## What a step gets

Each step runs as ` + "`bash --noprofile --norc -e -o pipefail -c COMMAND`" + ` (` + "`sh -e`" + ` where bash is missing, said in the step's log) in the run's workspace, in a process group of its own, with a clean environment:

| variable | value |
|---|---|
| ` + "`PATH`, `HOME`" + `, the locale | the runner's |
| the workflow's ` + "`global.env`" + ` and the step's ` + "`env`" + ` | as written; the step's win |
| ` + "`CI`, `RUNBOOK`" + ` | ` + "`true`" + ` |
| ` + "`RUNBOOK_RUN_ID`, `RUNBOOK_STEP`, `RUNBOOK_ATTEMPT`" + ` | the run, the step's name, the attempt from 1 |
| ` + "`RUNBOOK_WORKSPACE`" + ` | the absolute path of the workspace |
| ` + "`RUNBOOK_REPO_URL`, `RUNBOOK_REPO_SHA`, `RUNBOOK_REPO_REF`, `RUNBOOK_REPO_TOKEN`" + ` | runs from a forge only: what ` + "`repo_cloner`" + ` needs to check the commit out |

Values of variables whose name contains ` + "`TOKEN`, `SECRET`, `PASSWORD`, `PASSWD` or `KEY`" + ` are masked as ` + "`***`" + ` in the step's log.

The ` + "`if`" + ` expression sees ` + "`branch`, `event`, `sha`, `repo`" + ` (from the forge, or ` + "`runbook run --var`" + `), ` + "`env.NAME`" + `, and ` + "`steps.NAME.status`" + ` of the steps it depends on.
`
