// Package examples holds the annotated example descriptors; the quickstart is
// built into the binary so `hoist run` works with no file at hand.
package examples

import _ "embed"

// Quickstart is examples/quickstart.yaml.
//
//go:embed quickstart.yaml
var Quickstart []byte

// QuickstartName is how errors and logs name the embedded file.
const QuickstartName = "examples/quickstart.yaml (built in)"
