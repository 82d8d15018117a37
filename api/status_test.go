package api_test

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node"
)

// schema is the part of an OpenAPI schema the status test reads.
type schema struct {
	Ref        string             `yaml:"$ref"`
	Type       string             `yaml:"type"`
	Properties map[string]*schema `yaml:"properties"`
	Items      *schema            `yaml:"items"`
}

// checkDocumented fails unless the JSON fields of Go type typ are exactly
// the properties of s, at every level of nesting (path names the level).
func checkDocumented(t *testing.T, schemas map[string]*schema, path string, s *schema, typ reflect.Type) {
	t.Helper()
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		typ = typ.Elem()
		if s != nil && s.Items != nil {
			s = s.Items
		}
	}
	if s != nil && s.Ref != "" {
		s = schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
	}
	if typ.Kind() != reflect.Struct || typ == reflect.TypeOf(time.Time{}) || marshalsItself(typ) {
		return // a value, or JSON of its own making (checkServed reads that)
	}
	if s == nil || s.Properties == nil {
		t.Errorf("%s: the OpenAPI document has no properties for %s", path, typ)
		return
	}
	var served, documented []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		served = append(served, name)
		checkDocumented(t, schemas, path+"."+name, s.Properties[name], f.Type)
	}
	for name := range s.Properties {
		documented = append(documented, name)
	}
	sort.Strings(served)
	sort.Strings(documented)
	if strings.Join(served, " ") != strings.Join(documented, " ") {
		t.Errorf("%s: served %v, documented %v", path, served, documented)
	}
}

// ../shared/SECURITY.md scenario 35, seen by an operator: GET /v1/status shows the node's own
// protocol range and each peer's versions as the node knows them, and the
// OpenAPI document describes every field of the status, at every level.
func TestStatusShowsPeerProtocols(t *testing.T) {
	c := newAPICluster(t, st.Options{Node: func(p custody.Party, o *node.Options) {
		if p == custody.Custodian {
			o.ProtocolMin, o.ProtocolMax = 1, 1 // a node not yet upgraded
		}
	}})
	doc := servedOpenAPI(t)
	resp := doc.Paths["/v1/status"]["get"].Responses["200"].Content["application/json"].Schema
	if resp == nil {
		t.Fatal("GET /v1/status has no documented JSON body")
	}
	checkDocumented(t, doc.Components.Schemas, "status", resp, reflect.TypeOf(api.Status{}))

	for p, want := range map[custody.Party][2]int{custody.Custodian: {1, 1}, custody.Exchange: {1, node.ProtocolMax}} {
		var status api.Status
		if code := c.call(t, p, "auditor", "GET", "/v1/status", nil, &status); code != 200 {
			t.Fatalf("%s status: %d", p, code)
		}
		if status.Protocol.Min != want[0] || status.Protocol.Max != want[1] {
			t.Fatalf("%s's own range %+v, want %v", p, status.Protocol, want)
		}
		if len(status.Peers) != 2 {
			t.Fatalf("%s's peers: %+v", p, status.Peers)
		}
		for _, peer := range status.Peers {
			// No frame yet: no peer's range is known, and each is spoken
			// to in this node's minimum.
			if peer.Protocol != (node.PeerVersions{Speaks: want[0]}) {
				t.Fatalf("%s's view of %s: %+v", p, peer.Party, peer.Protocol)
			}
		}
	}
}

// openAPIDoc is the part of openapi.yaml the document tests read: each
// path's JSON response schemas and the component schemas.
type openAPIDoc struct {
	Paths map[string]map[string]struct {
		Responses map[string]struct {
			Content map[string]struct {
				Schema *schema `yaml:"schema"`
			} `yaml:"content"`
		} `yaml:"responses"`
	} `yaml:"paths"`
	Components struct {
		Schemas map[string]*schema `yaml:"schemas"`
	} `yaml:"components"`
}

// servedOpenAPI decodes the OpenAPI document the API serves.
func servedOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := yaml.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}
