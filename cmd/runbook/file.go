package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/runbookhq/runbook/internal/workflow"
)

// loadWorkflow reads and parses a workflow file. Every failure is an
// exitError with code 2 and a message that says what to do.
func loadWorkflow(path string) (*workflow.Workflow, error) {
	src, err := readWorkflowFile(path)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	wf, err := workflow.Parse(path, src)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return wf, nil
}

func readWorkflowFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such file; pass the path of a workflow file such as .runbook.yml", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, errors.Unwrap(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory; pass the workflow file inside it, e.g. %s/.runbook.yml", path, path)
	}
	if !st.Mode().IsRegular() && st.Mode()&fs.ModeNamedPipe == 0 {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	// Read one byte past the limit so the parser reports an oversized file
	// without this process reading all of it.
	src, err := io.ReadAll(io.LimitReader(f, workflow.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return src, nil
}
