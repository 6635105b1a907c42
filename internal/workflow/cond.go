package workflow

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Limits on `if` expressions. With no loops allowed (see condBuiltins) and
// string concatenation capped, evaluation time and memory are linear in the
// expression's size, so a hostile workflow cannot stall the engine.
const (
	MaxCondSize      = 4 << 10  // bytes of expression source
	MaxCondNodes     = 1000     // expr AST nodes
	MaxCondConcat    = 64 << 10 // longest string `+` may build
	condMemoryBudget = 100_000  // expr VM allocation budget (range sizes etc.)
)

// condBuiltins are the expr builtins an `if` may call. Everything that loops
// (all, any, filter, map, reduce...) or multiplies memory (repeat, join,
// replace, split...) is left out: conditions only need to compare a few
// strings.
var condBuiltins = []string{
	"len", "lower", "upper", "trim", "trimPrefix", "trimSuffix",
	"hasPrefix", "hasSuffix", "indexOf", "lastIndexOf",
	"abs", "int", "float", "string", "type",
}

// Vars are what an `if` expression can read besides step statuses:
//
//	env.NAME, branch, event, sha, repo, steps.NAME.status (or steps["a name"].status)
type Vars struct {
	Env    map[string]string `json:"env,omitempty"` // the run's global env (plus --env)
	Branch string            `json:"branch,omitempty"`
	Event  string            `json:"event,omitempty"` // push, pull_request, manual, ...
	SHA    string            `json:"sha,omitempty"`
	Repo   string            `json:"repo,omitempty"`
}

// StepInfo is what `steps.NAME` exposes to an expression.
type StepInfo struct {
	Status string `expr:"status"`
}

// condEnv is the typed environment expressions are checked and run against.
type condEnv struct {
	Env    map[string]string   `expr:"env"`
	Branch string              `expr:"branch"`
	Event  string              `expr:"event"`
	SHA    string              `expr:"sha"`
	Repo   string              `expr:"repo"`
	Steps  map[string]StepInfo `expr:"steps"`
}

// Cond is a compiled `if` expression.
type Cond struct {
	src   string
	prog  *vm.Program
	steps []string // step names read via steps.NAME, sorted, unique
}

// CondError is a compile error located inside the expression (1-based
// column within the expression's source; 0 when unknown).
type CondError struct {
	Col int
	Msg string
}

func (e *CondError) Error() string {
	if e.Col > 0 {
		return fmt.Sprintf("%s (at column %d of the expression)", e.Msg, e.Col)
	}
	return e.Msg
}

// CompileCond compiles an `if` expression; it must evaluate to a bool.
// Errors are *CondError.
func CompileCond(src string) (*Cond, error) {
	if len(src) > MaxCondSize {
		return nil, &CondError{Msg: fmt.Sprintf("expression is %d bytes long; the limit is %d", len(src), MaxCondSize)}
	}
	opts := []expr.Option{
		expr.Env(condEnv{}),
		expr.AsBool(),
		expr.MaxNodes(MaxCondNodes),
		expr.DisableAllBuiltins(),
		// `+` on two strings goes through concat, which caps the result.
		expr.Function("concat", concat, new(func(string, string) string)),
		expr.Operator("+", "concat"),
	}
	for _, b := range condBuiltins {
		opts = append(opts, expr.EnableBuiltin(b))
	}
	prog, err := compile(src, opts)
	if err != nil {
		return nil, condError(err)
	}
	steps, err := stepRefs(prog.Node())
	if err != nil {
		return nil, err
	}
	return &Cond{src: src, prog: prog, steps: steps}, nil
}

// compile runs expr.Compile, turning a panic inside expr into an error:
// conditions come from untrusted files and must never crash the parser.
func compile(src string, opts []expr.Option) (prog *vm.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot compile expression: %v", r)
		}
	}()
	return expr.Compile(src, opts...)
}

func condError(err error) *CondError {
	ce := &CondError{Msg: err.Error()}
	var fe *file.Error
	if errors.As(err, &fe) {
		ce = &CondError{Col: fe.Column + 1, Msg: fe.Message}
	}
	if strings.HasPrefix(ce.Msg, "expected bool") {
		ce.Msg = "the expression must be true or false: " + ce.Msg
	}
	return ce
}

func concat(params ...any) (any, error) {
	a, b := params[0].(string), params[1].(string)
	if len(a)+len(b) > MaxCondConcat {
		return nil, fmt.Errorf("string concatenation longer than %d bytes", MaxCondConcat)
	}
	return a + b, nil
}

// stepRefs lists the step names node reads. It rejects any other use of
// `steps` (a computed index, `steps` on its own, `$env`), because then the
// validator could not tell which statuses the expression depends on.
func stepRefs(node ast.Node) ([]string, error) {
	v := &refVisitor{named: map[ast.Node]bool{}, seen: map[string]bool{}}
	ast.Walk(&node, v)
	for _, id := range v.ids {
		if !v.named[id] {
			v.fail(id, `steps can only be read as steps.NAME.status (or steps["a name"].status)`)
		}
	}
	if v.err != nil {
		return nil, v.err
	}
	sort.Strings(v.refs)
	return v.refs, nil
}

type refVisitor struct {
	named map[ast.Node]bool // `steps` identifiers used as steps.NAME
	ids   []*ast.IdentifierNode
	seen  map[string]bool
	refs  []string
	err   *CondError
}

// Visit is called children first, so a MemberNode is seen after its
// `steps` identifier; identifiers are therefore checked in a second step.
func (v *refVisitor) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.MemberNode:
		id, ok := x.Node.(*ast.IdentifierNode)
		if !ok || id.Value != "steps" {
			return
		}
		name, ok := x.Property.(*ast.StringNode)
		if !ok {
			v.fail(x, `steps must be indexed by a step's name written out, as in steps.build.status or steps["my step"].status`)
			return
		}
		v.named[id] = true
		if !v.seen[name.Value] {
			v.seen[name.Value] = true
			v.refs = append(v.refs, name.Value)
		}
	case *ast.BuiltinNode:
		// expr parses predicates (all, map, reduce...) whatever
		// DisableAllBuiltins says, so the allowlist is enforced here too.
		if !slices.Contains(condBuiltins, x.Name) {
			v.fail(x, fmt.Sprintf("%s() is not available in conditions (available: %s)", x.Name, strings.Join(condBuiltins, ", ")))
		}
	case *ast.IdentifierNode:
		if x.Value == "steps" {
			v.ids = append(v.ids, x)
		}
		if x.Value == "$env" {
			v.fail(x, "$env is not available in conditions; use env, branch, event, sha, repo or steps.NAME.status")
		}
	}
}

func (v *refVisitor) fail(n ast.Node, msg string) {
	if v.err == nil {
		v.err = &CondError{Col: n.Location().From + 1, Msg: msg}
	}
}

// String returns the expression's source.
func (c *Cond) String() string { return c.src }

// Steps returns the names of the steps whose status the expression reads,
// sorted. The validator checks they are all dependencies of the step.
func (c *Cond) Steps() []string { return append([]string(nil), c.steps...) }

// Eval evaluates c. steps maps step names to their current status; every
// step in c.Steps() should be present. Eval never panics.
func (c *Cond) Eval(v Vars, steps map[string]StepInfo) (bool, error) {
	machine := vm.VM{MemoryBudget: condMemoryBudget}
	env := condEnv{Env: v.Env, Branch: v.Branch, Event: v.Event, SHA: v.SHA, Repo: v.Repo, Steps: steps}
	out, err := machine.Run(c.prog, env)
	if err != nil {
		// expr's own message carries a multi-line source snippet; keep one line.
		var fe *file.Error
		if errors.As(err, &fe) {
			return false, fmt.Errorf("if %q: %s", c.src, fe.Message)
		}
		return false, fmt.Errorf("if %q: %w", c.src, err)
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("if %q: evaluated to %T, not a bool", c.src, out)
	}
	return b, nil
}
