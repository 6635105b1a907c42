// Package workflow holds the .runbook.yml model: parsing with positions,
// validation that reports every problem at once, the step DAG, and the
// compiled `if` conditions. It does no I/O beyond the bytes it is given.
package workflow

import (
	"fmt"
	"strings"
	"time"
)

// Limits on what Parse accepts. They protect the server from hostile files.
const (
	MaxFileSize = 1 << 20 // 1 MiB
	MaxSteps    = 1000
)

// Workflow is one parsed and validated .runbook.yml.
type Workflow struct {
	File   string            // the name used in error messages, e.g. ".runbook.yml"
	Source []byte            // the exact bytes the workflow was parsed from
	Name   string            // `name`
	Env    map[string]string // `global.env`
	Steps  []Step            // in file order
}

// Step is one entry of `steps`.
type Step struct {
	Name            string
	Env             map[string]string // the step's own `env` (not merged with global)
	Command         string
	DependsOn       []string
	If              string        // the raw expression; "" means always
	Cond            *Cond         // compiled If; nil when If is ""
	Timeout         time.Duration // 0 means no timeout
	Retries         int           // extra attempts after the first failure
	ContinueOnError bool
	// RunsOn is the labels a worker must carry to run the step (`runs_on:`);
	// nil means any worker.
	RunsOn map[string]string `json:",omitempty"`
	// Kubernetes is the step's pod settings (`kubernetes:`) for the
	// Kubernetes executor; nil when the step has none.
	Kubernetes *Kubernetes `json:",omitempty"`
	// Network is "none" when the step has only loopback (`network: none`;
	// the local executor needs its sandbox or root for it); "" by default.
	Network string `json:",omitempty"`
	Pos     Pos    // where the step's mapping starts
}

// Pos is a 1-based line and column in the workflow file.
type Pos struct{ Line, Col int }

// StepIndex returns the index of the step with that name, or -1.
func (w *Workflow) StepIndex(name string) int {
	for i := range w.Steps {
		if w.Steps[i].Name == name {
			return i
		}
	}
	return -1
}

// StepEnv is global env overlaid with the step's env.
func (w *Workflow) StepEnv(i int) map[string]string {
	env := make(map[string]string, len(w.Env)+len(w.Steps[i].Env))
	for k, v := range w.Env {
		env[k] = v
	}
	for k, v := range w.Steps[i].Env {
		env[k] = v
	}
	return env
}

// Error is one problem in a workflow file, located at file:line:col.
type Error struct {
	File string
	Pos  Pos
	Msg  string
}

func (e *Error) Error() string {
	if e.Pos.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
}

// ErrorList is every problem found in one file, in file order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}
