package benchstat_test

import (
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/internal/benchstat"
)

func TestPercentile(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name string
		xs   []int
		p    float64
		want int
	}{
		{"empty", nil, 0.99, 0},
		{"one value", []int{7}, 0.5, 7},
		{"p50 of 1..100", hundred, 0.50, 50},
		{"p99 of 1..100", hundred, 0.99, 99},
		{"p100 is the max", hundred, 1, 100},
		{"p99 of 10 values is the max", hundred[:10], 0.99, 10},
		{"tiny p is the min", hundred, 0.001, 1},
	} {
		if got := benchstat.Percentile(tc.xs, tc.p); got != tc.want {
			t.Errorf("%s: Percentile(%v) = %d, want %d", tc.name, tc.p, got, tc.want)
		}
	}
	if got := benchstat.Percentile([]time.Duration{time.Millisecond, 2 * time.Millisecond}, 0.5); got != time.Millisecond {
		t.Errorf("durations: %v", got)
	}
}

func TestEnvInt(t *testing.T) {
	t.Setenv("BENCHSTAT_TEST_N", "12")
	t.Setenv("BENCHSTAT_TEST_BAD", "-3")
	if got := benchstat.EnvInt("BENCHSTAT_TEST_N", 5); got != 12 {
		t.Errorf("set: %d", got)
	}
	if got := benchstat.EnvInt("BENCHSTAT_TEST_BAD", 5); got != 5 {
		t.Errorf("negative: %d", got)
	}
	if got := benchstat.EnvInt("BENCHSTAT_TEST_UNSET", 5); got != 5 {
		t.Errorf("unset: %d", got)
	}
}
