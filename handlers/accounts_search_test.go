package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/devtools/testenv"
)

type searchPage struct {
	Accounts []struct {
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
		Status      string `json:"status"`
	} `json:"accounts"`
	Next string `json:"next"`
}

func search(t *testing.T, env *testenv.Env, query string, pos ...string) searchPage {
	t.Helper()
	path := "/v1/accounts?" + query
	if len(pos) > 0 {
		path += "&min_position=" + url.QueryEscape(pos[0])
	}
	r := env.Admin("GET", path, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	var p searchPage
	r.JSON(t, &p)
	return p
}

func (p searchPage) ids() []string {
	out := []string{}
	for _, a := range p.Accounts {
		out = append(out, a.ID)
	}
	return out
}

// The search finds a person by name prefix and by each identifier, filters
// by status, org and role, and the exact lookups still answer.
func TestAccountSearchOverHTTP(t *testing.T) {
	env := testenv.Start(t, "", nil)
	create := func(body string) (string, string) {
		r := env.Admin("POST", "/v1/accounts", body)
		if r.Status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", body, r.Status, r.Body)
		}
		return r.Map(t)["id"].(string), r.Header.Get("X-Bindery-Position")
	}
	ann, _ := create(`{"display_name":"Ann Lee","username":"ann.lee","phone":"+8613800138000","email":"ann@example.com","external_id":"E1001"}`)
	ben, _ := create(`{"display_name":"Ben Leeds","username":"ben"}`)
	wang, pos := create(`{"display_name":"王小明","external_id":"E1003"}`)
	if r := env.Admin("PUT", "/v1/roles/seller", `{"permissions":["report:read"]}`); r.Status >= 300 {
		t.Fatalf("role: %d %s", r.Status, r.Body)
	}
	if r := env.Admin("PUT", "/v1/orgs/sales", `{"name":"Sales"}`); r.Status >= 300 {
		t.Fatalf("org: %d %s", r.Status, r.Body)
	}
	env.Admin("POST", "/v1/orgs/sales/members", `{"account_id":"`+ann+`"}`)
	env.Admin("POST", "/v1/orgs/sales/members", `{"account_id":"`+ben+`"}`)
	env.Admin("POST", "/v1/accounts/"+ann+"/roles", `{"role":"seller","org":"sales"}`)
	d := env.Admin("POST", "/v1/accounts/"+ben+"/disable", nil)
	if d.Status != http.StatusOK || d.Map(t)["status"] != "disabled" {
		t.Fatalf("disable: %d %s", d.Status, d.Body)
	}
	pos = d.Header.Get("X-Bindery-Position")
	sorted := func(v ...string) []string { slices.Sort(v); return v }
	for query, want := range map[string][]string{
		"q=lee":                       sorted(ann, ben),
		"q=LEEDS":                     {ben},
		"q=ann.":                      {ann},
		"q=%E7%8E%8B":                 {wang}, // 王
		"q=%2B8613800138000":          {ann},
		"q=8613800138000":             {ann},
		"q=%2B86+138-0013-8000":       {ann},
		"q=ANN@example.com":           {ann},
		"q=E1003":                     {wang},
		"q=" + ann:                    {ann},
		"q=nobody":                    {},
		"status=disabled":             {ben},
		"org=sales":                   sorted(ann, ben),
		"org=sales&status=active":     {ann},
		"role=seller":                 {ann},
		"q=lee&role=seller&org=sales": {ann},
		"":                            sorted(ann, ben, wang),
	} {
		if got := search(t, env, query, pos).ids(); !slices.Equal(got, want) {
			t.Errorf("?%s: %v, want %v", query, got, want)
		}
	}
	// The exact lookups keep answering as before.
	if got := search(t, env, "phone=%2B8613800138000").ids(); !slices.Equal(got, []string{ann}) {
		t.Fatalf("phone lookup: %v", got)
	}
	// Enable brings it back; both commands are idempotent.
	for range 2 {
		e := env.Admin("POST", "/v1/accounts/"+ben+"/enable", "{}")
		if e.Status != http.StatusOK || e.Map(t)["status"] != "active" {
			t.Fatalf("enable: %d %s", e.Status, e.Body)
		}
		pos = e.Header.Get("X-Bindery-Position")
	}
	if got := search(t, env, "status=disabled", pos).ids(); len(got) != 0 {
		t.Fatalf("still disabled: %v", got)
	}
	if r := env.Admin("POST", "/v1/accounts/"+ann+"/disable", nil); r.Status != 200 {
		t.Fatalf("disable ann: %d", r.Status)
	}
	if r := env.Admin("POST", "/v1/accounts/"+ann+"/disable", nil); r.Status != 200 {
		t.Fatalf("disable twice: %d", r.Status)
	}
	// Bad searches and status commands are problems with a stable code.
	for path, want := range map[string]struct {
		status int
		code   string
	}{
		"GET /v1/accounts?limit=0":                                       {400, "validation_failed"},
		"GET /v1/accounts?limit=501":                                     {400, "validation_failed"},
		"GET /v1/accounts?limit=ten":                                     {400, "validation_failed"},
		"GET /v1/accounts?status=gone":                                   {400, "validation_failed"},
		"GET /v1/accounts?after=not-a-cursor":                            {400, "validation_failed"},
		"GET /v1/accounts?after=" + ann:                                  {400, "validation_failed"},
		"GET /v1/accounts?phone=%2B8613800138000&q=a":                    {400, "validation_failed"},
		"GET /v1/accounts?q=" + strings.Repeat("x", 300):                 {400, "validation_failed"},
		"POST /v1/accounts/" + ann + "/enable?x":                         {200, ""},
		"POST /v1/accounts/00000000-0000-4000-8000-000000000000/enable":  {404, "not_found"},
		"POST /v1/accounts/00000000-0000-4000-8000-000000000000/disable": {404, "not_found"},
		"POST /v1/accounts/not-an-id/disable":                            {404, "not_found"},
	} {
		method, p, _ := strings.Cut(path, " ")
		r := env.Admin(method, p, nil)
		if r.Status != want.status || (want.code != "" && r.Map(t)["code"] != want.code) {
			t.Errorf("%s: %d %s, want %d %s", path, r.Status, r.Body, want.status, want.code)
		}
	}
	if r := env.Admin("POST", "/v1/accounts/"+ann+"/disable", `{"reason":1}`); r.Status != 400 {
		t.Fatalf("a body on disable: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/v1/accounts/"+ann+"/enable", nil); r.Status != 401 {
		t.Fatalf("enable without a token: %d", r.Status)
	}
}

// Done-when 3 of issue 11: paging through 10,000 accounts while others are
// being created returns each account once, with no gap.
func TestAccountPagingWhileCreating(t *testing.T) {
	const n = 10000
	env := syncEnv(t)
	var file strings.Builder
	for i := range n {
		// One unique value (external_id) per record: the quickest accounts to create.
		fmt.Fprintf(&file, "{\"empNo\":\"P%05d\",\"name\":\"Employee %d\"}\n", i, i)
	}
	start := time.Now()
	rep, r := postSync(t, env, "crm", file.String())
	t.Logf("sync of %d: %v", n, time.Since(start))
	if r.Status != http.StatusOK || rep.Created != n {
		t.Fatalf("sync: %d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return env.App.Accounts.Count() >= n })
	before := env.App.Accounts.IDs() // the view itself: every account before paging starts

	stop := make(chan struct{})
	var created atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := env.Admin("POST", "/v1/accounts", fmt.Sprintf(`{"display_name":"Employee new %d-%d"}`, w, i))
				if r.Status != http.StatusCreated {
					t.Errorf("create during paging: %d %s", r.Status, r.Body)
					return
				}
				created.Add(1)
			}
		}()
	}
	seen := map[string]int{}
	pages, after := 0, ""
	for _, q := range []string{"", "q=employee&"} {
		clear(seen)
		pages, after = 0, ""
		start := time.Now()
		for {
			page := search(t, env, q+"limit=250&after="+after)
			pages++
			for _, id := range page.ids() {
				seen[id]++
			}
			if page.Next == "" {
				break
			}
			after = page.Next
			if pages > 1000 {
				t.Fatal("paging does not end")
			}
		}
		for id, k := range seen {
			if k != 1 {
				t.Fatalf("%s: account %s returned %d times", q, id, k)
			}
		}
		for _, id := range before {
			if seen[id] != 1 {
				t.Fatalf("%s: account %s, there before paging began, was skipped (%d seen of %d)", q, id, len(seen), len(before))
			}
		}
		t.Logf("%s: %d pages in %v, %d accounts (%d existed before), %d created meanwhile so far", q, pages, time.Since(start), len(seen), len(before), created.Load())
	}
	close(stop)
	wg.Wait()
	if created.Load() == 0 {
		t.Fatal("nothing was created while paging: the test proves nothing")
	}
}
