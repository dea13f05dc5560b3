package main

import (
	"reflect"
	"testing"
)

func TestSecondsFlag(t *testing.T) {
	tests := []struct {
		in      string
		want    seconds
		wantErr bool
	}{
		{"300", 300, false},
		{"5m", 300, false},
		{"1h30m", 5400, false},
		{"0", 0, false},
		{"-1s", 0, true},
		{"soon", 0, true},
	}
	for _, tt := range tests {
		var s seconds
		err := s.Set(tt.in)
		if (err != nil) != tt.wantErr || s != tt.want {
			t.Errorf("Set(%q) = %d, %v; want %d, error %v", tt.in, s, err, tt.want, tt.wantErr)
		}
	}
}

func TestListFlags(t *testing.T) {
	var l stringList
	_ = l.Set("a, b")
	_ = l.Set("c,")
	if want := (stringList{"a", "b", "c"}); !reflect.DeepEqual(l, want) {
		t.Errorf("stringList = %q, want %q", l, want)
	}
	kv := keyValues{}
	if err := kv.Set("k=v,x="); err != nil {
		t.Fatal(err)
	}
	if want := (keyValues{"k": "v", "x": ""}); !reflect.DeepEqual(kv, want) {
		t.Errorf("keyValues = %v, want %v", kv, want)
	}
	if err := kv.Set("novalue"); err == nil {
		t.Error("keyValues accepted a pair without '='")
	}
	var o optBool
	if o.v != nil {
		t.Fatal("optBool set before Set")
	}
	if err := o.Set("false"); err != nil || o.v == nil || *o.v {
		t.Errorf("optBool after Set(false) = %v, %v", o.v, err)
	}
}
