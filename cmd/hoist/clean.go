package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// clean makes a string safe to print on a terminal: control characters
// (newlines, escape sequences) and invalid UTF-8 are shown escaped, as Go
// quotes them (\n, \x1b, \u2028), so text from the server (an app's image,
// an event's reason) cannot forge lines or drive the terminal.
func clean(s string) string {
	ok := true
	for _, r := range s {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) && r != ' ' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == unicode.ReplacementChar:
			if strings.HasPrefix(s[i:], string(unicode.ReplacementChar)) {
				b.WriteRune(r)
			} else {
				fmt.Fprintf(&b, `\x%02x`, s[i])
			}
		case r == ' ' || unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

// cleanLines is clean for text of several lines: each line is cleaned, the
// line breaks kept.
func cleanLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		body, nl := strings.CutSuffix(l, "\n")
		lines[i] = clean(body)
		if nl {
			lines[i] += "\n"
		}
	}
	return strings.Join(lines, "")
}
