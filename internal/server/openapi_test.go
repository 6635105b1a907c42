package server_test

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/runbookhq/runbook/internal/engine"
)

const specPath = "../../api/openapi.yaml"

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestOpenAPI checks api/openapi.yaml against the server: the same routes
// (the routes table, which TestRouteTable holds equal to what the server
// registers), every path parameter declared, every $ref resolvable, auth
// as the route needs it, streams as text/event-stream, and the status
// enums as the engine has them.
func TestOpenAPI(t *testing.T) {
	raw, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("%s does not parse: %v", specPath, err)
	}
	if v, _ := spec["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi: %q, want 3.1.x", v)
	}
	checkRefs(t, spec, spec, "")
	if len(asSlice(spec["security"])) == 0 || get(spec, "components", "securitySchemes", "bearer", "scheme") != "bearer" {
		t.Error("the spec needs a bearer security scheme required by default")
	}

	byKey := map[string]route{}
	for _, r := range routes {
		byKey[r.key()] = r
	}
	var inSpec []string
	paths, _ := spec["paths"].(map[string]any)
	for path, item := range paths {
		pi, _ := item.(map[string]any)
		for _, m := range httpMethods {
			op, ok := pi[m].(map[string]any)
			if !ok {
				continue
			}
			key := strings.ToUpper(m) + " " + path
			inSpec = append(inSpec, key)
			r, known := byKey[key]
			if !known {
				t.Errorf("the spec has %s, which the server does not serve", key)
				continue
			}
			checkOperation(t, spec, key, r, pi, op)
		}
	}
	var served []string
	for k := range byKey {
		served = append(served, k)
		if !slices.Contains(inSpec, k) {
			t.Errorf("%s is served but not in %s", k, specPath)
		}
	}
	sort.Strings(inSpec)
	sort.Strings(served)
	if !slices.Equal(inSpec, served) && !t.Failed() {
		t.Errorf("spec routes %v != served %v", inSpec, served)
	}

	for schema, want := range map[string][]string{
		"RunStatus":  {string(engine.RunQueued), string(engine.RunRunning), string(engine.RunSucceeded), string(engine.RunFailed), string(engine.RunCancelled)},
		"StepStatus": {string(engine.StepWaiting), string(engine.StepQueued), string(engine.StepRunning), string(engine.StepRetrying), string(engine.StepSucceeded), string(engine.StepFailed), string(engine.StepSkipped), string(engine.StepCancelled)},
	} {
		var got []string
		for _, v := range asSlice(get(spec, "components", "schemas", schema, "enum")) {
			got = append(got, v.(string))
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s enum %v, the engine has %v", schema, got, want)
		}
	}
}

var pathParamRE = regexp.MustCompile(`\{([^}]+)\}`)

func checkOperation(t *testing.T, spec map[string]any, key string, r route, pathItem, op map[string]any) {
	t.Helper()
	if id, _ := op["operationId"].(string); id == "" {
		t.Errorf("%s has no operationId", key)
	}
	if s, _ := op["summary"].(string); s == "" {
		t.Errorf("%s has no summary", key)
	}
	responses, _ := op["responses"].(map[string]any)
	if len(responses) == 0 {
		t.Errorf("%s has no responses", key)
	}
	// Path parameters: each {name} declared in path, required.
	declared := map[string]bool{}
	for _, p := range append(asSlice(pathItem["parameters"]), asSlice(op["parameters"])...) {
		pm := resolve(spec, p)
		if pm["in"] == "path" {
			if pm["required"] != true {
				t.Errorf("%s: path parameter %v is not required", key, pm["name"])
			}
			declared[pm["name"].(string)] = true
		}
	}
	_, path, _ := strings.Cut(key, " ")
	for _, m := range pathParamRE.FindAllStringSubmatch(path, -1) {
		if !declared[m[1]] {
			t.Errorf("%s: path parameter {%s} is not declared", key, m[1])
		}
		delete(declared, m[1])
	}
	for name := range declared {
		t.Errorf("%s declares path parameter %s that its path lacks", key, name)
	}
	// Auth: public operations opt out; the others need the bearer (the
	// default) and document 401; tenant routes document the shared 404.
	sec, hasSec := op["security"]
	switch {
	case r.access == public && (!hasSec || len(asSlice(sec)) != 0):
		t.Errorf("%s is public: want security: []", key)
	case r.access != public && hasSec:
		t.Errorf("%s needs a token: leave the default bearer security", key)
	case r.access != public && responses["401"] == nil:
		t.Errorf("%s: no 401 response", key)
	case r.access == tenantMember && get(responses, "404", "$ref") != "#/components/responses/NotFound":
		t.Errorf("%s: the 404 must be the shared NotFound (another tenant's object looks missing)", key)
	}
	// Streams say so, with their event names.
	if strings.HasSuffix(path, "/events") || strings.HasSuffix(path, "/follow") {
		stream, _ := get(responses, "200", "content", "text/event-stream").(map[string]any)
		events, _ := stream["x-events"].(map[string]any)
		if stream == nil || events["end"] == nil || len(events) < 2 {
			t.Errorf("%s: the 200 must be text/event-stream listing its events (x-events), end included", key)
		}
	}
	for code, res := range responses {
		rm := resolve(spec, res)
		if d, _ := rm["description"].(string); d == "" {
			t.Errorf("%s: response %s has no description", key, code)
		}
	}
}

// checkRefs fails on any $ref that does not point into the spec.
func checkRefs(t *testing.T, spec map[string]any, node any, where string) {
	t.Helper()
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			if k == "$ref" {
				ref, _ := v.(string)
				if !strings.HasPrefix(ref, "#/") || lookup(spec, ref) == nil {
					t.Errorf("%s: $ref %q does not resolve", where, ref)
				}
				continue
			}
			checkRefs(t, spec, v, where+"/"+k)
		}
	case []any:
		for _, v := range n {
			checkRefs(t, spec, v, where)
		}
	}
}

func lookup(spec map[string]any, ref string) any {
	parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
	keys := make([]string, len(parts))
	for i, p := range parts {
		keys[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
	}
	return get(spec, keys...)
}

// resolve follows a $ref, once.
func resolve(spec map[string]any, node any) map[string]any {
	m, _ := node.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		m, _ = lookup(spec, ref).(map[string]any)
	}
	return m
}

func get(node any, keys ...string) any {
	for _, k := range keys {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[k]
	}
	return node
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
