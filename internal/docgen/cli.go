// Package docgen writes the reference pages of the documentation site from
// the code: the CLI from the cobra commands, the workflow keys from the JSON
// Schema, the API from the OpenAPI file, and the error messages from the
// source. A test compares the committed pages with a fresh generation, so
// a new flag, key, route or message only needs `go run ./cmd/runbook docs-gen`.
package docgen

import (
	"bytes"
	"fmt"
	"html"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// EnvVar is a setting read from the environment that is not a flag.
type EnvVar struct{ Name, Commands, Description string }

// EnvName is the variable that sets a flag of a command that reads its
// configuration (cmd/runbook's applyConfig): RUNBOOK_ and the flag's name
// in capitals, dashes as underscores.
func EnvName(flag string) string {
	return "RUNBOOK_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Configurable tells whether a command reads RUNBOOK_* variables and a
// config file: those that have a --config flag do.
func Configurable(c *cobra.Command) bool { return c.Flags().Lookup("config") != nil }

// Commands lists root's visible commands, depth first, root excluded.
func Commands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			out = append(out, sub)
			walk(sub)
		}
	}
	walk(root)
	return out
}

// Flags lists a command's own and inherited flags, --help left out.
func Flags(c *cobra.Command) []*pflag.Flag {
	var out []*pflag.Flag
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && !f.Hidden {
			out = append(out, f)
		}
	})
	return out
}

// CLI renders the CLI and configuration reference.
func CLI(root *cobra.Command, extra []EnvVar) []byte {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# CLI and configuration reference\n\n")
	p("<!-- Generated from the cobra commands by `go run ./cmd/runbook docs-gen`; do not edit. -->\n\n")
	p("`%s` is one binary; its subcommands are its run modes. %s.\n\n", root.Name(), strings.TrimSuffix(root.Short, "."))
	p("## Where settings come from\n\n")
	p("The commands marked *configurable* below read each flag from, in this order of precedence:\n\n")
	p("1. the command line (`--database-url postgres://…`);\n")
	p("2. the environment: `RUNBOOK_` and the flag's name in capitals with `_` for `-` (`RUNBOOK_DATABASE_URL`);\n")
	p("3. the YAML file named by `--config` (or `RUNBOOK_CONFIG`), whose keys are the flag names;\n")
	p("4. the flag's default.\n\n")
	p("In the file, a list flag takes a YAML list or `a,b`, and a `k=v,k=v` flag takes a mapping. An unknown key, or a value that does not parse, stops the command with exit code 2 and names the key:\n\n")
	p("```yaml\n# runbook server --config /etc/runbook/server.yaml\ndatabase-url: postgres://runbook@db:5432/runbook\naddr: \":8080\"\npublic-url: https://runbook.example.com\nadmins: [ann, bob]\nlabels: {arch: amd64}\n```\n\n")
	if len(extra) > 0 {
		p("Settings that are only variables:\n\n| variable | read by | meaning |\n|---|---|---|\n")
		for _, e := range extra {
			p("| `%s` | %s | %s |\n", e.Name, e.Commands, cell(e.Description))
		}
		p("\n")
	}
	p("## Commands\n\n| command | what it does | configurable |\n|---|---|---|\n")
	cmds := Commands(root)
	for _, c := range cmds {
		p("| [`%s`](#%s) | %s | %s |\n", c.CommandPath(), anchor(c), cell(c.Short), map[bool]string{true: "yes", false: ""}[Configurable(c)])
	}
	p("\n")
	for _, c := range cmds {
		p("<a id=\"%s\"></a>\n\n## %s\n\n", anchor(c), c.CommandPath())
		p("```text\n%s\n```\n\n", c.UseLine())
		p("%s\n\n", text(c.Short))
		if c.Long != "" {
			p("%s\n\n", text(c.Long))
		}
		flags := Flags(c)
		if len(flags) == 0 {
			p("No flags.\n\n")
			continue
		}
		conf := Configurable(c)
		if conf {
			p("| flag | default | environment | config key | description |\n|---|---|---|---|---|\n")
		} else {
			p("This command reads no environment variables or config file: only its flags.\n\n")
			p("| flag | default | description |\n|---|---|---|\n")
		}
		for _, f := range flags {
			name := "`--" + f.Name + "`"
			if f.Shorthand != "" {
				name = "`-" + f.Shorthand + "`, " + name
			}
			varname, usage := pflag.UnquoteUsage(f)
			if varname != "" {
				name += " *" + varname + "*"
			}
			def := f.DefValue
			switch {
			case def == "" || def == "[]" || def == "0":
				def = ""
			default:
				def = "`" + def + "`"
			}
			if conf {
				env, key := "`"+EnvName(f.Name)+"`", "`"+f.Name+"`"
				if f.Name == "config" {
					key = ""
				}
				p("| %s | %s | %s | %s | %s |\n", name, def, env, key, cell(usage))
			} else {
				p("| %s | %s | %s |\n", name, def, cell(usage))
			}
		}
		p("\n")
	}
	return b.Bytes()
}

func anchor(c *cobra.Command) string {
	return "cmd-" + strings.ReplaceAll(strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" "), " ", "-")
}

// text turns a help text's hard-wrapped lines into paragraphs.
func text(s string) string {
	var paras []string
	for _, para := range strings.Split(strings.TrimSpace(s), "\n\n") {
		paras = append(paras, strings.Join(strings.Fields(para), " "))
	}
	return strings.Join(paras, "\n\n")
}

// cell makes text safe inside a Markdown table cell. Python-Markdown keeps
// a \| inside a code span as it is, so code spans holding a pipe become
// <code> elements with the pipe as an entity.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	parts := strings.Split(s, "`")
	if len(parts)%2 == 0 { // an unpaired backtick: no code spans
		return strings.ReplaceAll(s, "|", `\|`)
	}
	for i := range parts {
		switch {
		case i%2 == 0:
			parts[i] = strings.ReplaceAll(parts[i], "|", `\|`)
		case strings.Contains(parts[i], "|"):
			parts[i] = "<code>" + htmlCode(parts[i]) + "</code>"
		default:
			parts[i] = "`" + parts[i] + "`"
		}
	}
	return strings.Join(parts, "")
}

// htmlCode escapes text for a <code> element inside Markdown: HTML, and the
// pipes and backslashes Markdown would read.
func htmlCode(s string) string {
	return strings.NewReplacer("|", "&#124;", `\`, "&#92;").Replace(html.EscapeString(s))
}
