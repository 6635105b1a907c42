package apidoc

import (
	"bytes"
	"fmt"
	"html/template"
	"regexp"
	"strings"
)

// schemaRef matches the "#Name" a type string uses for a named schema.
var schemaRef = regexp.MustCompile(`#([A-Za-z0-9_]+)`)

// Anchor is the id of a schema's heading in both renderings.
func Anchor(schema string) string { return "schema-" + strings.ToLower(schema) }

// OpAnchor is the id of an operation's heading.
func OpAnchor(o Operation) string {
	if o.ID != "" {
		return "op-" + strings.ToLower(o.ID)
	}
	return "op-" + strings.ToLower(strings.NewReplacer("/", "-", "{", "", "}", "").Replace(o.Method+o.Path))
}

func mdType(t string) string {
	if t == "" {
		return ""
	}
	return schemaRef.ReplaceAllStringFunc(cell(t), func(m string) string {
		return fmt.Sprintf("[%s](#%s)", m[1:], Anchor(m[1:]))
	})
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

// Markdown renders the reference page of the documentation site. source
// is the link to the YAML file, relative to the page.
func (s *Spec) Markdown(source string) []byte {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# API reference\n\n")
	p("<!-- Generated from api/openapi.yaml by `go run ./cmd/runbook docs-gen`; do not edit. -->\n\n")
	p("%s %s: %s The machine-readable description is [openapi.yaml](%s); a running server serves it at `/api/v1/openapi.yaml` and this page at `/api/v1/docs`.\n\n", s.Title, s.Version, strings.TrimSuffix(s.Summary, ".")+".", source)
	p("%s\n\n", s.Description)
	p("## Routes\n\n| method | path | summary | auth |\n|---|---|---|---|\n")
	for _, o := range s.Operations {
		p("| %s | [`%s`](#%s) | %s | %s |\n", o.Method, o.Path, OpAnchor(o), cell(o.Summary), auth(o))
	}
	p("\n")
	for _, g := range s.ByTag() {
		p("## %s\n\n", g.Tag)
		for _, o := range g.Operations {
			p("<a id=\"%s\"></a>\n\n### %s %s\n\n", OpAnchor(o), o.Method, o.Path)
			p("%s. Auth: %s.\n\n", strings.TrimSuffix(o.Summary, "."), auth(o))
			if o.Description != "" {
				p("%s\n\n", o.Description)
			}
			if len(o.Params) > 0 {
				p("| parameter | in | type | required | description |\n|---|---|---|---|---|\n")
				for _, pa := range o.Params {
					p("| `%s` | %s | %s | %s | %s |\n", pa.Name, pa.In, mdType(pa.Type), yes(pa.Required), cell(pa.Description))
				}
				p("\n")
			}
			if len(o.Body) > 0 {
				p("Request body%s:\n\n", map[bool]string{true: " (required)", false: ""}[o.BodyRequired])
				for _, c := range o.Body {
					p("- `%s`: %s\n", c.MediaType, mdType(c.Type))
				}
				p("\n")
			}
			p("| status | meaning | body |\n|---|---|---|\n")
			for _, r := range o.Responses {
				var bodies []string
				for _, c := range r.Content {
					bodies = append(bodies, fmt.Sprintf("`%s` %s", c.MediaType, mdType(c.Type)))
				}
				p("| %s | %s | %s |\n", r.Code, cell(r.Description), strings.Join(bodies, "; "))
			}
			p("\n")
		}
	}
	p("## Schemas\n\n")
	for _, sc := range s.Schemas {
		p("<a id=\"%s\"></a>\n\n### %s\n\n", Anchor(sc.Name), sc.Name)
		if sc.Description != "" {
			p("%s\n\n", sc.Description)
		}
		if len(sc.Properties) == 0 {
			p("Type: %s\n\n", mdType(sc.Type))
			continue
		}
		p("| field | type | required | description |\n|---|---|---|---|\n")
		for _, pr := range sc.Properties {
			p("| `%s` | %s | %s | %s |\n", pr.Name, mdType(pr.Type), yes(pr.Required), cell(pr.Description))
		}
		p("\n")
	}
	return b.Bytes()
}

func auth(o Operation) string {
	if o.Public {
		return "none"
	}
	return "bearer token"
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

// HTML renders the whole reference as one page with no script and no
// outside resource (a server may have no internet, and its CSP need not
// allow any).
func (s *Spec) HTML() ([]byte, error) {
	var b bytes.Buffer
	err := page.Execute(&b, s)
	return b.Bytes(), err
}

func htmlType(t string) template.HTML {
	var out strings.Builder
	last := 0
	for _, m := range schemaRef.FindAllStringSubmatchIndex(t, -1) {
		out.WriteString(template.HTMLEscapeString(t[last:m[0]]))
		name := t[m[2]:m[3]]
		fmt.Fprintf(&out, `<a href="#%s">%s</a>`, Anchor(name), name)
		last = m[1]
	}
	out.WriteString(template.HTMLEscapeString(t[last:]))
	return template.HTML(out.String())
}

// paragraphs splits a description on blank lines and renders `code`.
func paragraphs(s string) template.HTML {
	var out strings.Builder
	for _, para := range strings.Split(s, "\n\n") {
		if strings.TrimSpace(para) == "" {
			continue
		}
		esc := template.HTMLEscapeString(strings.Join(strings.Fields(para), " "))
		parts := strings.Split(esc, "`")
		for i := 1; i < len(parts); i += 2 {
			if i < len(parts)-1 {
				parts[i] = "<code>" + parts[i] + "</code>"
			} else {
				parts[i] = "`" + parts[i]
			}
		}
		out.WriteString("<p>" + strings.Join(parts, "") + "</p>\n")
	}
	return template.HTML(out.String())
}

var page = template.Must(template.New("api").Funcs(template.FuncMap{
	"type": htmlType, "para": paragraphs, "auth": auth, "op": OpAnchor, "anchor": Anchor, "yes": yes,
	"lower": strings.ToLower,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} {{.Version}}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:72rem;margin:0 auto;padding:1rem 2rem;color:#1b1f24}
code{font:13px ui-monospace,monospace;background:#f2f4f7;padding:0 .2em;border-radius:3px}
table{border-collapse:collapse;margin:.5rem 0 1rem;width:100%}th,td{border:1px solid #d6dae0;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}h3{margin-top:2rem;font-family:ui-monospace,monospace;font-size:1rem}.m{font-weight:700;margin-right:.5em}
a{color:#0b5cad}
</style></head><body>
<h1>{{.Title}} {{.Version}}</h1>
<p>{{.Summary}} The machine-readable description: <a href="openapi.yaml">openapi.yaml</a>.</p>
{{para .Description}}
<h2>Routes</h2>
<table><tr><th>method</th><th>path</th><th>summary</th><th>auth</th></tr>
{{range .Operations}}<tr><td>{{.Method}}</td><td><a href="#{{op .}}"><code>{{.Path}}</code></a></td><td>{{.Summary}}</td><td>{{auth .}}</td></tr>
{{end}}</table>
{{range .ByTag}}<h2>{{.Tag}}</h2>
{{range .Operations}}<h3 id="{{op .}}"><span class="m">{{.Method}}</span>{{.Path}}</h3>
<p>{{.Summary}}. Auth: {{auth .}}.</p>
{{para .Description}}
{{if .Params}}<table><tr><th>parameter</th><th>in</th><th>type</th><th>required</th><th>description</th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code></td><td>{{.In}}</td><td>{{type .Type}}</td><td>{{yes .Required}}</td><td>{{.Description}}</td></tr>
{{end}}</table>{{end}}
{{if .Body}}<p>Request body{{if .BodyRequired}} (required){{end}}:</p><ul>
{{range .Body}}<li><code>{{.MediaType}}</code>: {{type .Type}}</li>
{{end}}</ul>{{end}}
<table><tr><th>status</th><th>meaning</th><th>body</th></tr>
{{range .Responses}}<tr><td>{{.Code}}</td><td>{{.Description}}</td><td>{{range .Content}}<code>{{.MediaType}}</code> {{type .Type}} {{end}}</td></tr>
{{end}}</table>
{{end}}{{end}}
<h2>Schemas</h2>
{{range .Schemas}}<h3 id="{{anchor .Name}}">{{.Name}}</h3>
{{para .Description}}
{{if .Properties}}<table><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>
{{range .Properties}}<tr><td><code>{{.Name}}</code></td><td>{{type .Type}}</td><td>{{yes .Required}}</td><td>{{.Description}}</td></tr>
{{end}}</table>{{else}}<p>Type: {{type .Type}}</p>{{end}}
{{end}}
</body></html>
`))
