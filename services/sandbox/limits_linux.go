package sandbox

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// addressSpaceSlack is what a worker may map beyond its start-up size and
// its heap allowance: goroutine and thread stacks, the collector's
// headroom, goja's programs. Measured, see docs/decisions/0008.
const addressSpaceSlack = 256 << 20

// workerNice is how much nicer than the server a worker is scheduled: a
// script spinning on the CPU then yields it to the server's own process
// (requests, sockets, other users' runs that need no sandbox) whenever
// that wants it. 10 nicer weighs about a tenth to the scheduler. It is
// relative, so that a server run at another niceness keeps its workers
// below itself (and no further).
const workerNice = 10

// workerNiceness is the niceness of the pool's workers: workerNice more
// than the calling thread's (-20…19).
func workerNiceness() int {
	// The raw getpriority returns 20 minus the niceness.
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		prio = 20
	}
	return min(19, 20-prio+workerNice)
}

// lowerChildPriority renices a worker's first thread as soon as it is
// started (the threads it starts inherit it); best effort.
func lowerChildPriority(pid, nice int) { _ = syscall.Setpriority(syscall.PRIO_PROCESS, pid, nice) }

// lowerPriority renices every thread of this process (on Linux niceness
// is per thread; threads started later inherit their creator's).
func lowerPriority(nice int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil && err != syscall.ESRCH {
			return err
		}
	}
	return nil
}

// setProcessLimits lowers this process's priority (workerNice) and bounds it: its address space (RLIMIT_AS) to
// what it has mapped at start plus three times its heap allowance, so that
// an allocation past that fails and the runtime dies of "out of memory";
// and its CPU time (RLIMIT_CPU), a backstop for a pool that failed to kill
// it. The race detector maps terabytes of shadow memory, so a race build
// sets no address-space limit.
func setProcessLimits(cfg workerConfig) (cpuAllowance, error) {
	if err := lowerPriority(cfg.Nice); err != nil {
		return cpuAllowance{}, fmt.Errorf("niceness: %w", err)
	}
	if !raceEnabled {
		size, err := addressSpaceInUse()
		if err != nil {
			return cpuAllowance{}, err
		}
		limit := size + 3*cfg.MemoryBytes + addressSpaceSlack
		if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
			return cpuAllowance{}, fmt.Errorf("RLIMIT_AS: %w", err)
		}
	}
	// A worker runs one activation at a time for at most MaxTimeout of wall
	// time, on GOMAXPROCS=2 threads: it retires (and the pool replaces it)
	// once it has used all but four activations' worth of its allowance.
	perCall := 2 * cfg.JS.MaxTimeout
	if perCall <= 0 {
		perCall = time.Minute
	}
	total := max(10*perCall, 5*time.Minute)
	secs := uint64(total / time.Second)
	if err := syscall.Setrlimit(syscall.RLIMIT_CPU, &syscall.Rlimit{Cur: secs, Max: secs}); err != nil {
		return cpuAllowance{}, fmt.Errorf("RLIMIT_CPU: %w", err)
	}
	return cpuAllowance{retireAt: total - 4*perCall}, nil
}

// cpuAllowance tells a worker when to retire before RLIMIT_CPU kills it.
type cpuAllowance struct{ retireAt time.Duration }

func (c cpuAllowance) spent() bool {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return true
	}
	used := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return used > c.retireAt
}

// addressSpaceInUse is this process's virtual size (VmSize).
func addressSpaceInUse() (uint64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmSize:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 2 && string(f[1]) == "kB" {
				kb, err := strconv.ParseUint(string(f[0]), 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no VmSize in /proc/self/status")
}

// workerProcAttr kills the worker when the server dies, however it dies.
func workerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
