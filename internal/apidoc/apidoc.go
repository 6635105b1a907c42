// Package apidoc reads api/openapi.yaml into a small model of operations
// and schemas, and renders it as Markdown (the documentation site) or as
// a self-contained HTML page (served by the server at /api/v1/docs). One
// reading for both, so the page a server shows and the site cannot differ.
package apidoc

import (
	"fmt"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
)

// Spec is the part of an OpenAPI 3.1 document the reference shows.
type Spec struct {
	Title, Version, Summary, Description string
	Tags                                 []string
	Operations                           []Operation
	Schemas                              []Schema
}

// Operation is one method on one path.
type Operation struct {
	Method, Path, Tag, ID, Summary, Description string
	Public                                      bool // needs no bearer token
	Params                                      []Param
	Body                                        []Content // request body, one per media type
	BodyRequired                                bool
	Responses                                   []Response
}

// Param is a path, query or header parameter.
type Param struct {
	Name, In, Type, Description string
	Required                    bool
}

// Content is a media type and the type of its body.
type Content struct{ MediaType, Type string }

// Response is one status code's answer.
type Response struct {
	Code, Description string
	Content           []Content
}

// Schema is one of components.schemas.
type Schema struct {
	Name, Type, Description string
	Properties              []Property
}

// Property is one field of an object schema.
type Property struct {
	Name, Type, Description string
	Required                bool
}

var methods = []string{"get", "put", "post", "patch", "delete", "head", "options", "trace"}

// Parse reads an OpenAPI document. Keys keep the order of the file.
func Parse(src []byte) (*Spec, error) {
	var root yaml.MapSlice
	if err := yaml.UnmarshalWithOptions(src, &root, yaml.UseOrderedMap()); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	d := doc{root: root}
	info := d.mapAt(root, "info")
	s := &Spec{Title: str(info, "title"), Version: str(info, "version"), Summary: str(info, "summary"),
		Description: strings.TrimSpace(str(info, "description"))}
	for _, t := range list(get(root, "tags")) {
		s.Tags = append(s.Tags, str(asMap(t), "name"))
	}
	publicByDefault := len(list(get(root, "security"))) == 0
	for _, item := range asMap(get(root, "paths")) {
		path := fmt.Sprint(item.Key)
		pi := asMap(item.Value)
		shared := list(get(pi, "parameters"))
		for _, m := range methods {
			raw, ok := lookup(pi, m)
			if !ok {
				continue
			}
			op := asMap(raw)
			o := Operation{Method: strings.ToUpper(m), Path: path, ID: str(op, "operationId"),
				Summary: str(op, "summary"), Description: strings.TrimSpace(str(op, "description"))}
			if tags := list(get(op, "tags")); len(tags) > 0 {
				o.Tag = fmt.Sprint(tags[0])
			}
			if sec, ok := lookup(op, "security"); ok {
				o.Public = len(list(sec)) == 0
			} else {
				o.Public = publicByDefault
			}
			for _, p := range append(append([]any{}, shared...), list(get(op, "parameters"))...) {
				pm := d.resolve(asMap(p))
				o.Params = append(o.Params, Param{Name: str(pm, "name"), In: str(pm, "in"), Required: get(pm, "required") == true,
					Description: strings.TrimSpace(str(pm, "description")), Type: d.typeOf(asMap(get(pm, "schema")))})
			}
			if rb := d.resolve(asMap(get(op, "requestBody"))); rb != nil {
				o.BodyRequired = get(rb, "required") == true
				o.Body = d.contents(asMap(get(rb, "content")))
			}
			for _, r := range asMap(get(op, "responses")) {
				rm := d.resolve(asMap(r.Value))
				o.Responses = append(o.Responses, Response{Code: fmt.Sprint(r.Key),
					Description: strings.TrimSpace(str(rm, "description")), Content: d.contents(asMap(get(rm, "content")))})
			}
			s.Operations = append(s.Operations, o)
		}
	}
	for _, item := range d.mapAt(d.mapAt(root, "components"), "schemas") {
		sm := asMap(item.Value)
		sc := Schema{Name: fmt.Sprint(item.Key), Type: d.typeOf(sm), Description: strings.TrimSpace(str(sm, "description"))}
		if get(sm, "type") == "object" || get(sm, "properties") != nil {
			sc.Type = "object"
		}
		req := map[string]bool{}
		for _, r := range list(get(sm, "required")) {
			req[fmt.Sprint(r)] = true
		}
		for _, p := range asMap(get(sm, "properties")) {
			pm := asMap(p.Value)
			name := fmt.Sprint(p.Key)
			sc.Properties = append(sc.Properties, Property{Name: name, Type: d.typeOf(pm), Required: req[name],
				Description: strings.TrimSpace(str(pm, "description"))})
		}
		s.Schemas = append(s.Schemas, sc)
	}
	if len(s.Operations) == 0 {
		return nil, fmt.Errorf("openapi: no operations under paths")
	}
	return s, nil
}

// Routes are the operations as "METHOD /path", sorted.
func (s *Spec) Routes() []string {
	out := make([]string, 0, len(s.Operations))
	for _, o := range s.Operations {
		out = append(out, o.Method+" "+o.Path)
	}
	sort.Strings(out)
	return out
}

// ByTag groups the operations by their first tag, in the order of the
// document's tags; untagged ones come last under "other".
func (s *Spec) ByTag() []Group {
	var groups []Group
	idx := map[string]int{}
	for _, t := range s.Tags {
		idx[t] = len(groups)
		groups = append(groups, Group{Tag: t})
	}
	for _, o := range s.Operations {
		t := o.Tag
		if t == "" {
			t = "other"
		}
		i, ok := idx[t]
		if !ok {
			i, idx[t] = len(groups), len(groups)
			groups = append(groups, Group{Tag: t})
		}
		groups[i].Operations = append(groups[i].Operations, o)
	}
	out := groups[:0]
	for _, g := range groups {
		if len(g.Operations) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// Group is the operations of one tag.
type Group struct {
	Tag        string
	Operations []Operation
}

type doc struct{ root yaml.MapSlice }

// resolve follows a local $ref ("#/components/…").
func (d doc) resolve(m yaml.MapSlice) yaml.MapSlice {
	for range 10 {
		ref, ok := get(m, "$ref").(string)
		if !ok {
			return m
		}
		m = d.pointer(ref)
	}
	return m
}

func (d doc) pointer(ref string) yaml.MapSlice {
	cur := d.root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		cur = asMap(get(cur, part))
	}
	return cur
}

func (d doc) mapAt(m yaml.MapSlice, key string) yaml.MapSlice { return asMap(get(m, key)) }

func (d doc) contents(c yaml.MapSlice) []Content {
	var out []Content
	for _, item := range c {
		out = append(out, Content{MediaType: fmt.Sprint(item.Key), Type: d.typeOf(asMap(get(asMap(item.Value), "schema")))})
	}
	return out
}

// typeOf is a short reading of a schema: a named schema as its name
// (linked by the renderers), arrays as "array of X", enums listed.
func (d doc) typeOf(m yaml.MapSlice) string {
	if m == nil {
		return ""
	}
	if ref, ok := get(m, "$ref").(string); ok {
		return "#" + ref[strings.LastIndex(ref, "/")+1:]
	}
	if c, ok := lookup(m, "const"); ok {
		return fmt.Sprintf("%q", fmt.Sprint(c))
	}
	if all := list(get(m, "allOf")); len(all) > 0 {
		parts := make([]string, 0, len(all))
		for _, a := range all {
			parts = append(parts, d.typeOf(asMap(a)))
		}
		return strings.Join(parts, " and ")
	}
	for _, k := range []string{"oneOf", "anyOf"} {
		if alts := list(get(m, k)); len(alts) > 0 {
			parts := make([]string, 0, len(alts))
			for _, a := range alts {
				parts = append(parts, d.typeOf(asMap(a)))
			}
			return strings.Join(parts, " or ")
		}
	}
	t := fmt.Sprint(get(m, "type"))
	if ts := list(get(m, "type")); len(ts) > 0 {
		parts := make([]string, 0, len(ts))
		for _, x := range ts {
			parts = append(parts, fmt.Sprint(x))
		}
		t = strings.Join(parts, " or ")
	}
	switch {
	case t == "array":
		return "array of " + d.typeOf(asMap(get(m, "items")))
	case get(m, "type") == nil && get(m, "properties") != nil:
		t = "object"
	case get(m, "type") == nil:
		t = "any"
	}
	if f, ok := get(m, "format").(string); ok {
		t += " (" + f + ")"
	}
	if e := list(get(m, "enum")); len(e) > 0 {
		vals := make([]string, 0, len(e))
		for _, v := range e {
			vals = append(vals, fmt.Sprint(v))
		}
		t += ": " + strings.Join(vals, ", ")
	}
	return t
}

func lookup(m yaml.MapSlice, key string) (any, bool) {
	for _, item := range m {
		if fmt.Sprint(item.Key) == key {
			return item.Value, true
		}
	}
	return nil, false
}

func get(m yaml.MapSlice, key string) any { v, _ := lookup(m, key); return v }

func str(m yaml.MapSlice, key string) string {
	if v, ok := lookup(m, key); ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

func asMap(v any) yaml.MapSlice { m, _ := v.(yaml.MapSlice); return m }

func list(v any) []any { l, _ := v.([]any); return l }
