package api

import (
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
)

// The API's answers as types, for its clients (internal/apiclient) and its
// handlers alike, so the two cannot drift apart.
type (
	// AppView is an app as GET /v1/apps and /v1/apps/{name} show it.
	AppView = appView
	// ReplicaView counts an app's replicas by state.
	ReplicaView = replicaView
	// MetricView is one policy's figure.
	MetricView = metricView
	// PoolView is a pool as GET /v1/pools and /v1/pools/{name} show it.
	PoolView = poolView
	// ShapeView is a pool's machine shape.
	ShapeView = shapeView
	// MachineView is a machine record with its node.
	MachineView = machineView
	// NodeView is a machine's node as last observed.
	NodeView = nodeView
	// CountBody is the body of scaleup and scaledown.
	CountBody = countBody
)

// AppList answers GET /v1/apps.
type AppList struct {
	Apps []AppView `json:"apps"`
}

// AppChanged answers POST /v1/apps and PUT /v1/apps/{name}/policy.
type AppChanged struct {
	App      AppView  `json:"app"`
	Warnings []string `json:"warnings"`
}

// PolicyReset answers DELETE /v1/apps/{name}/policy.
type PolicyReset struct {
	App      string   `json:"app"`
	Override bool     `json:"override"`
	Warnings []string `json:"warnings"`
}

// AppDeleted answers DELETE /v1/apps/{name}.
type AppDeleted struct {
	Deleted        string   `json:"deleted"`
	ServiceRemoved bool     `json:"service_removed"`
	Warnings       []string `json:"warnings"`
}

// PoolList answers GET /v1/pools.
type PoolList struct {
	Pools []PoolView `json:"pools"`
}

// PoolChange answers scaleup, scaledown and scaleto.
type PoolChange struct {
	Pool      string `json:"pool"`
	Requested int    `json:"requested"`
	Target    int    `json:"target"`
	Clamped   bool   `json:"clamped"`
	Min       int    `json:"min"`
	Max       int    `json:"max"`
}

// DrainCancelled answers POST /v1/machines/{name}/cancel-drain.
type DrainCancelled struct {
	Machine string `json:"machine"`
	Cancel  bool   `json:"cancel"`
	Message string `json:"message"`
}

// EventPage answers GET /v1/events.
type EventPage struct {
	Events  []events.Event `json:"events"`
	LastSeq uint64         `json:"last_seq"`
	// Next is passed as after= for newer events, Prev as before= for older
	// ones; absent on an empty page.
	Next *uint64 `json:"next,omitempty"`
	Prev *uint64 `json:"prev,omitempty"`
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// SpecOf renders an app as the JSON object POST /v1/apps takes, as the
// server renders its own apps.
func SpecOf(a config.App) (map[string]any, error) { return appSpec(a) }
