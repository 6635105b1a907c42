package apidoc

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/runbookhq/runbook/api"
)

const small = `
openapi: 3.1.0
info: {title: T, version: v9, summary: S., description: "Line one\n\nUse ` + "`x`" + `."}
security: [{bearer: []}]
tags: [{name: b}, {name: a}]
paths:
  /z/{id}:
    parameters: [{$ref: "#/components/parameters/ID"}]
    get:
      tags: [a]
      operationId: getZ
      summary: Read a z
      parameters: [{name: q, in: query, schema: {type: array, items: {$ref: "#/components/schemas/Z"}}}]
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Z"}}}}
        "404": {$ref: "#/components/responses/NF"}
  /ping:
    post:
      tags: [b]
      summary: Ping
      security: []
      requestBody: {required: true, content: {text/plain: {schema: {type: string}}}}
      responses: {"204": {description: none}}
components:
  parameters:
    ID: {name: id, in: path, required: true, description: The id., schema: {type: integer, format: int64}}
  responses:
    NF: {description: Not | found, content: {application/json: {schema: {$ref: "#/components/schemas/Z"}}}}
  schemas:
    Z:
      type: object
      required: [n]
      properties:
        n: {type: integer, description: A number.}
        s: {type: string, enum: [x, y]}
`

func TestParse(t *testing.T) {
	s, err := Parse([]byte(small))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Routes(); !slices.Equal(got, []string{"GET /z/{id}", "POST /ping"}) {
		t.Fatalf("routes %v", got)
	}
	z := s.Operations[0]
	if z.Public || !s.Operations[1].Public {
		t.Errorf("public: GET %v, POST %v; want false, true (security: [] makes a route public)", z.Public, s.Operations[1].Public)
	}
	if len(z.Params) != 2 || z.Params[0].Name != "id" || !z.Params[0].Required || z.Params[0].Type != "integer (int64)" ||
		z.Params[1].Type != "array of #Z" {
		t.Errorf("params %+v", z.Params)
	}
	if len(z.Responses) != 2 || z.Responses[1].Description != "Not | found" || z.Responses[1].Content[0].Type != "#Z" {
		t.Errorf("responses %+v", z.Responses)
	}
	if g := s.ByTag(); len(g) != 2 || g[0].Tag != "b" || g[1].Tag != "a" {
		t.Errorf("groups %+v, want the document's tag order b, a", g)
	}
	if len(s.Schemas) != 1 || len(s.Schemas[0].Properties) != 2 || !s.Schemas[0].Properties[0].Required ||
		s.Schemas[0].Properties[1].Type != "string: x, y" {
		t.Errorf("schemas %+v", s.Schemas)
	}

	md := string(s.Markdown("openapi.yaml"))
	for _, want := range []string{"### GET /z/{id}", "### POST /ping", `Not \| found`, "[Z](#schema-z)", `<a id="schema-z"></a>`, "array of [Z](#schema-z)"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	h, err := s.HTML()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="op-getz"`, `<a href="#schema-z">Z</a>`, `id="schema-z"`, "<code>x</code>", "Not | found"} {
		if !strings.Contains(string(h), want) {
			t.Errorf("html lacks %q", want)
		}
	}
}

// TestRealSpec renders api/openapi.yaml: every route and schema appears,
// and every in-page link has its target.
func TestRealSpec(t *testing.T) {
	s, err := Parse(api.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Operations) < 20 || len(s.Schemas) < 10 {
		t.Fatalf("only %d operations and %d schemas read", len(s.Operations), len(s.Schemas))
	}
	md := string(s.Markdown("openapi.yaml"))
	h, err := s.HTML()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range s.Operations {
		if !strings.Contains(md, "### "+o.Method+" "+o.Path+"\n") {
			t.Errorf("markdown lacks %s %s", o.Method, o.Path)
		}
		if !strings.Contains(string(h), `<span class="m">`+o.Method+`</span>`+o.Path+`</h3>`) {
			t.Errorf("html lacks %s %s", o.Method, o.Path)
		}
	}
	for name, page := range map[string]string{"markdown": md, "html": string(h)} {
		ids := map[string]bool{}
		for _, m := range regexp.MustCompile(`id="([^"]+)"`).FindAllStringSubmatch(page, -1) {
			ids[m[1]] = true
		}
		for _, m := range regexp.MustCompile(`(?:\]\(|href=")#([^)"]+)`).FindAllStringSubmatch(page, -1) {
			if !ids[m[1]] {
				t.Errorf("%s: link to #%s, which has no target", name, m[1])
			}
		}
	}
}
