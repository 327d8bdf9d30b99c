package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// ec2Fake is a stateful fake of the EC2 Query API (RunInstances,
// DescribeInstances, TerminateInstances) as the AWS SDK speaks it through an
// endpoint override. It checks what EC2 checks: a SigV4 signature made with
// the test's credentials, the required parameters, base64 user data, known
// AMIs, and ClientToken reuse (the same parameters give the same
// reservation, others IdempotentParameterMismatch). Faults are injected per
// action.
type ec2Fake struct {
	t       *testing.T
	srv     *httptest.Server
	keyID   string
	secret  string
	session string
	region  string

	mu        sync.Mutex
	instances map[string]*ec2Instance
	tokens    map[string]tokenUse // ClientToken: what it was used for
	faults    map[string][]string // by action
	hide      int                 // describes that do not see instances launched since hideFrom
	hideFrom  int
	runs      int // instances launched
	seq       int
}

type tokenUse struct {
	params string // the request's parameters, minus volatile ones
	id     string
}

type ec2Instance struct {
	id, ami, itype, subnet, key, az, token string
	groups                                 []string
	tags                                   map[string]string
	userData                               []byte
	state                                  string
	described                              int // pending turns running on the second describe
	launched                               time.Time
	seq                                    int
}

var stateCode = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

func newEC2Fake(t *testing.T) *ec2Fake {
	f := &ec2Fake{t: t, keyID: "AKIAHOISTTEST" + strings.ToUpper(randHex(4)), secret: "aws-secret-" + randHex(16),
		session: "aws-session-" + randHex(16), region: "eu-west-1",
		instances: map[string]*ec2Instance{}, tokens: map[string]tokenUse{}, faults: map[string][]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *ec2Fake) inject(action, kind string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[action] = append(f.faults[action], kind)
}

func (f *ec2Fake) nextFault(action string) string {
	if q := f.faults[action]; len(q) > 0 {
		f.faults[action] = q[1:]
		return q[0]
	}
	return ""
}

type ec2Error struct {
	XMLName   xml.Name `xml:"Response"`
	Code      string   `xml:"Errors>Error>Code"`
	Message   string   `xml:"Errors>Error>Message"`
	RequestID string   `xml:"RequestID"`
}

func ec2Err(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	xml.NewEncoder(w).Encode(ec2Error{Code: code, Message: msg, RequestID: randHex(8)})
}

func writeXML(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Write([]byte(xml.Header))
	xml.NewEncoder(w).Encode(v)
}

// verify checks the request's SigV4 signature by signing it again with the
// secret the fake knows.
func (f *ec2Fake) verify(r *http.Request, body []byte) string {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+f.keyID+"/") || !strings.Contains(auth, "/"+f.region+"/ec2/aws4_request") {
		return "AuthFailure: bad credential scope"
	}
	if r.Header.Get("X-Amz-Security-Token") != f.session {
		return "AuthFailure: bad session token"
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "AuthFailure: no X-Amz-Date"
	}
	signed := ""
	for _, part := range strings.Split(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ", ") {
		if s, ok := strings.CutPrefix(part, "SignedHeaders="); ok {
			signed = s
		}
	}
	again, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	for _, h := range strings.Split(signed, ";") {
		if h != "host" {
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: f.keyID, SecretAccessKey: f.secret, SessionToken: f.session}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), "ec2", f.region, when); err != nil {
		return "AuthFailure: " + err.Error()
	}
	if again.Header.Get("Authorization") != auth {
		return "SignatureDoesNotMatch"
	}
	return ""
}

func (f *ec2Fake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != "POST" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		ec2Err(w, 400, "InvalidRequest", "want a form POST")
		return
	}
	if bad := f.verify(r, body); bad != "" {
		code, msg, _ := strings.Cut(bad, ": ")
		ec2Err(w, 401, code, msg)
		return
	}
	q, err := url.ParseQuery(string(body))
	if err != nil || q.Get("Version") != "2016-11-15" {
		ec2Err(w, 400, "InvalidParameterValue", "bad query or version")
		return
	}
	action := q.Get("Action")
	f.mu.Lock()
	fault := f.nextFault(action)
	f.mu.Unlock()
	switch fault {
	case "throttle":
		ec2Err(w, 503, "RequestLimitExceeded", "Request limit exceeded.")
		return
	case "500":
		ec2Err(w, 500, "InternalError", "An internal error has occurred.")
		return
	}
	switch action {
	case "RunInstances":
		f.run(w, r, q, fault)
	case "DescribeInstances":
		f.describe(w, q)
	case "TerminateInstances":
		f.terminate(w, q)
	default:
		ec2Err(w, 400, "InvalidAction", "The action "+action+" is not valid for this web service.")
	}
}

// list reads Prefix.1, Prefix.2... (the Query protocol's lists).
func list(q url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := q[prefix+"."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

func (f *ec2Fake) run(w http.ResponseWriter, r *http.Request, q url.Values, fault string) {
	for _, k := range []string{"ImageId", "InstanceType", "MinCount", "MaxCount"} {
		if q.Get(k) == "" {
			ec2Err(w, 400, "MissingParameter", "The request must contain the parameter "+k)
			return
		}
	}
	if q.Get("MinCount") != "1" || q.Get("MaxCount") != "1" {
		ec2Err(w, 400, "InvalidParameterValue", "hoist orders one instance at a time")
		return
	}
	if !strings.HasPrefix(q.Get("ImageId"), "ami-") {
		ec2Err(w, 400, "InvalidAMIID.Malformed", "Invalid id: \""+q.Get("ImageId")+"\"")
		return
	}
	ud, err := base64.StdEncoding.DecodeString(q.Get("UserData"))
	if err != nil {
		ec2Err(w, 400, "InvalidParameterValue", "Invalid BASE64 encoding of user data.")
		return
	}
	tags := map[string]string{}
	for i := 1; q.Get(fmt.Sprintf("TagSpecification.%d.ResourceType", i)) != ""; i++ {
		if q.Get(fmt.Sprintf("TagSpecification.%d.ResourceType", i)) != "instance" {
			continue
		}
		for j := 1; ; j++ {
			k := q.Get(fmt.Sprintf("TagSpecification.%d.Tag.%d.Key", i, j))
			if k == "" {
				break
			}
			tags[k] = q.Get(fmt.Sprintf("TagSpecification.%d.Tag.%d.Value", i, j))
		}
	}
	// What a ClientToken's reuse is compared on: everything but the token.
	pq := url.Values{}
	for k, v := range q {
		if k != "ClientToken" {
			pq[k] = v
		}
	}
	params := pq.Encode()
	f.mu.Lock()
	token := q.Get("ClientToken")
	if use, ok := f.tokens[token]; ok && token != "" {
		i := f.instances[use.id]
		f.mu.Unlock()
		if use.params != params {
			ec2Err(w, 400, "IdempotentParameterMismatch", "The client token you have provided is associated with a resource that is already deleted or has different parameters. Please use a different client token.")
			return
		}
		writeXML(w, runResponse(i))
		return
	}
	f.seq++
	f.runs++
	i := &ec2Instance{id: fmt.Sprintf("i-%017x", f.seq*104729), ami: q.Get("ImageId"), itype: q.Get("InstanceType"),
		subnet: q.Get("SubnetId"), key: q.Get("KeyName"), az: q.Get("Placement.AvailabilityZone"), token: token,
		groups: list(q, "SecurityGroupId"), tags: tags, userData: ud, state: "pending", launched: time.Now().UTC().Truncate(time.Second), seq: f.seq}
	f.instances[i.id] = i
	if token != "" {
		f.tokens[token] = tokenUse{params: params, id: i.id}
	}
	f.mu.Unlock()
	switch fault {
	case "500-after-commit":
		ec2Err(w, 500, "InternalError", "An internal error has occurred.")
		return
	case "timeout-after-commit":
		<-r.Context().Done()
		return
	}
	writeXML(w, runResponse(i))
}

type xmlTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type xmlState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type xmlInstance struct {
	InstanceID   string   `xml:"instanceId"`
	ImageID      string   `xml:"imageId"`
	State        xmlState `xml:"instanceState"`
	InstanceType string   `xml:"instanceType"`
	LaunchTime   string   `xml:"launchTime"`
	PrivateIP    string   `xml:"privateIpAddress,omitempty"`
	SubnetID     string   `xml:"subnetId,omitempty"`
	KeyName      string   `xml:"keyName,omitempty"`
	ClientToken  string   `xml:"clientToken,omitempty"`
	Tags         []xmlTag `xml:"tagSet>item"`
}

func (i *ec2Instance) xml() xmlInstance {
	x := xmlInstance{InstanceID: i.id, ImageID: i.ami, State: xmlState{stateCode[i.state], i.state}, InstanceType: i.itype,
		LaunchTime: i.launched.Format("2006-01-02T15:04:05.000Z"), SubnetID: i.subnet, KeyName: i.key, ClientToken: i.token}
	if i.state == "running" {
		x.PrivateIP = fmt.Sprintf("172.31.0.%d", 10+i.seq%200)
	}
	keys := make([]string, 0, len(i.tags))
	for k := range i.tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x.Tags = append(x.Tags, xmlTag{k, i.tags[k]})
	}
	return x
}

type xmlRunResponse struct {
	XMLName       xml.Name      `xml:"RunInstancesResponse"`
	Xmlns         string        `xml:"xmlns,attr"`
	RequestID     string        `xml:"requestId"`
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Instances     []xmlInstance `xml:"instancesSet>item"`
}

func runResponse(i *ec2Instance) xmlRunResponse {
	return xmlRunResponse{Xmlns: "http://ec2.amazonaws.com/doc/2016-11-15/", RequestID: randHex(8),
		ReservationID: "r-" + strings.TrimPrefix(i.id, "i-"), OwnerID: "123456789012", Instances: []xmlInstance{i.xml()}}
}

type xmlReservation struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Instances     []xmlInstance `xml:"instancesSet>item"`
}

type xmlDescribeResponse struct {
	XMLName      xml.Name         `xml:"DescribeInstancesResponse"`
	Xmlns        string           `xml:"xmlns,attr"`
	RequestID    string           `xml:"requestId"`
	Reservations []xmlReservation `xml:"reservationSet>item"`
	NextToken    string           `xml:"nextToken,omitempty"`
}

func (f *ec2Fake) describe(w http.ResponseWriter, q url.Values) {
	filters := map[string][]string{}
	for i := 1; q.Get(fmt.Sprintf("Filter.%d.Name", i)) != ""; i++ {
		filters[q.Get(fmt.Sprintf("Filter.%d.Name", i))] = list(q, fmt.Sprintf("Filter.%d.Value", i))
	}
	match := func(i *ec2Instance) bool {
		for name, values := range filters {
			var have string
			switch {
			case name == "instance-state-name":
				have = i.state
			case name == "client-token":
				have = i.token
			case strings.HasPrefix(name, "tag:"):
				v, ok := i.tags[strings.TrimPrefix(name, "tag:")]
				if !ok {
					return false
				}
				have = v
			default:
				return false // a filter the fake does not know matches nothing
			}
			found := false
			for _, v := range values {
				found = found || v == have
			}
			if !found {
				return false
			}
		}
		return true
	}
	max := 1000
	if m, err := strconv.Atoi(q.Get("MaxResults")); err == nil {
		if m < 5 || m > 1000 {
			ec2Err(w, 400, "InvalidParameterValue", "MaxResults must be between 5 and 1000")
			return
		}
		max = min(m, 4) // small pages, so the paginator is exercised
	}
	start, _ := strconv.Atoi(q.Get("NextToken"))
	f.mu.Lock()
	defer f.mu.Unlock()
	hidden := f.hide > 0
	if hidden {
		f.hide--
	}
	all := make([]*ec2Instance, 0, len(f.instances))
	for _, i := range f.instances {
		if hidden && i.seq > f.hideFrom {
			continue // eventual consistency: not seen yet
		}
		if match(i) {
			all = append(all, i)
		}
	}
	sort.Slice(all, func(a, b int) bool { return all[a].seq < all[b].seq })
	resp := xmlDescribeResponse{Xmlns: "http://ec2.amazonaws.com/doc/2016-11-15/", RequestID: randHex(8)}
	end := min(len(all), start+max)
	for _, i := range all[min(start, len(all)):end] {
		i.described++
		if i.state == "pending" && i.described >= 2 {
			i.state = "running"
		}
		if i.state == "shutting-down" && i.described >= 2 {
			i.state = "terminated"
		}
		resp.Reservations = append(resp.Reservations, xmlReservation{ReservationID: "r-" + strings.TrimPrefix(i.id, "i-"),
			OwnerID: "123456789012", Instances: []xmlInstance{i.xml()}})
	}
	if end < len(all) {
		resp.NextToken = strconv.Itoa(end)
	}
	writeXML(w, resp)
}

type xmlStateChange struct {
	InstanceID string   `xml:"instanceId"`
	Current    xmlState `xml:"currentState"`
	Previous   xmlState `xml:"previousState"`
}

type xmlTerminateResponse struct {
	XMLName   xml.Name         `xml:"TerminateInstancesResponse"`
	Xmlns     string           `xml:"xmlns,attr"`
	RequestID string           `xml:"requestId"`
	Changes   []xmlStateChange `xml:"instancesSet>item"`
}

func (f *ec2Fake) terminate(w http.ResponseWriter, q url.Values) {
	ids := list(q, "InstanceId")
	if len(ids) == 0 {
		ec2Err(w, 400, "MissingParameter", "The request must contain the parameter InstanceId")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if f.instances[id] == nil {
			ec2Err(w, 400, "InvalidInstanceID.NotFound", "The instance ID '"+id+"' does not exist")
			return
		}
	}
	resp := xmlTerminateResponse{Xmlns: "http://ec2.amazonaws.com/doc/2016-11-15/", RequestID: randHex(8)}
	for _, id := range ids {
		i := f.instances[id]
		prev := i.state
		if i.state != "terminated" {
			i.state, i.described = "shutting-down", 0
		}
		resp.Changes = append(resp.Changes, xmlStateChange{id, xmlState{stateCode[i.state], i.state}, xmlState{stateCode[prev], prev}})
	}
	writeXML(w, resp)
}

// named returns the live instances tagged with machine name.
func (f *ec2Fake) named(name string) []*ec2Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*ec2Instance
	for _, i := range f.instances {
		if i.tags["hoist:machine"] == name && i.state != "shutting-down" && i.state != "terminated" {
			out = append(out, i)
		}
	}
	return out
}

func (f *ec2Fake) addForeign(name string, tags map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	if tags == nil {
		tags = map[string]string{}
	}
	i := &ec2Instance{id: fmt.Sprintf("i-%017x", f.seq*104729), ami: "ami-other", itype: "t3.micro", tags: tags, state: "running",
		launched: time.Now().UTC(), seq: f.seq}
	i.tags["Name"] = name
	f.instances[i.id] = i
}
