package scenario

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

var (
	posType  = reflect.TypeFor[Pos]()
	stmtType = reflect.TypeFor[Stmt]()
)

// stripPositions clears everything in s that depends on where things were
// written rather than on what was written: every Pos, Stmt.Text and
// Scenario.Lines. It walks the tree by reflection so that fields added to
// the syntax tree later are covered without touching this helper.
func stripPositions(s *Scenario) *Scenario {
	if s == nil {
		return nil
	}
	s.Lines = 0
	s.pages = nil // how pg was read, which Format writes in bytes
	clearPositions(reflect.ValueOf(s))
	return s
}

func clearPositions(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			clearPositions(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == posType {
			v.Set(reflect.Zero(posType))
			return
		}
		if v.Type() == stmtType {
			v.FieldByName("Text").SetString("")
		}
		for i := range v.NumField() {
			clearPositions(v.Field(i))
		}
	case reflect.Slice:
		for i := range v.Len() {
			clearPositions(v.Index(i))
		}
	case reflect.Map:
		// Map values here are pointers, whose targets are settable.
		for it := v.MapRange(); it.Next(); {
			clearPositions(it.Value())
		}
	}
}

// dump renders a tree for failure messages, naming each operation's type.
func dump(v any) string {
	switch v := v.(type) {
	case *Stmt:
		if v == nil {
			return "<nil stmt>"
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		return fmt.Sprintf("%T %s", v.Op, b)
	case *Scenario:
		if v == nil {
			return "<nil scenario>"
		}
		var parts []string
		for _, st := range v.Body {
			parts = append(parts, dump(st))
		}
		head := *v
		head.Body = nil
		b, _ := json.MarshalIndent(head, "", "  ")
		return string(b) + "\n" + strings.Join(parts, "\n")
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// mustParse parses src and fails the test on any error.
func mustParse(t testing.TB, src string) *Scenario {
	t.Helper()
	s, err := Parse("t.fault", []byte(src))
	if err != nil {
		t.Fatalf("Parse failed:\n%v\nsource:\n%s", err, src)
	}
	return s
}

// parseErrors parses src, which must fail, and returns its errors.
func parseErrors(t testing.TB, src string) ErrorList {
	t.Helper()
	s, err := Parse("t.fault", []byte(src))
	if err == nil {
		t.Fatalf("Parse succeeded, want an error; source:\n%s\ntree:\n%s", src, dump(s))
	}
	if s != nil {
		t.Errorf("Parse returned a tree along with an error")
	}
	list, ok := err.(ErrorList)
	if !ok {
		t.Fatalf("Parse error is %T, want ErrorList", err)
	}
	return list
}

// checkRoundTrip checks that s, a tree Parse produced, prints to text that
// parses back to an equal tree, and that Format is idempotent.
func checkRoundTrip(t testing.TB, s *Scenario) {
	t.Helper()
	out := Format(s)
	s2, err := Parse("formatted.fault", out)
	if err != nil {
		t.Fatalf("Parse(Format(s)) failed:\n%v\nformatted:\n%s", err, out)
	}
	if out2 := Format(s2); string(out2) != string(out) {
		t.Fatalf("Format is not idempotent:\nfirst:\n%s\nsecond:\n%s", out, out2)
	}
	a, b := stripPositions(s), stripPositions(s2)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("Parse(Format(s)) differs from s\nformatted:\n%s\nwant:\n%s\ngot:\n%s", out, dump(a), dump(b))
	}
}
