package prom

import (
	"errors"
	"testing"

	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/fuzzbudget"
)

// FuzzAnswer: whatever Prometheus (or something at its address) answers,
// reading it costs a bounded amount, never panics, and every failure is
// "no data" of one of this package's kinds, so the engine holds.
func FuzzAnswer(f *testing.F) {
	for _, s := range []string{
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1767600000.1,"3.5"]}]}}`,
		`{"status":"success","data":{"resultType":"scalar","result":[1767600000,"2"]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"NaN"]},{"value":[1,"+Inf"]}]}}`,
		`{"status":"success","data":{"resultType":"scalar","result":[1,2]}}`,
		`{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error"}`,
		`<html>502 Bad Gateway</html>`, ``, `null`, `{"status":"success"}`, `[[[[[[[[[[[[[[[[`,
	} {
		f.Add(200, []byte(s))
		f.Add(400, []byte(s))
	}
	f.Add(503, []byte("Service Unavailable"))
	f.Fuzz(func(t *testing.T, code int, raw []byte) {
		fuzzbudget.Check(t, fuzzbudget.Budget{Fixed: 64 << 10, PerByte: 48}, len(raw), func() {
			for _, api := range []bool{true, false} {
				data, err := envelope(code, raw, api)
				if err != nil {
					checkNoData(t, err)
					continue
				}
				if _, err := value(data, "q"); err != nil {
					checkNoData(t, err)
				}
				if err := checkResultType(data); err != nil {
					checkNoData(t, err)
				}
			}
		})
	})
}

func checkNoData(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, engine.ErrNoData) {
		t.Fatalf("%v is not no-data", err)
	}
	for _, kind := range []error{ErrUnavailable, ErrQuery, ErrEmpty, ErrNotANumber, ErrAmbiguous} {
		if errors.Is(err, kind) {
			return
		}
	}
	t.Fatalf("%v is of no kind", err)
}
