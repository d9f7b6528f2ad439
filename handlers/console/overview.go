package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bindery/bindery/internal/audit"
)

type count struct {
	Name string
	N    int
}

type overviewData struct {
	Accounts      int
	LoginsMinute  int  // login_succeeded in the last minute
	LoginsHour    int  // and in the last hour
	LoginsCapped  bool // the hour holds more than were counted
	Failures      []count
	Lag           []count // seconds, per stream (bindery_projection_lag_seconds)
	Position      string
	Parked        int
	ParkedMore    bool
	Seals         []audit.LastSeal
	Errors        []string
	GeneratedTime time.Time
}

// loginScan bounds how many auth-log events the overview reads.
const loginScan = 50000

// overview shows the live figures: logins per minute, failures by code
// over the last hour (from the auth log, through the audit query),
// projection lag (from the metrics), parked webhook deliveries and the
// last seal of each stream.
func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	now := c.Now()
	d := overviewData{Accounts: c.AccountsV.Count(), GeneratedTime: now}
	if c.Engine != nil {
		d.Position = c.Engine.Position().String()
	}
	if c.Audit != nil {
		failures := map[string]int{}
		n := 0
		_, err := c.Audit.Events(r.Context(), audit.Filter{Since: now.Add(-time.Hour), Limit: loginScan}, func(it audit.Item) error {
			n++
			var ev struct {
				Type string `json:"type"`
				Data struct {
					Reason string `json:"reason"`
				} `json:"data"`
			}
			if json.Unmarshal(it.Raw, &ev) != nil {
				return nil
			}
			switch shortName(ev.Type) {
			case "login_succeeded":
				d.LoginsHour++
				if it.Time.After(now.Add(-time.Minute)) {
					d.LoginsMinute++
				}
			case "login_failed":
				failures[ev.Data.Reason]++
			}
			return nil
		})
		d.LoginsCapped = n >= loginScan
		if err != nil {
			d.Errors = append(d.Errors, "the auth log could not be read")
		}
		for k, v := range failures {
			d.Failures = append(d.Failures, count{k, v})
		}
		slices.SortFunc(d.Failures, func(a, b count) int { return b.N - a.N })
		if d.Seals, err = c.Audit.LastSeals(r.Context()); err != nil {
			d.Errors = append(d.Errors, "the checkpoints could not be read")
		}
	}
	if c.Metrics != nil {
		if fams, err := c.Metrics.Registry.Gather(); err == nil {
			for _, f := range fams {
				if f.GetName() != "bindery_projection_lag_seconds" {
					continue
				}
				for _, m := range f.GetMetric() {
					stream := ""
					for _, l := range m.GetLabel() {
						if l.GetName() == "stream" {
							stream = l.GetValue()
						}
					}
					d.Lag = append(d.Lag, count{stream, int(m.GetGauge().GetValue() * 1000)})
				}
			}
		}
	}
	if c.Deliveries != nil {
		for _, h := range c.WebhooksV.List() {
			p, more, err := c.Deliveries.Failed(r.Context(), h.ID, 100)
			if err != nil {
				d.Errors = append(d.Errors, "the parked deliveries of "+h.ID+" could not be read")
				continue
			}
			d.Parked += len(p)
			d.ParkedMore = d.ParkedMore || more
		}
	}
	c.render(w, r, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview", Data: d})
}

// shortName is an event's name from its CloudEvents type
// (bindery.login_failed.v1 → login_failed).
func shortName(typ string) string {
	name := strings.TrimPrefix(typ, "bindery.")
	if i := strings.LastIndex(name, ".v"); i > 0 {
		name = name[:i]
	}
	return name
}

// verifyRun is the one audit verification the console runs at a time: in
// the background, so the page can show that it runs and then its report.
type verifyRun struct {
	mu      sync.Mutex
	running bool
	started time.Time
	took    time.Duration
	report  *audit.Report
	err     string
	by      string
}

type auditData struct {
	Running bool
	Started time.Time
	Elapsed string
	Took    string
	By      string
	Report  *audit.Report
	Error   string
	Query   url.Values
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request) {
	v := c.verify
	v.mu.Lock()
	d := auditData{Running: v.running, Started: v.started, Report: v.report, Error: v.err, By: v.by, Query: r.URL.Query()}
	if v.running {
		d.Elapsed = c.Now().Sub(v.started).Round(100 * time.Millisecond).String()
	} else if v.report != nil || v.err != "" {
		d.Took = v.took.Round(time.Millisecond).String()
	}
	v.mu.Unlock()
	if d.Running {
		// The page follows the run by reloading itself (no script: the CSP
		// allows none).
		w.Header().Set("Refresh", "1")
	}
	c.render(w, r, http.StatusOK, "audit", page{Title: "Audit", Nav: "audit", Data: d})
}

// auditVerify starts a verification of both streams (sealing first, so
// that everything is covered) unless one runs.
func (c *Console) auditVerify(w http.ResponseWriter, r *http.Request) {
	if c.Audit == nil {
		c.fail(w, r, http.StatusNotFound, "No audit", "The audit log is not available on this server.")
		return
	}
	v := c.verify
	v.mu.Lock()
	if !v.running {
		v.running, v.started, v.report, v.err, v.by = true, c.Now(), nil, "", adminOf(r).ID
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			_, err := c.Audit.Seal(ctx)
			var rep audit.Report
			if err == nil {
				rep, err = c.Audit.Verify(ctx)
			}
			v.mu.Lock()
			defer v.mu.Unlock()
			v.running, v.took = false, c.Now().Sub(v.started)
			if err != nil {
				v.err = "the verification could not read the store: " + err.Error()
				return
			}
			v.report = &rep
		}()
	}
	v.mu.Unlock()
	http.Redirect(w, r, "/console/audit", http.StatusSeeOther)
}

// auditExport streams the audit query as NDJSON, one CloudEvent a line as
// GET /v1/audit/events writes them, as a download (up to 100,000 events;
// the API pages further).
func (c *Console) auditExport(w http.ResponseWriter, r *http.Request) {
	if c.Audit == nil {
		c.fail(w, r, http.StatusNotFound, "No audit", "The audit log is not available on this server.")
		return
	}
	q := r.URL.Query()
	for k, v := range q {
		if len(v) == 0 || v[0] == "" {
			q.Del(k)
		}
	}
	f, err := audit.ParseFilter(q, 100000)
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, "Bad filter", message(err))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="bindery-audit-`+strconv.FormatInt(c.Now().Unix(), 10)+`.ndjson"`)
	buf := make([]byte, 0, 4096)
	res, err := c.Audit.Events(r.Context(), f, func(it audit.Item) error {
		buf = it.Line(buf[:0])
		_, err := w.Write(buf)
		return err
	})
	if err != nil {
		// The download is cut short; every line written is a whole event.
		c.Logger.Warn("console audit export stopped", "err", err, "count", res.Count)
	}
}
