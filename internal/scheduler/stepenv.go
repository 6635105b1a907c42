package scheduler

import (
	"context"
	"time"
)

// stepEnvTimeout bounds the StepEnv hook: minting a token is one call to
// GitHub, and a step must not hang on it.
const stepEnvTimeout = 30 * time.Second

// addStepEnv merges Config.StepEnv's variables (a GitHub run's repository
// and a token minted for this step) into env; they win over the file's,
// so a workflow cannot point repo_cloner elsewhere with the run's token.
func (s *Scheduler) addStepEnv(ctx context.Context, runID int64, env map[string]string) error {
	if s.cfg.StepEnv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, stepEnvTimeout)
	defer cancel()
	extra, err := s.cfg.StepEnv(ctx, runID)
	if err != nil {
		return err
	}
	for k, v := range extra {
		env[k] = v
	}
	return nil
}
