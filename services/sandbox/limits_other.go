//go:build !linux

package sandbox

import "syscall"

// setProcessLimits sets no kernel limits outside Linux: the worker relies on
// its memory guard and the pool's deadline.
func setProcessLimits(workerConfig) (cpuAllowance, error) { return cpuAllowance{}, nil }

type cpuAllowance struct{}

func (cpuAllowance) spent() bool { return false }

func workerProcAttr() *syscall.SysProcAttr { return nil }

func lowerChildPriority(int, int) {}

func workerNiceness() int { return 0 }
