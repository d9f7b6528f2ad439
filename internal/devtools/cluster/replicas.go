package cluster

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// AdminToken and MasterKey are the settings every replica of the harness
// shares (a deployment's replicas share both).
const (
	AdminToken = "cluster-admin-token-0123456789abcdef"
	MasterKey  = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
)

// Build compiles the module's commands (e.g. "bindery", "binderyctl")
// into dir and returns their paths by name.
func Build(ctx context.Context, dir string, names ...string) (map[string]string, error) {
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, n := range names {
		args = append(args, "github.com/bindery/bindery/cmd/"+n)
	}
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	bins := map[string]string{}
	for _, n := range names {
		bins[n] = filepath.Join(dir, n)
	}
	return bins, nil
}

// Replica is one "bindery serve" process on the cluster, reached through
// its own links (NATS.ClientURLs), so that it can be cut off alone.
type Replica struct {
	URL    string // http://127.0.0.1:port
	Dir    string // its data dir; bindery.log holds its output
	Client int    // its links' number for NATS.CutClient
	cmd    *exec.Cmd
	done   chan struct{}
}

// ReplicaOptions are the replica's environment beyond the cluster's.
type ReplicaOptions struct {
	WeChatAPI string   // BINDERY_WECHAT_API_BASE (wxsim)
	Env       []string // more KEY=value settings
}

// StartReplica runs bin as a replica with BINDERY_REPLICAS=3 on the
// cluster and waits until /readyz answers 200. A replica that exits at
// start (a node that has just joined may answer "no responders" to
// JetStream requests for a moment) is started again, up to three times.
func (n *NATS) StartReplica(ctx context.Context, bin, dir string, o ReplicaOptions) (*Replica, error) {
	var err error
	for range 3 {
		var r *Replica
		if r, err = n.startReplica(ctx, bin, dir, o); err == nil || ctx.Err() != nil {
			return r, err
		}
	}
	return nil, err
}

func (n *NATS) startReplica(ctx context.Context, bin, dir string, o ReplicaOptions) (*Replica, error) {
	urls, client, err := n.ClientURLs()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	r := &Replica{URL: "http://" + addr, Dir: dir, Client: client, done: make(chan struct{})}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"BINDERY_NATS_URL="+urls, "BINDERY_REPLICAS=3", "BINDERY_HTTP_ADDR="+addr, "BINDERY_DATA_DIR="+dir,
		"BINDERY_ISSUER=http://"+addr, "BINDERY_ADMIN_TOKEN="+AdminToken, "BINDERY_MASTER_KEY="+MasterKey,
		"BINDERY_RATE_LIMIT=0", "BINDERY_WECHAT_API_BASE="+o.WeChatAPI, "BINDERY_LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, o.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(filepath.Join(dir, "bindery.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	r.cmd = cmd
	go func() { _ = cmd.Wait(); logf.Close(); close(r.done) }()
	for {
		if r.Ready(ctx) {
			return r, nil
		}
		select {
		case <-r.done:
			return nil, fmt.Errorf("replica exited before it was ready: %s", r.LogTail())
		case <-ctx.Done():
			r.Stop()
			return nil, fmt.Errorf("replica not ready: %w: %s", ctx.Err(), r.LogTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Ready reports whether /readyz answers 200.
func (r *Replica) Ready(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Pid is the replica's process id.
func (r *Replica) Pid() int { return r.cmd.Process.Pid }

// LogTail is the end of the replica's output.
func (r *Replica) LogTail() string {
	data, _ := os.ReadFile(filepath.Join(r.Dir, "bindery.log"))
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// Stop ends the replica (SIGTERM, then SIGKILL after 10 s).
func (r *Replica) Stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// CPU is the user plus system CPU time process pid has used, from
// /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s).
func CPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ")".
	s := string(data)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
