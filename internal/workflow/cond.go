package workflow

import (
	"fmt"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

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
	src  string
	prog *vm.Program
}

// CompileCond compiles an `if` expression; it must evaluate to a bool.
func CompileCond(src string) (*Cond, error) {
	prog, err := expr.Compile(src, expr.Env(condEnv{}), expr.AsBool())
	if err != nil {
		return nil, err
	}
	return &Cond{src: src, prog: prog}, nil
}

// String returns the expression's source.
func (c *Cond) String() string { return c.src }

// Eval evaluates c. steps maps step names to their current status.
func (c *Cond) Eval(v Vars, steps map[string]StepInfo) (bool, error) {
	out, err := expr.Run(c.prog, condEnv{Env: v.Env, Branch: v.Branch, Event: v.Event, SHA: v.SHA, Repo: v.Repo, Steps: steps})
	if err != nil {
		return false, fmt.Errorf("if %q: %w", c.src, err)
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("if %q: evaluated to %T, not a bool", c.src, out)
	}
	return b, nil
}
