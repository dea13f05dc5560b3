package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// optBool is a boolean flag that remembers whether it was given: --can-publish,
// --can-publish=false, or absent (nil: keep the default).
type optBool struct{ v *bool }

func (o *optBool) String() string {
	if o == nil || o.v == nil {
		return ""
	}
	return strconv.FormatBool(*o.v)
}

func (o *optBool) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false")
	}
	o.v = &b
	return nil
}

// IsBoolFlag lets the flag be given without a value.
func (o *optBool) IsBoolFlag() bool { return true }

// stringList collects comma-separated values, from one or several uses of the flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// keyValues collects key=value pairs (comma-separated or repeated).
type keyValues map[string]string

func (kv keyValues) String() string {
	parts := make([]string, 0, len(kv))
	for k, v := range kv {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (kv keyValues) Set(s string) error {
	for _, pair := range strings.Split(s, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q is not key=value", pair)
		}
		kv[k] = v
	}
	return nil
}

// seconds is a duration flag in whole seconds that accepts "300" as well as "5m".
type seconds uint32

func (s *seconds) String() string { return strconv.FormatUint(uint64(*s), 10) }

func (s *seconds) Set(v string) error {
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		*s = seconds(n)
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d.Seconds() > math.MaxUint32 {
		return fmt.Errorf("want seconds (300) or a duration (5m)")
	}
	*s = seconds(d / time.Second)
	return nil
}
