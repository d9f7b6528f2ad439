package usecase

import (
	"errors"
	"strings"
	"testing"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

func TestRequire(t *testing.T) {
	var nilPtr *strings.Builder
	for _, tt := range []struct {
		name string
		deps []any
		want string // "" = no panic
	}{
		{"all set", []any{"store", &strings.Builder{}, "clock", func() {}}, ""},
		{"nil interface", []any{"store", nil}, "x.New: store is nil"},
		{"typed nil pointer", []any{"store", &strings.Builder{}, "box", nilPtr}, "x.New: box is nil"},
		{"value type", []any{"ttl", 0}, ""},
	} {
		got := func() (msg string) {
			defer func() {
				if r := recover(); r != nil {
					msg = r.(string)
				}
			}()
			Require("x.New", tt.deps...)
			return ""
		}()
		if got != tt.want {
			t.Errorf("%s: Require(%v) panicked with %q, want %q", tt.name, tt.deps, got, tt.want)
		}
	}
}

func TestTranslate(t *testing.T) {
	for _, tt := range []struct {
		in   error
		code string
	}{
		{&events.ClaimTakenError{Kind: events.ClaimOpenID}, "already_bound"},
		{&events.ClaimTakenError{Kind: events.ClaimPhone}, events.ClaimPhone + "_taken"},
		{events.ErrConflict, "conflict"},
	} {
		var de *domain.Error
		if err := Translate(tt.in); !errors.As(err, &de) || de.Code != tt.code {
			t.Errorf("Translate(%v) = %v, want code %q", tt.in, err, tt.code)
		}
	}
	if Translate(nil) != nil {
		t.Error("Translate(nil) is not nil")
	}
}
