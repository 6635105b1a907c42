package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what we read of wrk's --latency report.
type wrkResult struct {
	p50, p99 time.Duration
	rps      float64
}

var (
	wrkPctRE  = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	wrkRpsRE  = regexp.MustCompile(`(?m)^Requests/sec:\s+([\d.]+)`)
	wrkBadRE  = regexp.MustCompile(`(?m)^\s+Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSockRE = regexp.MustCompile(`(?m)^\s+Socket errors:.*$`)
)

// runWrk loads url with conns connections for d and returns its latency
// percentiles. Any non-2xx answer or socket error fails the measurement:
// a fast 401 is not a fast GET run.
func runWrk(wrk, url, token string, conns int, d time.Duration) (wrkResult, error) {
	args := []string{"-t2", "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(max(1, int(d.Seconds()))) + "s", "--latency", "--timeout", "5s"}
	if token != "" {
		args = append(args, "-H", "Authorization: Bearer "+token)
	}
	args = append(args, url)
	out, err := exec.Command(wrk, args...).CombinedOutput()
	text := string(out)
	if token != "" {
		text = strings.ReplaceAll(text, token, "<token>")
	}
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %v\n%s", err, text)
	}
	if m := wrkBadRE.FindStringSubmatch(text); m != nil {
		return wrkResult{}, fmt.Errorf("wrk got %s non-2xx answers:\n%s", m[1], text)
	}
	if m := wrkSockRE.FindString(text); m != "" {
		return wrkResult{}, fmt.Errorf("wrk: %s\n%s", strings.TrimSpace(m), text)
	}
	var res wrkResult
	for _, m := range wrkPctRE.FindAllStringSubmatch(text, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		d := time.Duration(v * float64(unit))
		if m[1] == "50" {
			res.p50 = d
		} else {
			res.p99 = d
		}
	}
	m := wrkRpsRE.FindStringSubmatch(text)
	if res.p99 == 0 || m == nil {
		return res, fmt.Errorf("could not read wrk's latency distribution:\n%s", text)
	}
	res.rps, _ = strconv.ParseFloat(m[1], 64)
	return res, nil
}
