package main

import "github.com/runbookhq/runbook/internal/scheduler"

// lostRetriesUsage is the help of --lost-retries, on server and worker.
const lostRetriesUsage = "how many attempts of a step lost with their worker (crash, expired lease, restart) are retried at once, apart from the step's own retries; 0: a lost attempt counts against them"

// lostRetries maps --lost-retries to scheduler.Config.LostRetries, whose
// zero means the default.
func lostRetries(n int) int {
	if n <= 0 {
		return scheduler.NoLostRetries
	}
	return n
}
