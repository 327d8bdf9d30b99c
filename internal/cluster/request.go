package cluster

import "time"

// PoolRequest is an operator's manual change of a pool's machine count
// (scaleto, scaleup, scaledown), accepted and not yet carried out. It is
// stored before it is acknowledged, so a restart carries it out, and only the
// newest of a pool is kept: the last request wins.
type PoolRequest struct {
	Pool string `json:"pool"`
	// Seq orders the requests: a newer one replaces an older.
	Seq uint64 `json:"seq"`
	// Target is the machine count the pool is to have, within its bounds when
	// the request was accepted.
	Target int `json:"target"`
	// Asked is the count asked for before clamping (a relative request
	// resolved against the count the pool was heading to).
	Asked  int       `json:"asked"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// Service labels every orchestrator understands.
const (
	// LabelManaged ("true") marks a service hoist deployed: hoist removes it
	// once no app of the descriptor or the API is behind it any more.
	LabelManaged = "hoist.managed"
	// LabelKeep ("true") keeps such a service running, unmanaged, instead.
	LabelKeep = "hoist.keep"
)
