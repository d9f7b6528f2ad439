package audit

import (
	"errors"
	"net/url"
	"testing"

	"github.com/bindery/bindery/domain"
)

// FuzzParseFilter: any query string either parses into a filter within
// bounds or is refused with validation_failed; it never panics.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"", "aggregate=account", "aggregate=account/7c9e6679-7425-40de-944b-e07fc1f90ae7", "type=account_created",
		"type=bindery.account_created.v1", "account=x", "since=2026-01-01T00:00:00Z&until=2025-01-01T00:00:00Z",
		"after=h1.a2", "after=h-1.a", "limit=0", "limit=10001", "limit=1", "aggregate=a/b/c", "x=1", "type=../..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, err := ParseFilter(q, DefaultLimit)
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.KindValidation {
				t.Fatalf("%q: %v", raw, err)
			}
			return
		}
		if flt.Limit < 1 || flt.Limit > MaxLimit {
			t.Fatalf("%q: limit %d", raw, flt.Limit)
		}
		if !flt.Until.IsZero() && !flt.Since.IsZero() && flt.Until.Before(flt.Since) {
			t.Fatalf("%q: until before since", raw)
		}
	})
}
