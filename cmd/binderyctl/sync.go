package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// syncAccounts streams an NDJSON file to POST /v1/apps/{app}/sync/accounts
// with a progress bar, and prints the report.
func syncAccounts(ctx context.Context, c *cli, args []string) int {
	fs := c.flagSet("sync accounts", "FILE --app APP",
		"Streams FILE (NDJSON: one account per line, in your field names; \"-\" reads stdin) to\n"+
			"POST /v1/apps/APP/sync/accounts, which maps the fields by the app's field_mapping and\n"+
			"upserts the accounts by external_id. A progress bar (bytes sent, lines, rate) goes to\n"+
			"stderr; the report (created, updated, unchanged, and each failed line) to stdout.\n"+
			"Exit code 1 when a line failed. See docs/integration.md.")
	var e endpoints
	c.httpFlags(fs, &e)
	app := fs.String("app", "", "the app whose field_mapping applies (required)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	// FILE may come before or after the flags.
	var files []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if err == flag.ErrHelp {
				return exitOK
			}
			return exitProblem
		}
		if fs.NArg() == 0 {
			break
		}
		files, rest = append(files, fs.Arg(0)), fs.Args()[1:]
	}
	switch {
	case len(files) != 1:
		fmt.Fprintln(c.stderr, "binderyctl sync accounts: name one FILE (or - for stdin)")
		fs.Usage()
		return exitProblem
	case *app == "":
		return c.fail("sync accounts: --app is required")
	}
	a, err := newAPI(e)
	if err != nil {
		return c.fail("%v", err)
	}
	var in io.Reader = os.Stdin
	var size int64
	if files[0] != "-" {
		f, err := os.Open(files[0])
		if err != nil {
			return c.fail("%v", err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		in = f
	}
	body := &countingReader{r: in}
	bar := startSyncBar(c.stderr, body, size)
	rep, err := a.syncAccounts(ctx, *app, body, size)
	bar.stop()
	if err != nil {
		return c.fail("sync accounts: %v", err)
	}
	if *asJSON {
		out, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(c.stdout, string(out))
	} else {
		failed := len(rep.Failed) + rep.FailedOmitted
		fmt.Fprintf(c.stdout, "created %d, updated %d, unchanged %d, failed %d\n", rep.Created, rep.Updated, rep.Unchanged, failed)
		for _, f := range rep.Failed {
			fmt.Fprintf(c.stdout, "line %d: %s: %s\n", f.Line, f.Code, f.Message)
		}
		if rep.FailedOmitted > 0 {
			fmt.Fprintf(c.stdout, "… and %d more failed lines (not listed)\n", rep.FailedOmitted)
		}
	}
	if len(rep.Failed)+rep.FailedOmitted > 0 {
		return exitFailed
	}
	return exitOK
}

// syncReport is the API's answer.
type syncReport struct {
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Failed    []struct {
		Line    int    `json:"line"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"failed"`
	FailedOmitted int `json:"failed_omitted,omitempty"`
}

// syncAccounts posts the body (size bytes, or -1/0 when unknown).
func (a *api) syncAccounts(ctx context.Context, app string, body io.Reader, size int64) (syncReport, error) {
	var rep syncReport
	path := "/v1/apps/" + url.PathEscape(app) + "/sync/accounts"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, body)
	if err != nil {
		return rep, err
	}
	if size > 0 {
		req.ContentLength = size
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := a.client.Do(req)
	if err != nil {
		return rep, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return rep, err
	}
	if resp.StatusCode != http.StatusOK {
		var p struct{ Code, Detail string }
		if json.Unmarshal(data, &p) == nil && p.Code != "" {
			return rep, fmt.Errorf("%d %s: %s", resp.StatusCode, p.Code, p.Detail)
		}
		return rep, fmt.Errorf("%s", resp.Status)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return rep, fmt.Errorf("the answer is not a sync report: %w", err)
	}
	return rep, nil
}

// countingReader counts the bytes and lines read through it.
type countingReader struct {
	r            io.Reader
	bytes, lines atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.bytes.Add(int64(n))
	c.lines.Add(int64(bytes.Count(p[:n], []byte{'\n'})))
	return n, err
}

// syncBar redraws "[####....] 45% 5.6/12.7 MiB 45123 lines 3456 lines/s"
// on one line a few times a second while the body is sent.
type syncBar struct {
	w     io.Writer
	body  *countingReader
	size  int64
	start time.Time
	done  chan struct{}
	wg    sync.WaitGroup
}

func startSyncBar(w io.Writer, body *countingReader, size int64) *syncBar {
	b := &syncBar{w: w, body: body, size: size, start: time.Now(), done: make(chan struct{})}
	b.wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-b.done:
				return
			case <-t.C:
				b.draw()
			}
		}
	})
	return b
}

func (b *syncBar) draw() {
	sent, lines := b.body.bytes.Load(), b.body.lines.Load()
	secs := max(time.Since(b.start).Seconds(), 1e-3)
	const mib = 1 << 20
	var bar string
	if b.size > 0 {
		const width = 30
		filled := min(int(width*float64(sent)/float64(b.size)), width)
		bar = fmt.Sprintf("[%s%s] %3.0f%% %.1f/%.1f MiB", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
			100*float64(sent)/float64(b.size), float64(sent)/mib, float64(b.size)/mib)
	} else {
		bar = fmt.Sprintf("%.1f MiB", float64(sent)/mib)
	}
	fmt.Fprintf(b.w, "\rsyncing %s  %d lines  %.0f lines/s ", bar, lines, float64(lines)/secs)
}

// stop draws the last state and ends the line.
func (b *syncBar) stop() {
	close(b.done)
	b.wg.Wait()
	b.draw()
	fmt.Fprintf(b.w, " %.1fs\n", time.Since(b.start).Seconds())
}
