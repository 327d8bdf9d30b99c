package api

import "net/http"

// JSON bodies are bounded in shape before anything decodes them: a small
// body nested thousands deep, or holding tens of thousands of values, costs
// far more to decode, encode to YAML and check than its size suggests (60 KB
// of nested labels once took seconds and a gigabyte).
const (
	// maxDepth is deeper than any descriptor field (an app's deepest is
	// policies[].windows[].days[], depth 4).
	maxDepth = 32
	// maxValues bounds the values and members of a body: an app with a
	// hundred policies of ten windows each has a few thousand.
	maxValues = 20_000
	// maxMembers bounds one object's members or one array's elements: the
	// YAML library the descriptor is checked with looks for duplicate keys
	// in quadratic time (9,500 labels took seconds).
	maxMembers = 256
)

// checkShape scans a JSON text (valid or not: the decoder reports syntax
// later) and refuses one nested deeper than maxDepth, holding more than
// maxValues values, or an object or array of more than maxMembers. It reads
// each byte once and allocates nothing.
func checkShape(body []byte) *Error {
	depth, values := 0, 0
	var members [maxDepth + 1]int // commas seen in each open container
	inString, escaped := false, false
	for _, c := range body {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > maxDepth {
				return errf(http.StatusBadRequest, "too_deep", "", "the body is nested deeper than %d levels", maxDepth)
			}
			members[depth] = 0
			values++
		case '}', ']':
			depth = max(depth-1, 0)
		case ',':
			values++
			if members[depth]++; members[depth] >= maxMembers {
				return errf(http.StatusRequestEntityTooLarge, "too_large", "", "an object or a list of the body holds more than %d members", maxMembers)
			}
		}
		if values > maxValues {
			return errf(http.StatusRequestEntityTooLarge, "too_large", "", "the body holds more than %d values", maxValues)
		}
	}
	return nil
}
