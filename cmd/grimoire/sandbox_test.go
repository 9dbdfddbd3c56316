package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bombSpell is issue 13's report: JSON.stringify of a structure with 2^22
// references to one string.
const bombSpell = `{"format":"grimoire/spell@1","id":"bomb","nodes":[
  {"id":"in","type":"Input","config":{"name":"x"}},
  {"id":"bomb","type":"Code","config":{"code":"function worker(i){var a=['x'.repeat(1000)];for(var k=0;k<22;k++)a=[a,a];return {r:JSON.stringify(a).length}}"},"inputs":[{"key":"x","kind":"data"}],"outputs":[{"key":"r","kind":"data"}]},
  {"id":"out","type":"Output","config":{"name":"r"}}],
 "edges":[{"from":"in.trigger","to":"bomb.trigger"},{"from":"in.output","to":"bomb.x"},
  {"from":"bomb.trigger","to":"out.trigger"},{"from":"bomb.r","to":"out.input"}]}`

// `grimoire run` (process mode by default) fails the bomb's node with the
// sandbox's error and exits promptly: the command's process survives it and
// does not wait for the runaway builtin.
func TestRunCodeBombFailsItsNode(t *testing.T) {
	spell := writeFile(t, "bomb.json", bombSpell)
	for _, memory := range []string{"", "16"} { // a small allowance lets the memory guard or RLIMIT_AS end it
		start := time.Now()
		_, stderr, code := cliWithEnv(t, map[string]string{envData: filepath.Join(t.TempDir(), "data"), envCodeSandboxMemory: memory},
			"run", spell, "--input", "x=1")
		if code != 1 || !strings.Contains(stderr, "node bomb (Code): code node exceeded its") {
			t.Fatalf("memory %q: exit %d, stderr:\n%s", memory, code, stderr)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("memory %q: took %s", memory, took)
		}
	}
}

func TestSandboxSettings(t *testing.T) {
	for _, tt := range []struct {
		vars map[string]string
		want string // error text, "" for none
	}{
		{map[string]string{}, ""},
		{map[string]string{envCodeSandbox: "none", envCodeSandboxMemory: "64"}, ""},
		{map[string]string{envCodeSandbox: "process", envCodeSandboxWorkers: "4"}, ""},
		{map[string]string{envCodeSandbox: "docker"}, `GRIMOIRE_CODE_SANDBOX="docker": want process`},
		{map[string]string{envCodeSandboxWorkers: "0"}, `GRIMOIRE_CODE_SANDBOX_WORKERS="0": want a number of worker processes`},
		{map[string]string{envCodeSandboxMemory: "8"}, `GRIMOIRE_CODE_SANDBOX_MEMORY_MB="8": want a number of MiB from 16`},
		{map[string]string{envCodeSandboxWorkers: "4", envCodeSandboxWorkersPerUser: "2"}, ""},
		{map[string]string{envCodeSandboxWorkersPerUser: "many"}, `GRIMOIRE_CODE_SANDBOX_WORKERS_PER_USER="many": want the most worker processes`},
		{map[string]string{envCodeSandboxWorkers: "2", envCodeSandboxWorkersPerUser: "3"}, `GRIMOIRE_CODE_SANDBOX_WORKERS_PER_USER="3": more than the 2 workers`},
	} {
		env := &cliEnv{getenv: func(k string) string { return tt.vars[k] }}
		c, err := sandboxSettings(env)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%v: %v", tt.vars, err)
			}
			if c.process != (tt.vars[envCodeSandbox] != "none") {
				t.Errorf("%v: process = %v", tt.vars, c.process)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.vars, err, tt.want)
		}
	}
}
