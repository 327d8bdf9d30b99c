package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/distribution/reference"
)

// ErrImage is returned by CheckImage.
var ErrImage = errors.New("not a Docker image reference")

// CheckImage checks an image reference with the grammar Docker itself uses
// (distribution/reference, as `docker service create` parses its IMAGE): a
// name such as nginx, hoist/demoapp:latest, localhost:5000/app@sha256:...
// Whitespace, line breaks, control characters and upper case are refused, so
// an image never forges a line where it is printed.
func CheckImage(ref string) error {
	if ref == "" {
		return fmt.Errorf("%w: empty", ErrImage)
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		// The library's message may repeat the input: escape it too.
		why := strconv.Quote(strings.TrimPrefix(err.Error(), "invalid reference format: "))
		return fmt.Errorf("%w: %q (%s)", ErrImage, ref, why[1:len(why)-1])
	}
	return nil
}

// checkFinite reports every number of v that is NaN or infinite, at its
// descriptor path: a descriptor built in code or from JSON gets the same rule
// as a parsed one, whose walk refuses .nan and .inf already.
func checkFinite(ck *checker, v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			checkFinite(ck, v.Elem(), path)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if name, ok := yamlName(t.Field(i)); ok {
				checkFinite(ck, v.Field(i), join(path, name))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			checkFinite(ck, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			if iter.Key().Kind() == reflect.String {
				checkFinite(ck, iter.Value(), join(path, iter.Key().String()))
			}
		}
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			ck.add(path, "must be a finite number, not %g", f)
		}
	}
}
