package workflow

// Vars are what an `if` expression can read:
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

// Cond is a compiled `if` expression.
type Cond struct {
	// filled in by CompileCond
}

// CompileCond compiles an `if` expression; it must evaluate to a bool.
func CompileCond(src string) (*Cond, error) { panic("TODO") }

// Eval evaluates c. steps maps step names to their current status.
func (c *Cond) Eval(v Vars, steps map[string]StepInfo) (bool, error) { panic("TODO") }
