package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/events"
)

// An error answer is an *api.Error with its status; a body that is not the
// API's error is kept as the message.
func TestErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-0123456789abcdef" {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(api.ErrorBody{Error: &api.Error{Code: "unauthorized", Message: "a token is needed"}})
			return
		}
		http.Error(w, "upstream broke", http.StatusBadGateway)
	}))
	defer srv.Close()
	c, _ := New(Options{Server: srv.URL})
	_, err := c.Apps(context.Background())
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "unauthorized" || ae.Message != "a token is needed" {
		t.Fatalf("401: %#v", err)
	}
	c, _ = New(Options{Server: srv.URL, Token: "tok-0123456789abcdef"})
	if _, err := c.Pools(context.Background()); !errors.As(err, &ae) || ae.Status != 502 || ae.Message != "upstream broke" {
		t.Fatalf("502: %#v", err)
	}
}

// Follow resumes after the last event it saw when the stream drops, and
// stops on a refusal.
func TestFollowResumes(t *testing.T) {
	var mu sync.Mutex
	var afters []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		afters = append(afters, r.URL.Query().Get("after"))
		n := len(afters)
		mu.Unlock()
		if n == 3 {
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(api.ErrorBody{Error: &api.Error{Code: "forbidden", Message: "no more"}})
			return
		}
		// Two events a connection, then the connection drops.
		for i := 1; i <= 2; i++ {
			data, _ := json.Marshal(events.Event{Seq: uint64(10*n + i), Kind: events.AppScale, App: "web"})
			fmt.Fprintf(w, "id: %d\ndata: %s\n\n", 10*n+i, data)
		}
	}))
	defer srv.Close()
	c, _ := New(Options{Server: srv.URL})
	var got []uint64
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.Follow(ctx, EventQuery{App: "web"}, 5, func(e events.Event) error { got = append(got, e.Seq); return nil })
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != 403 {
		t.Fatalf("Follow ended with %v", err)
	}
	if fmt.Sprint(afters) != "[5 12 22]" || fmt.Sprint(got) != "[11 12 21 22]" {
		t.Fatalf("after= %v, events %v", afters, got)
	}
}
