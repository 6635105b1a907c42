package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/testdb"
)

// sandboxed, among the args of startServer or startWorker, leaves the step
// sandbox on; without it they pass --unsafe-no-sandbox, because most tests'
// steps write marker files outside their workspace.
const sandboxed = "--test-sandboxed"

func sandboxChoice(args []string) []string {
	out := make([]string, 0, len(args)+1)
	on := false
	for _, a := range args {
		if a == sandboxed {
			on = true
			continue
		}
		out = append(out, a)
	}
	if !on {
		out = append(out, "--unsafe-no-sandbox")
	}
	return out
}

func needBwrap(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bubblewrap is not installed (apt-get install bubblewrap)")
	}
}

// markedGone waits until no live process carries marker in its
// environment; the bound only turns a failure into a report.
func markedGone(t *testing.T, marker string) {
	t.Helper()
	give := time.Now().Add(time.Minute)
	for markedProcesses(t, marker) > 0 {
		if time.Now().After(give) {
			t.Fatalf("%d processes carrying %s are still alive a minute later", markedProcesses(t, marker), marker)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Issue 13, item 2: a worker killed with kill -9 takes its step's whole
// process tree with it, setsid, nohup and double-forked children included,
// so the attempt that the other worker starts after the lease is the only
// one running. Sandboxed (the default) and, as root, unsandboxed.
func TestKilledWorkerTakesItsStepsProcessesWithIt(t *testing.T) {
	for _, mode := range []string{"sandboxed", "unsandboxed"} {
		t.Run(mode, func(t *testing.T) {
			var extra []string
			if mode == "sandboxed" {
				needBwrap(t)
				extra = []string{sandboxed}
			} else if os.Geteuid() != 0 {
				t.Skip("unsandboxed, only root gets a PID namespace per step")
			}
			rig := newPGRig(t)
			const lease = 2 * time.Second
			args := append([]string{"--lease", lease.String(), "--safety-poll", "200ms"}, extra...)
			a := startWorker(t, rig.url, append([]string{"--id", "worker-a"}, args...)...)
			marker := fmt.Sprintf("RB_TREE_%d", time.Now().UnixNano())
			id := rig.submit(t, fmt.Sprintf(`steps:
  - name: tree
    retries: 1
    env: {%s: "1"}
    command: |
      if [ "$RUNBOOK_ATTEMPT" = 1 ]; then
        sleep 150 & nohup sleep 150 >/dev/null 2>&1 & setsid sleep 150 >/dev/null 2>&1 &
        (sleep 150 &) ; (setsid sh -c 'sleep 150 & sleep 150' >/dev/null 2>&1 &)
        sleep 150
      fi
      echo "attempt $RUNBOOK_ATTEMPT done"
`, marker))
			// The shell, its six sleeps and the double fork's sh, at least.
			waitFor(t, "attempt 1's processes to start", func() bool { return markedProcesses(t, marker) >= 8 })
			b := startWorker(t, rig.url, append([]string{"--id", "worker-b"}, args...)...)
			if err := a.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-a.done
			// Attempt 2 prints and exits at once, so anything still marked
			// after it is attempt 1's.
			run := rig.waitEnded(t, id)
			if run.Status != engine.RunSucceeded {
				t.Fatalf("run %s (%s), want succeeded on worker-b\n%s", run.Status, run.Reason, b.log())
			}
			markedGone(t, marker)
		})
	}
}

// hostileServer is a server as a fresh install runs it (SQLite, data dir
// beside it, steps sandboxed by default), with a secret in its environment
// and a config file, and small limits so the hostile steps end soon.
func hostileServer(t *testing.T) (srv *serverProc, data, config, secret string) {
	t.Helper()
	needBwrap(t)
	data = filepath.Join(t.TempDir(), "runbook-data")
	config = filepath.Join(t.TempDir(), "runbook.yml")
	if err := os.WriteFile(config, []byte("log-level: info # CONFIG-CANARY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret = fmt.Sprintf("ENV-SECRET-%d-%s", time.Now().UnixNano(), strings.Repeat("x", 32))
	t.Setenv("RUNBOOK_SECRET", secret)
	srv = startServer(t, data, sandboxed, "--config", config, "--step-processes", "64", "--step-tmp-mb", "16")
	return srv, data, config, secret
}

// submitAndWait creates a run and waits for its end.
func (p *serverProc) submitAndWait(t *testing.T, token string, tenant int64, wf string) (int64, runView) {
	t.Helper()
	var created struct{ ID int64 }
	p.api(t, "POST", fmt.Sprintf("/api/v1/tenants/%d/runs", tenant), token, strings.NewReader(wf), 201, &created)
	p.follow(t, token, tenant, created.ID, nil)
	return created.ID, p.run(t, token, tenant, created.ID)
}

// stepLog is a step's whole log, as text.
func (p *serverProc) stepLog(t *testing.T, token string, tenant, run int64, step string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/tenants/%d/runs/%d/steps/%s/logs/raw", p.url, tenant, run, step), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Issue 14's hostile steps, each in a real run on a real server: none may
// read the server's files or environment, reach its process, leave a
// process behind, write outside its workspace, hurt the host with a fork
// bomb or a full /tmp, or see another run's workspace.
func TestHostileStepsCannotHarmTheServer(t *testing.T) {
	srv, data, config, secret := hostileServer(t)
	token, tenant := srv.signIn(t)
	// The token-signing key is the secret from the environment; the
	// database is beside the workspaces.
	if _, err := os.Stat(filepath.Join(data, "runbook.db")); err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("RB_HOSTILE_%d", time.Now().UnixNano())

	// A first run leaves a file in its workspace for the second to look for.
	firstID, first := srv.submitAndWait(t, token, tenant, `steps:
  - name: plant
    command: echo RUN-ONE-SECRET > planted
`)
	if first.Status != "succeeded" {
		t.Fatalf("first run %+v\n%s", first, srv.logs)
	}

	wf := fmt.Sprintf(`global:
  env:
    DATA: %q
    CONFIG: %q
    SERVER_PID: "%d"
    FIRST: "%d"
    %s: "1"
steps:
  - name: read-secrets
    continue_on_error: true
    command: |
      for p in "$DATA/secret" "$DATA/runbook.db" "$CONFIG" ../../secret ../../runbook.db \
               /proc/*/root"$DATA/secret" /proc/*/root"$CONFIG" /proc/*/cwd/secret; do
        if cat "$p" 2>/dev/null; then echo "LEAK read $p"; fi
      done
      cat /proc/*/environ 2>/dev/null | tr '\0' '\n' | grep -a RUNBOOK_SECRET && echo "LEAK environ"
      echo checked
  - name: env-holder
    continue_on_error: true
    env: {VICTIM_TOKEN: victim-token-value}
    command: echo up > holder-up; sleep 5
  - name: env-reader
    continue_on_error: true
    command: |
      until [ -e holder-up ]; do sleep 0.05; done
      cat /proc/*/environ 2>/dev/null | tr '\0' '\n' | grep -a victim-token && echo "LEAK step environ"
      echo checked
  - name: signal-server
    continue_on_error: true
    command: |
      [ -e /proc/$SERVER_PID ] && echo "LEAK sees the server"
      kill -0 "$SERVER_PID" 2>/dev/null && echo "LEAK can signal the server"
      [ "$(ls /proc | grep -c '^[0-9]')" -le 8 ] || echo "LEAK sees $(ls /proc | grep -c '^[0-9]') processes"
      echo checked
  - name: kill-everything
    continue_on_error: true
    command: |
      # kill -1 as root on the host would end every process of the machine.
      [ "$$" -le 2 ] || { echo "LEAK not in a PID namespace of its own"; exit 1; }
      kill -KILL -1; sleep 1; echo survived
  - name: leave-behind
    continue_on_error: true
    command: |
      setsid sleep 300 >/dev/null 2>&1 &
      nohup sleep 300 >/dev/null 2>&1 &
      (sleep 300 &)
      (setsid sh -c 'sleep 300 &' >/dev/null 2>&1 &)
      echo checked
  - name: write-outside
    continue_on_error: true
    command: |
      for p in /usr/x /etc/x /x /run/runbook/x /proc/x "$CONFIG"; do
        if touch "$p" 2>/dev/null; then echo "LEAK wrote $p"; fi
      done
      # Where the data dir lies under /tmp, these land in the step's own
      # /tmp; the test checks that the host's stay untouched.
      touch "$DATA/x" ../x 2>/dev/null || true
      echo mine > mine && echo checked
  - name: fork-bomb
    continue_on_error: true
    timeout: 20s
    command: |
      f() { f & f & wait; }; f
  - name: fill-tmp
    continue_on_error: true
    command: head -c 100000000 /dev/zero > /tmp/fill
  - name: other-run
    continue_on_error: true
    command: |
      cat ../$FIRST/planted 2>/dev/null && echo "LEAK other run"
      ls -A .. | grep -vx "$(basename "$PWD")" && echo "LEAK sees other workspaces"
      echo checked
`, data, config, srv.cmd.Process.Pid, firstID, marker)
	id, v := srv.submitAndWait(t, token, tenant, wf)

	logs := map[string]string{}
	status := map[string]string{}
	for _, s := range v.Steps {
		logs[s.Name] = srv.stepLog(t, token, tenant, id, s.Name)
		status[s.Name] = s.Status
	}
	for name, log := range logs {
		for _, bad := range []string{"LEAK", secret, "CONFIG-CANARY", "victim-token-value", "RUN-ONE-SECRET"} {
			if strings.Contains(log, bad) {
				t.Errorf("step %s printed %q:\n%s", name, bad, log)
			}
		}
	}
	for _, name := range []string{"read-secrets", "env-reader", "signal-server", "leave-behind", "write-outside", "other-run"} {
		if status[name] != "succeeded" || !strings.Contains(logs[name], "checked") {
			t.Errorf("step %s %s without finishing its checks:\n%s", name, status[name], logs[name])
		}
	}
	if status["kill-everything"] != "failed" || strings.Contains(logs["kill-everything"], "survived") {
		t.Errorf("kill-everything %s:\n%s\nwant it to have killed only itself", status["kill-everything"], logs["kill-everything"])
	}
	if status["fork-bomb"] != "failed" || !strings.Contains(logs["fork-bomb"], "process limit (RLIMIT_NPROC, 64 processes)") {
		t.Errorf("fork-bomb %s, want failed with a note naming the process limit; log:\n%.2000s", status["fork-bomb"], logs["fork-bomb"])
	}
	if status["fill-tmp"] != "failed" || !strings.Contains(logs["fill-tmp"], "No space left on device") {
		t.Errorf("fill-tmp %s, want failed on its full /tmp:\n%s", status["fill-tmp"], logs["fill-tmp"])
	}
	for _, p := range []string{"/x", filepath.Join(data, "x"), filepath.Join(data, "workspaces", "x")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a step wrote %s", p)
			os.Remove(p)
		}
	}
	if b, err := os.ReadFile(config); err != nil || !strings.Contains(string(b), "CONFIG-CANARY") {
		t.Errorf("the config file changed: %q, %v", b, err)
	}
	markedGone(t, marker)
	// The server took none of it badly.
	srv.api(t, "GET", "/healthz", "", nil, 200, nil)
	if _, again := srv.submitAndWait(t, token, tenant, "steps:\n  - {name: ok, command: 'true'}\n"); again.Status != "succeeded" {
		t.Errorf("a run after the hostile one: %+v", again)
	}
}

// Issue 14, start-up checks: a server whose steps would run unsandboxed
// refuses to start with sign-up open, unless told --unsafe-no-sandbox; the
// embedded default starts anyway but serves its first user only.
func TestServerWithoutBubblewrap(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-bwrap")
	t.Run("shared database refuses", func(t *testing.T) {
		r := runbook(t, "server", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--bwrap", missing,
			"--database-url", testdb.New(t), "--secret", strings.Repeat("s", 40))
		if r.code != 2 || !strings.Contains(r.stderr, "refusing to start") || !strings.Contains(r.stderr, "apt-get install bubblewrap") ||
			!strings.Contains(r.stderr, "--unsafe-no-sandbox") {
			t.Errorf("exit %d, stderr %q; want 2, saying why and how to install bubblewrap", r.code, r.stderr)
		}
	})
	t.Run("a worker refuses", func(t *testing.T) {
		r := runbook(t, "worker", "--data-dir", t.TempDir(), "--bwrap", missing, "--database-url", testdb.New(t))
		if r.code != 2 || !strings.Contains(r.stderr, "apt-get install bubblewrap") || !strings.Contains(r.stderr, "--unsafe-no-sandbox") {
			t.Errorf("exit %d, stderr %q; want 2, saying how to install bubblewrap", r.code, r.stderr)
		}
	})
	t.Run("a sandbox that does not work stops the start", func(t *testing.T) {
		r := runbook(t, "server", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--bwrap", "/bin/false")
		if r.code != 2 || !strings.Contains(r.stderr, "the step sandbox does not work on this host") {
			t.Errorf("exit %d, stderr %q; want 2, saying the sandbox does not work", r.code, r.stderr)
		}
	})
	t.Run("embedded default serves its first user only", func(t *testing.T) {
		srv := startServer(t, t.TempDir(), sandboxed, "--bwrap", missing)
		if n := strings.Count(srv.logs.String(), "bubblewrap is not installed"); n != 1 {
			t.Errorf("%d warnings about bubblewrap, want one:\n%s", n, srv.logs)
		}
		srv.signIn(t)
		srv.api(t, "POST", "/api/v1/auth/signup", "", strings.NewReader(`{"email":"eve@example.com","username":"eve","password":"a long enough password"}`), 403, nil)
	})
	t.Run("unsafe-no-sandbox keeps sign-up open", func(t *testing.T) {
		srv := startServer(t, t.TempDir(), "--bwrap", missing)
		srv.signIn(t)
		srv.api(t, "POST", "/api/v1/auth/signup", "", strings.NewReader(`{"email":"eve@example.com","username":"eve","password":"a long enough password"}`), 201, nil)
	})
}

// Issue 13, item 9: `runbook run --sandbox` leaves no process behind, a
// setsid one included.
func TestRunSandboxLeavesNothingBehind(t *testing.T) {
	needBwrap(t)
	marker := fmt.Sprintf("RB_RUN_SANDBOX_%d", time.Now().UnixNano())
	wf := write(t, "w.yml", fmt.Sprintf(`global:
  env: {%s: "1"}
steps:
  - name: a
    command: setsid sleep 300 >/dev/null 2>&1 & (sleep 300 &); echo started
`, marker))
	r := runbook(t, "run", "--sandbox", "--color", "never", wf)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	markedGone(t, marker)
}
