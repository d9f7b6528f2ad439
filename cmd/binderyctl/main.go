// Command binderyctl is Bindery's admin and audit CLI: export, verify and
// replay the event history, tail live events, rotate the master key, and
// (from other features) load-test and sync. Run "binderyctl help" for the list.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand ("audit verify"). run gets the arguments after
// the command's words and returns the exit code.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, c *cli, args []string) int
}

// commands lists every subcommand; a feature adds its own line here (and
// its code in a file of its own).
var commands = []command{
	{"audit export", "write events matching filters as NDJSON (via the HTTP API)", auditExport},
	{"audit verify", "check hash chains and signed checkpoints, reading the streams over NATS", auditVerify},
	{"audit replay", "rebuild every view from the streams and compare with the live server's", auditReplay},
	{"events tail", "print live events, one line each (filter by subject, type, aggregate)", eventsTail},
	{"bench login", "load-test returning-user mini-program logins; compare with raw JetStream publishes", benchLogin},
	{"keys rotate", "re-seal every data key and secret kept in KV under a new master key (replicas stopped)", keysRotate},
	{"sync accounts", "stream an NDJSON file of accounts to the sync API, with a progress bar", syncAccounts},
}

// cli is what every command shares: where it writes and what the
// environment says.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

const envHelp = `Environment (each is also a flag of the commands that use it):
  BINDERY_URL          the server's HTTP base URL        (default http://127.0.0.1:8080)
  BINDERY_ADMIN_TOKEN  the admin bearer token            (no default)
  BINDERY_NATS_URL     the NATS server the streams are on (default nats://127.0.0.1:4222,
                       where "bindery serve" lets NATS clients in: BINDERY_NATS_LISTEN);
                       a user:password in it, or:
  BINDERY_NATS_PASSWORD the password of the NATS user bindery (the server's
                       <data dir>/nats-bindery.password)
  BINDERY_NATS_CREDS   a NATS creds file (an external cluster with nkeys/JWT)
  BINDERY_MASTER_KEY   the master key (else <BINDERY_DATA_DIR>/master.key): events
                       tail and audit replay open sealed values with it; keys
                       rotate moves from it
  BINDERY_NEW_MASTER_KEY the key keys rotate moves to (or --new-key-file)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &cli{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// Exit codes: 0 fine, 1 a check failed (verify found tampering, replay
// found a difference), 2 a usage or connection error.
const (
	exitOK      = 0
	exitFailed  = 1
	exitProblem = 2
)

func run(ctx context.Context, args []string, c *cli) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		c.usage(c.stdout)
		return exitOK
	}
	// The longest command whose words start the arguments.
	var best *command
	words := 0
	for i := range commands {
		w := strings.Fields(commands[i].name)
		if len(w) <= len(args) && strings.Join(args[:len(w)], " ") == commands[i].name && len(w) > words {
			best, words = &commands[i], len(w)
		}
	}
	if best == nil {
		fmt.Fprintf(c.stderr, "binderyctl: unknown command %q\n\n", strings.Join(args, " "))
		c.usage(c.stderr)
		return exitProblem
	}
	return best.run(ctx, c, args[words:])
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprint(w, "binderyctl: Bindery's admin and audit CLI.\n\nUsage: binderyctl <command> [flags]   (binderyctl <command> --help for its flags)\n\nCommands:\n")
	sorted := append([]command(nil), commands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, cmd := range sorted {
		fmt.Fprintf(w, "  %-14s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, "\n"+envHelp+"\nExit codes: 0 fine, 1 a check failed, 2 a usage or connection problem.\n")
}

// env returns the variable or a default.
func (c *cli) env(name, def string) string {
	if v := c.getenv(name); v != "" {
		return v
	}
	return def
}

func (c *cli) fail(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "binderyctl: "+format+"\n", args...)
	return exitProblem
}
