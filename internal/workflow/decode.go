package workflow

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/goccy/go-yaml/ast"
)

// MaxRetries is the most `retries` may ask for.
const MaxRetries = 10

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// decoder turns the YAML AST into a Workflow, reporting every problem.
type decoder struct {
	nodes
	meta  []stepMeta       // aligned with Workflow.Steps
	conds map[string]*Cond // compiled once per distinct `if`: Cond is immutable
}

// stepMeta keeps the positions the graph checks report at.
type stepMeta struct {
	named   bool // the step has a usable name
	nameAt  Pos
	depsAt  []Pos // one per DependsOn entry
	ifAt    Pos
	ifValid bool
}

func (d *decoder) workflow(root ast.Node, wf *Workflow) {
	r := d.resolve(root)
	if r == nil {
		return
	}
	if !isMapping(r) {
		d.errs.add(root, "a workflow must be a mapping with `name`, `global` and `steps`, not %s", kind(r))
		return
	}
	hasSteps := false
	for _, e := range d.entries(r, "the workflow") {
		switch e.key {
		case "name":
			if v := d.resolve(e.val); v != nil {
				if _, null := v.(*ast.NullNode); !null {
					wf.Name, _ = d.text(e, v, "the workflow's name")
				}
			}
		case "global":
			d.global(e, wf)
		case "steps":
			hasSteps = true
			d.steps(e, wf)
		default:
			d.errs.add(e.keyNode, "%s", unknownKey(e.key, "the workflow", topKeys))
		}
	}
	if !hasSteps {
		d.errs.add(r, "the workflow has no `steps:`: add a list of steps, each with a name and a command")
	}
}

func (d *decoder) global(e entry, wf *Workflow) {
	v := d.resolve(e.val)
	switch {
	case v == nil:
		return
	case isNull(v):
		return
	case !isMapping(v):
		d.errs.add(e.val, "global must be a mapping (with `env`), not %s", kind(v))
		return
	}
	for _, g := range d.entries(v, "global") {
		if g.key != "env" {
			d.errs.add(g.keyNode, "%s", unknownKey(g.key, "global", globalKeys))
			continue
		}
		wf.Env = d.env(g, "global.env")
	}
}

func (d *decoder) steps(e entry, wf *Workflow) {
	v := d.resolve(e.val)
	if v == nil {
		return
	}
	seq, ok := v.(*ast.SequenceNode)
	switch {
	case isNull(v) || ok && len(seq.Values) == 0:
		d.errs.add(e.keyNode, "steps is empty: add at least one step, such as `- name: build` with a `command`")
		return
	case !ok:
		d.errs.add(e.val, "steps must be a list of steps (each starting with `- name: ...`), not %s", kind(v))
		return
	case len(seq.Values) > MaxSteps:
		d.errs.add(e.keyNode, "the workflow has %d steps; the limit is %d: split it into several workflows", len(seq.Values), MaxSteps)
		return
	}
	for i, item := range seq.Values {
		at := pos(item)
		if i < len(seq.Entries) && seq.Entries[i] != nil && seq.Entries[i].Start != nil {
			at = pos(seq.Entries[i])
		}
		s, m := d.step(item, at)
		if d.over {
			return
		}
		wf.Steps = append(wf.Steps, s)
		d.meta = append(d.meta, m)
	}
}

func (d *decoder) step(item ast.Node, at Pos) (Step, stepMeta) {
	s := Step{Pos: at}
	m := stepMeta{}
	v := d.resolve(item)
	if v == nil {
		return s, m
	}
	if !isMapping(v) {
		d.errs.addAt(at, "each step must be a mapping with `name` and `command`, not %s", kind(v))
		return s, m
	}
	entries := d.entries(v, "a step")
	// Read the name first so every other message can say which step.
	where := fmt.Sprintf("step %d", len(d.meta)+1)
	for _, e := range entries {
		if e.key == "name" {
			m.nameAt = pos(e.val)
			s.Name, m.named = d.stepName(e)
			if m.named {
				where = fmt.Sprintf("step %q", s.Name)
			}
		}
	}
	hasName := false
	for _, e := range entries {
		switch e.key {
		case "name":
			hasName = true
		case "env":
			s.Env = d.env(e, where+" env")
		case "command":
			s.Command = d.command(e, where)
		case "depends_on":
			s.DependsOn, m.depsAt = d.dependsOn(e, where)
		case "if":
			m.ifAt = pos(e.val)
			s.If, s.Cond = d.cond(e, where)
			m.ifValid = s.Cond != nil
		case "timeout":
			s.Timeout = d.timeout(e, where)
		case "retries":
			s.Retries = d.retries(e, where)
		case "continue_on_error":
			s.ContinueOnError = d.boolean(e, where)
		case "runs_on":
			s.RunsOn = d.runsOn(e, where)
		case "kubernetes":
			s.Kubernetes = d.kubernetes(e, where)
		case "network":
			s.Network = d.network(e, where)
		default:
			d.errs.add(e.keyNode, "%s", unknownKey(e.key, where, stepKeys))
		}
	}
	if !hasName {
		d.errs.addAt(at, "%s has no name: add `name: ...` (names are how depends_on and if refer to steps)", where)
	}
	return s, m
}

// text reads a scalar value as text; v is e.val resolved.
func (d *decoder) text(e entry, v ast.Node, what string) (string, bool) {
	s, ok := scalarText(v)
	if !ok {
		d.errs.add(e.val, "%s must be a string, not %s", what, kind(v))
	}
	return s, ok
}

func (d *decoder) stepName(e entry) (string, bool) {
	v := d.resolve(e.val)
	if v == nil {
		return "", false
	}
	name, ok := d.text(e, v, "a step's name")
	switch {
	case !ok:
		return "", false
	case strings.TrimSpace(name) == "":
		d.errs.add(e.val, "a step's name must not be empty")
		return "", false
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		d.errs.add(e.val, "step name %q must be a single line without control characters", name)
		return "", false
	}
	return name, true
}

func (d *decoder) command(e entry, where string) string {
	v := d.resolve(e.val)
	if v == nil {
		return ""
	}
	if isNull(v) {
		d.errs.add(e.keyNode, "%s has an empty command: write the shell commands to run after `command:`", where)
		return ""
	}
	cmd, ok := d.text(e, v, where+": command")
	if ok && strings.TrimSpace(cmd) == "" {
		d.errs.add(e.val, "%s has an empty command: write the shell commands to run after `command:`", where)
	}
	return cmd
}

// env reads a NAME: value mapping. Numbers and bools are kept as written.
func (d *decoder) env(e entry, where string) map[string]string {
	v := d.resolve(e.val)
	if v == nil || isNull(v) {
		return nil
	}
	if !isMapping(v) {
		d.errs.add(e.val, "%s must be a mapping of NAME: value, not %s", where, kind(v))
		return nil
	}
	out := map[string]string{}
	for _, kv := range d.entries(v, where) {
		if !envName.MatchString(kv.key) {
			d.errs.add(kv.keyNode, "invalid environment variable name %q in %s: use letters, digits and _, not starting with a digit", kv.key, where)
			continue
		}
		val := d.resolve(kv.val)
		if val == nil {
			continue
		}
		if isNull(val) {
			d.errs.add(kv.keyNode, "%s has no value in %s: write %s: \"\" for an empty string", kv.key, where, kv.key)
			continue
		}
		s, ok := scalarText(val)
		if !ok {
			d.errs.add(kv.val, "%s in %s must be a string, number or bool, not %s; quote it to pass it as text", kv.key, where, kind(val))
			continue
		}
		out[kv.key] = s
	}
	return out
}

// dependsOn takes a list of step names, or a single name for convenience
// (`depends_on: build`), as GitHub Actions' `needs` does.
func (d *decoder) dependsOn(e entry, where string) ([]string, []Pos) {
	v := d.resolve(e.val)
	if v == nil || isNull(v) {
		return nil, nil
	}
	items := []ast.Node{e.val}
	if seq, ok := v.(*ast.SequenceNode); ok {
		items = seq.Values
	}
	var names []string
	var at []Pos
	for _, item := range items {
		iv := d.resolve(item)
		if iv == nil {
			continue
		}
		s, ok := scalarText(iv)
		if !ok || strings.TrimSpace(s) == "" {
			d.errs.add(item, "%s: depends_on must list step names, but this entry is %s", where, describe(iv, s))
			continue
		}
		names = append(names, s)
		at = append(at, pos(item))
	}
	return names, at
}

func describe(v ast.Node, text string) string {
	if _, ok := scalarText(v); ok {
		return fmt.Sprintf("%q", text)
	}
	return kind(v)
}

func (d *decoder) cond(e entry, where string) (string, *Cond) {
	v := d.resolve(e.val)
	if v == nil {
		return "", nil
	}
	src, ok := scalarText(v)
	if !ok || strings.TrimSpace(src) == "" {
		d.errs.add(e.val, "%s: if must be an expression such as 'branch == \"main\"', not %s; remove `if` to always run the step", where, describe(v, src))
		return src, nil
	}
	if c, ok := d.conds[src]; ok {
		return src, c
	}
	c, err := CompileCond(src)
	if err != nil {
		d.errs.add(e.val, "%s: invalid if: %v", where, err)
		return src, nil
	}
	if d.conds == nil {
		d.conds = map[string]*Cond{}
	}
	d.conds[src] = c
	return src, c
}

func (d *decoder) timeout(e entry, where string) time.Duration {
	v := d.resolve(e.val)
	if v == nil {
		return 0
	}
	s, ok := scalarText(v)
	switch v.(type) {
	case *ast.IntegerNode, *ast.FloatNode:
		if strings.Trim(s, "0.+-") == "" {
			d.errs.add(e.val, "%s: timeout must be more than 0; remove it for no timeout", where)
		} else {
			d.errs.add(e.val, "%s: timeout needs a unit: write %ss or %sm, not %s", where, s, s, s)
		}
		return 0
	}
	if !ok {
		d.errs.add(e.val, "%s: timeout must be a duration such as 90s or 10m, not %s", where, kind(v))
		return 0
	}
	t, err := time.ParseDuration(s)
	if err != nil {
		d.errs.add(e.val, "%s: timeout must be a duration such as 90s, 10m or 1h30m, not %q", where, s)
		return 0
	}
	if t <= 0 {
		d.errs.add(e.val, "%s: timeout must be more than 0, not %q; remove it for no timeout", where, s)
		return 0
	}
	return t
}

func (d *decoder) retries(e entry, where string) int {
	v := d.resolve(e.val)
	if v == nil {
		return 0
	}
	var n int64
	var ok bool
	if i, isInt := v.(*ast.IntegerNode); isInt {
		switch x := i.Value.(type) {
		case int64:
			n, ok = x, true
		case uint64: // goccy's type for non-negative integers
			n, ok = int64(min(x, MaxRetries+1)), true
		}
	}
	s, _ := scalarText(v)
	switch {
	case !ok || n < 0:
		d.errs.add(e.val, "%s: retries must be a whole number ≥ 0 (at most %d), not %s", where, MaxRetries, describe(v, s))
		return 0
	case n > MaxRetries:
		d.errs.add(e.val, "%s: retries must be at most %d, not %s", where, MaxRetries, s)
		return 0
	}
	return int(n)
}

func (d *decoder) boolean(e entry, where string) bool {
	v := d.resolve(e.val)
	if v == nil {
		return false
	}
	b, ok := v.(*ast.BoolNode)
	if !ok {
		s, _ := scalarText(v)
		d.errs.add(e.val, "%s: %s must be true or false, not %s", where, e.key, describe(v, s))
		return false
	}
	return b.Value
}

// network reads `network:`, default or none; "" stands for default.
func (d *decoder) network(e entry, where string) string {
	v := d.resolve(e.val)
	if v == nil {
		return ""
	}
	s, ok := scalarText(v)
	switch {
	case ok && s == "none":
		return s
	case ok && s == "default":
		return ""
	}
	d.errs.add(e.val, "%s: network must be default or none (none leaves the step only loopback), not %s", where, describe(v, s))
	return ""
}

// Label keys and values: what a worker's --labels can carry, kept to a
// set that needs no quoting in a flag, a log line or a reason.
var (
	labelKey   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62})$`)
	labelValue = regexp.MustCompile(`^[A-Za-z0-9._/-]{0,63}$`)
)

// ValidLabel checks one label=value pair: a key of letters, digits and
// ._/- (starting with a letter or digit, up to 63 characters), and a value
// of the same characters, possibly empty.
func ValidLabel(k, v string) error {
	if !labelKey.MatchString(k) {
		return fmt.Errorf("invalid label name %q: use letters, digits and ._/-, starting with a letter or digit, at most 63 characters", k)
	}
	if !labelValue.MatchString(v) {
		return fmt.Errorf("invalid value %q of label %q: use letters, digits and ._/-, at most 63 characters", v, k)
	}
	return nil
}

// runsOn reads a label: value mapping (`runs_on: {arch: arm64}`).
func (d *decoder) runsOn(e entry, where string) map[string]string {
	v := d.resolve(e.val)
	if v == nil || isNull(v) {
		return nil
	}
	if !isMapping(v) {
		d.errs.add(e.val, "%s: runs_on must be a mapping of label: value (e.g. {arch: arm64}), not %s", where, kind(v))
		return nil
	}
	out := map[string]string{}
	for _, kv := range d.entries(v, where+" runs_on") {
		val := d.resolve(kv.val)
		if val == nil {
			continue
		}
		s, ok := scalarText(val)
		if !ok || isNull(val) {
			d.errs.add(kv.val, "label %s in %s runs_on must be a string, number or bool, not %s", kv.key, where, kind(val))
			continue
		}
		if err := ValidLabel(kv.key, s); err != nil {
			d.errs.add(kv.keyNode, "%s runs_on: %v", where, err)
			continue
		}
		out[kv.key] = s
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func isNull(x ast.Node) bool {
	_, ok := x.(*ast.NullNode)
	return ok
}
