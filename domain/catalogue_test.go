package domain_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/app"
	"github.com/bindery/bindery/domain/authorization"
	"github.com/bindery/bindery/domain/browsersession"
	"github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/domain/oidcclient"
	"github.com/bindery/bindery/domain/org"
	"github.com/bindery/bindery/domain/qrlogin"
	"github.com/bindery/bindery/domain/role"
	"github.com/bindery/bindery/domain/session"
	"github.com/bindery/bindery/domain/webhook"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/projections"
)

// aggregates is every aggregate of domain/. TestFoldsMatchApply fails when
// an Apply in domain/ belongs to a type missing here.
var aggregates = []domain.Folder{
	&account.Account{}, &app.App{}, &login.Attempt{}, &login.Ticket{}, &login.OTP{}, &login.PasswordGuard{},
	&org.Org{}, &qrlogin.QR{}, &role.Role{}, &role.Holder{}, &session.Session{}, &webhook.Webhook{},
	&oidcclient.Client{}, &authorization.Authorization{}, &browsersession.Session{},
}

// ignored are the catalogue types that no aggregate folds and no view
// reduces, each with the reason. An entry that something handles after all
// fails TestCatalogueIsHandled: the list stays exact.
var ignored = map[string]string{
	"bindery.account_registered.v1":     "a fact for the audit trail and webhooks; the account is made by account_created and its bindings",
	"bindery.account_verified.v1":       "a fact for the audit trail and webhooks: a verify-mode login's outcome; nothing folds it",
	"bindery.session_reuse_detected.v1": "a fact for the audit trail; the session is revoked by the session_revoked written with it",
	"bindery.org_placed.v1":             "folded by the org tree of the authz use cases (internal/app/authz/tree.go), not a domain aggregate",
}

// handlers is what handles catalogue types today: the aggregates' folds,
// the views' tables, the ignore list.
func handlers() (folds, views, ignores []string) {
	for _, a := range aggregates {
		for _, e := range a.Folds() {
			folds = append(folds, events.TypeName(e))
		}
	}
	views = projections.Handles(projections.NewSet().All()...)
	for name := range ignored {
		ignores = append(ignores, name)
	}
	return folds, views, ignores
}

// unhandled lists, sorted, the catalogue's types that no list of handled
// types names.
func unhandled(catalogue *events.Registry, handled ...[]string) []string {
	var out []string
	for _, name := range catalogue.Names() {
		if !slices.ContainsFunc(handled, func(h []string) bool { return slices.Contains(h, name) }) {
			out = append(out, name)
		}
	}
	return out
}

// Every event type is folded by an aggregate, reduced by a view or
// ignored on purpose; everything handled is in the catalogue (a type
// missing there would never be decoded); and the ignore list names only
// types that nothing else handles.
func TestCatalogueIsHandled(t *testing.T) {
	folds, views, ignores := handlers()
	if got := unhandled(events.Catalogue(), folds, views, ignores); len(got) != 0 {
		t.Errorf("event types nothing handles: %v\nfold them in an aggregate (and its Folds), reduce them in a view's table, or add them to ignored with the reason", got)
	}
	known := events.Catalogue().Names()
	for _, name := range slices.Concat(folds, views, ignores) {
		if !slices.Contains(known, name) {
			t.Errorf("%s is handled but missing from events.Catalogue(): its events could not be decoded", name)
		}
	}
	for _, name := range ignores {
		if slices.Contains(folds, name) || slices.Contains(views, name) {
			t.Errorf("%s is ignored but handled: remove it from the ignore list", name)
		}
	}
}

// unheardOf is an event type added to the catalogue without a handler.
type unheardOf struct{}

func (unheardOf) EventName() string { return "unheard_of" }

// The check fails when a type is added to the catalogue and to nothing else.
func TestUnhandledReportsANewType(t *testing.T) {
	reg := events.Catalogue()
	reg.Register(unheardOf{})
	folds, views, ignores := handlers()
	got := unhandled(reg, folds, views, ignores)
	if !slices.Equal(got, []string{"bindery.unheard_of.v1"}) {
		t.Fatalf("unhandled = %v, want only the new type", got)
	}
	if got := unhandled(reg, folds, views); !slices.Contains(got, "bindery.account_registered.v1") {
		t.Fatalf("without the ignore list, account_registered is unhandled too: %v", got)
	}
}

// Each aggregate's Folds is exactly what its Apply folds: the event types
// named by the type switches and type assertions of Apply and of the
// methods of the aggregate it calls. And every Apply(events.Record) in
// domain/ is an aggregate of the list above.
func TestFoldsMatchApply(t *testing.T) {
	pkgs := parseDomain(t)
	listed := map[string]bool{}
	for _, a := range aggregates {
		typ := reflect.TypeOf(a).Elem()
		dir := strings.TrimPrefix(typ.PkgPath(), "github.com/bindery/bindery/domain/")
		key := dir + "." + typ.Name()
		listed[key] = true
		methods := pkgs[dir][typ.Name()]
		if methods["Apply"] == nil {
			t.Errorf("%s: no Apply method found in domain/%s", key, dir)
			continue
		}
		var declared []string
		for _, e := range a.Folds() {
			if et := reflect.TypeOf(e); et.PkgPath() != "github.com/bindery/bindery/events" {
				t.Errorf("%s folds %v, not an event type of package events", key, et)
			}
			declared = append(declared, reflect.TypeOf(e).Name())
		}
		slices.Sort(declared)
		if got := folded(methods); !slices.Equal(got, declared) {
			t.Errorf("%s: Apply folds %v but Folds declares %v", key, got, declared)
		}
	}
	for dir, types := range pkgs {
		for name, methods := range types {
			if fd := methods["Apply"]; fd != nil && isFold(fd) && !listed[dir+"."+name] {
				t.Errorf("%s.%s has an Apply(events.Record) but is not in aggregates (domain/catalogue_test.go)", dir, name)
			}
		}
	}
}

// parseDomain reads the non-test files of every package under domain/:
// directory → receiver type → method name → declaration.
func parseDomain(t *testing.T) map[string]map[string]map[string]*ast.FuncDecl {
	t.Helper()
	pkgs := map[string]map[string]map[string]*ast.FuncDecl{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || len(fd.Recv.List) != 1 {
				continue
			}
			recv := fd.Recv.List[0].Type
			if star, ok := recv.(*ast.StarExpr); ok {
				recv = star.X
			}
			id, ok := recv.(*ast.Ident)
			if !ok {
				continue
			}
			if pkgs[dir] == nil {
				pkgs[dir] = map[string]map[string]*ast.FuncDecl{}
			}
			if pkgs[dir][id.Name] == nil {
				pkgs[dir][id.Name] = map[string]*ast.FuncDecl{}
			}
			pkgs[dir][id.Name][fd.Name.Name] = fd
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// isFold reports whether fd is a method Apply(events.Record).
func isFold(fd *ast.FuncDecl) bool {
	ps := fd.Type.Params.List
	if len(ps) != 1 || len(ps[0].Names) > 1 {
		return false
	}
	name, ok := eventType(ps[0].Type)
	return ok && name == "Record"
}

// folded lists, sorted, the event types that Apply and the methods it
// calls on its receiver name in type switch cases and type assertions.
func folded(methods map[string]*ast.FuncDecl) []string {
	seen := map[string]bool{}
	var out []string
	var visit func(fd *ast.FuncDecl)
	visit = func(fd *ast.FuncDecl) {
		if seen[fd.Name.Name] {
			return
		}
		seen[fd.Name.Name] = true
		recv := ""
		if names := fd.Recv.List[0].Names; len(names) == 1 {
			recv = names[0].Name
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.TypeSwitchStmt:
				for _, c := range n.Body.List {
					for _, e := range c.(*ast.CaseClause).List {
						if name, ok := eventType(e); ok {
							out = append(out, name)
						}
					}
				}
			case *ast.TypeAssertExpr:
				if name, ok := eventType(n.Type); ok {
					out = append(out, name)
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == recv && methods[sel.Sel.Name] != nil {
						visit(methods[sel.Sel.Name])
					}
				}
			}
			return true
		})
	}
	visit(methods["Apply"])
	slices.Sort(out)
	return slices.Compact(out)
}

// eventType reports the name of an events.<Name> type expression.
func eventType(e ast.Expr) (string, bool) {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return "", false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return sel.Sel.Name, ok && pkg.Name == "events"
}
