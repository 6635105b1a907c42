package workers

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// tick is a clock tick of /proc/PID/stat (USER_HZ, 100 on Linux).
const tick = 10 * time.Millisecond

// cpuSnap is CPU time taken so far, in ticks: by the worker processes
// themselves, by the step processes they waited for (cutime+cstime), and
// by each Postgres backend serving the workers. CPU time, unlike
// wall time, hardly depends on what else the machine runs.
type cpuSnap struct {
	worker, steps int64
	pg            map[int]int64
}

type cpuCost struct{ worker, steps, pg time.Duration }

func (c cpuCost) per(n int) cpuCost {
	d := time.Duration(n)
	return cpuCost{c.worker / d, c.steps / d, c.pg / d}
}

func procStat(pid int) (self, children int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var v [4]int64
	for i := range v {
		if v[i], err = strconv.ParseInt(f[11+i], 10, 64); err != nil {
			return 0, 0, err
		}
	}
	return v[0] + v[1], v[2] + v[3], nil
}

func (r *rig) cpu() cpuSnap {
	s := cpuSnap{pg: map[int]int64{}}
	for _, w := range r.workers {
		self, children, err := procStat(w.cmd.Process.Pid)
		if err != nil {
			r.t.Fatal(err)
		}
		s.worker += self
		s.steps += children
	}
	rows, err := r.conn.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name <> $1`, benchApp)
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			r.t.Fatal(err)
		}
		if self, _, err := procStat(pid); err == nil { // gone, or another machine's: not counted
			s.pg[pid] = self
		}
	}
	if err := rows.Err(); err != nil {
		r.t.Fatal(err)
	}
	return s
}

// since is the CPU time taken between b and s. A backend that exited in
// between is missed; one that started is counted from its start.
func (s cpuSnap) since(b cpuSnap) cpuCost {
	c := cpuCost{worker: time.Duration(s.worker-b.worker) * tick, steps: time.Duration(s.steps-b.steps) * tick}
	for pid, v := range s.pg {
		c.pg += time.Duration(v-b.pg[pid]) * tick
	}
	return c
}
