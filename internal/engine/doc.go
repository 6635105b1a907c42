// Package engine is the pure state machine of a run: Decide turns the run's
// state and one event into the next state and the commands to carry out.
// It does no I/O and reads no clock: time comes in on events, so replaying
// the event log always rebuilds the same state.
//
// # Rules
//
// New: the run is queued, every step waiting at attempt 0.
//
// RunRequested (its Time is the run's start) makes the run running and starts
// every ready step. A step is ready when every step it depends on is done:
// succeeded, skipped, or failed with continue_on_error. This is a true DAG: a
// step starts the moment its own dependencies are done, never by levels.
//
// A ready step with an `if` is evaluated against the run's Vars and the
// current status of every step. False: the step is skipped ("if: <expr> was
// false"), which may make its dependents ready in the same Decide. An error:
// the step fails with the error as its reason. True, or no `if`: the step is
// queued with the next attempt and a StartStep is issued. Ready steps are
// handled lowest file index first until nothing more becomes ready.
//
// StepStarted moves the current attempt of a queued step to running.
// StepExited with code 0 succeeds the step and starts its newly ready
// dependents. An attempt also may end while still queued (it never managed to
// start), which is treated the same way.
//
// An attempt lost with its executor (ExecutorLost: a dead worker, a lost
// lease, a server restart) is not the step's failure: while the run is
// healthy and the step's Lost count is below the event's LostRetries, the
// next attempt is queued at once and Lost grows; the step's retries are
// untouched.
//
// A failed attempt (a non-zero exit, StepTimedOut, an ExecutorLost beyond
// LostRetries) is retried while the run is healthy and Attempt-Lost <=
// Retries: the step is retrying and ScheduleRetry asks for RetryDue after
// Backoff(Attempt-Lost+1). RetryDue queues that attempt and issues
// StartStep. With no retries left the step fails: with continue_on_error its
// dependents proceed; otherwise the run fails.
//
// Fail-fast and cancel share one mechanism: the run records its reason, every
// waiting, retrying or queued step is cancelled at once, and every running
// step gets a CancelStep and is cancelled when its own end arrives (any
// outcome, except exit code 0, which records succeeded: the work completed).
// A queued step gets a CancelStep too, so that a driver holding it does not
// start it; the run never waits for it, since no worker may ever take it.
// Drivers therefore apply StepStarted before they run anything, and run
// nothing when the engine does not accept it. No step starts once the run is
// failing or cancelling. The first cause wins: a cancel after a failure
// leaves the run failed (it still cancels a queued step left in a state
// stored by an older version).
//
// StepReused, only before RunRequested and only for a waiting step, marks it
// succeeded without running it: a re-run of the failed steps of an earlier
// run reuses what succeeded there, and RunRequested then starts the rest.
//
// The run ends exactly once: when every step is terminal, FinishRun carries
// its status: failed if a step failed without continue_on_error (or its `if`
// errored), else cancelled if a cancel was requested, else succeeded. A run
// with no steps succeeds on RunRequested; a cancel before RunRequested ends
// the run cancelled.
//
// Drivers may redeliver events, so Decide ignores (no commands, no error):
// every event once the run is terminal, events for a stale attempt, events
// that do not fit the step's status (a second StepStarted, a duplicate exit)
// and a second RunRequested or CancelRequested. An unknown step name or event
// kind is an error, and the state is returned unchanged.
//
// # Persistence
//
// State is JSON-serializable except Workflow. New precomputes an index of
// the DAG (dependents, dependencies by position); a State read back from
// storage gets it from Restore, or can be rebuilt from its event log with
// Replay. Decide on a State without the index still works, rebuilding it on
// every call, which is slower.
package engine
