package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// What the nodes say of themselves through their monitoring ports:
// health, the meta group's and the streams' leaders, a node's view of
// the cluster; and the harness's waits on them.

// Healthy reports whether node i's /healthz says ok (JetStream current).
func (n *NATS) Healthy(ctx context.Context, i int) bool {
	return n.monitor(ctx, i, "/healthz", nil) == nil
}

// monitor GETs path from node i's monitoring port (2 s at most) and
// decodes the JSON answer into v (when v is not nil); a status other than
// 200 is an error.
func (n *NATS) monitor(ctx context.Context, i int, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", n.nodes[i].spec.HTTPPort, path), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	if v == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// metaComplete reports whether node i leads the meta group with every
// other running node current (so that streams can be placed on three).
func (n *NATS) metaComplete(ctx context.Context, i int) bool {
	var jsz struct {
		Meta *struct {
			Leader   string `json:"leader"`
			Replicas []struct {
				Current bool `json:"current"`
				Offline bool `json:"offline"`
			} `json:"replicas"`
		} `json:"meta_cluster"`
	}
	if n.monitor(ctx, i, "/jsz", &jsz) != nil || jsz.Meta == nil || jsz.Meta.Leader != n.nodes[i].spec.Name {
		return false
	}
	running := 0
	for _, nd := range n.nodes {
		if nd.cmd != nil {
			running++
		}
	}
	current := 0
	for _, r := range jsz.Meta.Replicas {
		if r.Current && !r.Offline {
			current++
		}
	}
	return current >= running-1
}

// WaitHealthy polls until every running node is healthy and the meta
// leader sees the others current, or ctx ends.
func (n *NATS) WaitHealthy(ctx context.Context) error {
	for {
		if err := n.exited(); err != nil {
			return err
		}
		ok := true
		meta := false
		for i, nd := range n.nodes {
			if nd.cmd != nil && n.metaComplete(ctx, i) {
				meta = true
			}
		}
		ok = meta
		for i, nd := range n.nodes {
			if nd.cmd != nil && !n.Healthy(ctx, i) {
				ok = false
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: nodes not healthy: %w (logs in %s)", ctx.Err(), n.dir)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// exited names a node whose process ended though the harness did not
// kill it, with the end of its log.
func (n *NATS) exited() error {
	for _, nd := range n.nodes {
		if nd.cmd == nil {
			continue
		}
		select {
		case <-nd.done:
			log, _ := os.ReadFile(filepath.Join(nd.spec.Dir, "nats.log"))
			if len(log) > 400 {
				log = log[len(log)-400:]
			}
			return fmt.Errorf("%w: %s: %s", errNodeExited, nd.spec.Name, log)
		default:
		}
	}
	return nil
}

// StreamLeader is the index of the node leading stream, asked through
// any node that answers.
func (n *NATS) StreamLeader(ctx context.Context, stream string) (int, error) {
	var last error
	for i, nd := range n.nodes {
		if nd.cmd == nil {
			continue
		}
		nc, err := nats.Connect(n.DirectURL(i), nats.Timeout(2*time.Second), nats.MaxReconnects(0))
		if err != nil {
			last = err
			continue
		}
		js, _ := jetstream.New(nc)
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		st, err := js.Stream(cctx, stream)
		cancel()
		if err != nil {
			nc.Close()
			last = err
			continue
		}
		info := st.CachedInfo()
		nc.Close()
		if info.Cluster == nil || info.Cluster.Leader == "" {
			last = fmt.Errorf("stream %s has no leader", stream)
			continue
		}
		for k, other := range n.nodes {
			if other.spec.Name == info.Cluster.Leader {
				return k, nil
			}
		}
	}
	return -1, fmt.Errorf("stream %s: no leader found: %v", stream, last)
}

// View is what node i's monitoring port says of the cluster: the meta
// group's leader and each stream's leader as this node sees them (for
// diagnosing a fault; "" when the node does not answer).
func (n *NATS) View(ctx context.Context, i int) string {
	var jsz struct {
		Meta *struct {
			Leader string `json:"leader"`
		} `json:"meta_cluster"`
		Accounts []struct {
			Streams []struct {
				Name    string `json:"name"`
				Cluster *struct {
					Leader string `json:"leader"`
				} `json:"cluster"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if n.monitor(ctx, i, "/jsz?accounts=true&streams=true", &jsz) != nil || jsz.Meta == nil {
		return ""
	}
	out := fmt.Sprintf("%s sees meta leader %q", n.nodes[i].spec.Name, jsz.Meta.Leader)
	for _, a := range jsz.Accounts {
		for _, st := range a.Streams {
			if st.Cluster != nil {
				out += fmt.Sprintf(", %s %q", st.Name, st.Cluster.Leader)
			}
		}
	}
	return out
}
