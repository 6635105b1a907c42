package mask

import "strings"

// secretWords mark an environment variable whose value is a secret, by
// name, case-insensitively: GITHUB_TOKEN, DB_PASSWORD, AWS_SECRET_ACCESS_KEY.
var secretWords = []string{"TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY"}

// SecretName reports whether an environment variable called name holds a
// secret (RUNBOOK_REPO_TOKEN, the run's clone token, among them). It errs
// towards yes: masking a harmless value costs little.
func SecretName(name string) bool {
	up := strings.ToUpper(name)
	for _, w := range secretWords {
		if strings.Contains(up, w) {
			return true
		}
	}
	return false
}

// FromEnv builds a Masker for the values of env whose names look secret.
func FromEnv(env map[string]string) *Masker {
	var secrets []string
	for k, v := range env {
		if SecretName(k) {
			secrets = append(secrets, v)
		}
	}
	return New(secrets...)
}
