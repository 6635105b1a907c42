package workflow

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"
)

// Alias handling. goccy/go-yaml's parser keeps an alias as an *ast.AliasNode
// holding only the anchor's name; it is its Decoder that expands aliases, with
// no limit. We never use the Decoder: we read the AST ourselves, resolve each
// alias to its anchor once (index), and count every node we visit (resolve).
// Visits through aliases may add at most AliasBudget nodes to the file's own,
// so a "billion laughs" file stops after ~AliasBudget steps of work.
const (
	AliasBudget = 100_000
	maxDepth    = 100 // YAML nesting; a workflow needs about 5 levels
)

// nodes reads a goccy AST with alias resolution and a work budget.
type nodes struct {
	errs    *errorSink
	aliases map[*ast.AliasNode]ast.Node // alias -> the anchored value
	count   int                         // nodes in the file (index)
	visits  int                         // nodes visited by resolve
	over    bool                        // budget exceeded: stop reading
	merging int                         // depth of nested merge keys
}

// index walks the real AST once: counts nodes and binds each alias to the
// latest anchor of that name before it. An alias inside its own anchor's
// value, or with no anchor, is an error. It returns false, having reported
// it, when the YAML is nested too deep to read.
func (n *nodes) index(root ast.Node) bool {
	anchors := map[string]*ast.AnchorNode{}
	open := map[*ast.AnchorNode]bool{}
	var walk func(x ast.Node, depth int) bool
	walk = func(x ast.Node, depth int) bool {
		if x == nil {
			return true
		}
		n.count++
		if depth > maxDepth {
			n.errs.add(x, "the YAML is nested more than %d levels deep", maxDepth)
			return false
		}
		switch v := x.(type) {
		case *ast.MappingNode:
			for _, mv := range v.Values {
				if !walk(mv, depth+1) {
					return false
				}
			}
		case *ast.MappingValueNode:
			return walk(v.Key, depth+1) && walk(v.Value, depth+1)
		case *ast.MappingKeyNode:
			return walk(v.Value, depth+1)
		case *ast.SequenceNode:
			for _, e := range v.Values {
				if !walk(e, depth+1) {
					return false
				}
			}
		case *ast.TagNode:
			return walk(v.Value, depth+1)
		case *ast.AnchorNode:
			name := v.Name.GetToken().Value
			anchors[name] = v
			open[v] = true
			ok := walk(v.Value, depth+1)
			delete(open, v)
			return ok
		case *ast.AliasNode:
			name := v.Value.GetToken().Value
			a := anchors[name]
			switch {
			case a == nil:
				n.errs.add(x, "alias *%s has no anchor &%s before it", name, name)
			case open[a]:
				n.errs.add(x, "alias *%s is inside the value of its own anchor &%s", name, name)
			default:
				n.aliases[v] = a.Value
			}
		}
		return true
	}
	return walk(root, 0)
}

// resolve follows tags, anchors and aliases to the node that holds the
// value. It returns nil when the value is unusable and already reported
// (a broken alias, or the budget is spent).
func (n *nodes) resolve(x ast.Node) ast.Node {
	for {
		if x == nil { // an empty value, e.g. an anchor with nothing after it
			return &ast.NullNode{BaseNode: &ast.BaseNode{}}
		}
		if n.over {
			return nil
		}
		n.visits++
		if n.visits > n.count+AliasBudget {
			n.over = true
			n.errs.add(x, "YAML aliases here expand the file beyond %d values; this looks like an alias bomb: use fewer aliases", n.count+AliasBudget)
			return nil
		}
		switch v := x.(type) {
		case *ast.TagNode:
			x = v.Value
		case *ast.AnchorNode:
			x = v.Value
		case *ast.AliasNode:
			target, ok := n.aliases[v]
			if !ok { // reported by index
				return nil
			}
			x = target
		default:
			return x
		}
	}
}

// entry is one key: value of a mapping, after merge keys are applied.
type entry struct {
	key     string
	keyNode ast.Node
	val     ast.Node
}

// entries lists a mapping's pairs. A merge key (<<: *defaults) adds the
// pairs of the mapping(s) it names unless the mapping sets that key itself.
// Keys that are not scalars, and keys written twice, are reported.
func (n *nodes) entries(m ast.Node, where string) []entry {
	var own []*ast.MappingValueNode
	switch v := m.(type) {
	case *ast.MappingNode:
		own = v.Values
	case *ast.MappingValueNode:
		own = []*ast.MappingValueNode{v}
	}
	var out []entry
	seen := map[string]ast.Node{}
	var merged []ast.Node
	for _, mv := range own {
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			merged = append(merged, mv.Value)
			continue
		}
		k := n.resolve(mv.Key)
		if k == nil {
			continue
		}
		key, ok := scalarText(k)
		if !ok {
			n.errs.add(mv.Key, "keys in %s must be plain names, not %s", where, kind(k))
			continue
		}
		if first, dup := seen[key]; dup {
			n.errs.add(mv.Key, "key %q is set twice in %s (first at line %d); remove one", key, where, pos(first).Line)
			continue
		}
		seen[key] = mv.Key
		out = append(out, entry{key, mv.Key, mv.Value})
	}
	if len(merged) > 0 && n.merging >= maxDepth {
		n.errs.add(merged[0], "merge keys (<<) are nested more than %d deep", maxDepth)
		return out
	}
	n.merging++
	defer func() { n.merging-- }()
	for _, src := range merged {
		for _, e := range n.mergeSources(src, where) {
			if _, dup := seen[e.key]; !dup {
				seen[e.key] = e.keyNode
				out = append(out, e)
			}
		}
	}
	return out
}

// mergeSources returns the pairs a merge key's value contributes: one
// mapping, or a list of mappings where earlier ones win.
func (n *nodes) mergeSources(src ast.Node, where string) []entry {
	v := n.resolve(src)
	switch seq := v.(type) {
	case nil:
		return nil
	case *ast.MappingNode, *ast.MappingValueNode:
		return n.entries(v, where)
	case *ast.SequenceNode:
		var out []entry
		seen := map[string]bool{}
		for _, item := range seq.Values {
			m := n.resolve(item)
			if !isMapping(m) {
				if m != nil {
					n.errs.add(item, "<< merges mappings only, not %s", kind(m))
				}
				continue
			}
			for _, e := range n.entries(m, where) {
				if !seen[e.key] {
					seen[e.key] = true
					out = append(out, e)
				}
			}
		}
		return out
	}
	n.errs.add(src, "<< merges a mapping (or a list of mappings), not %s", kind(v))
	return nil
}

func isMapping(x ast.Node) bool {
	switch x.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return true
	}
	return false
}

// scalarText is a scalar's text as written (numbers and bools keep their
// spelling: 1.50 stays "1.50"). ok is false for null, mappings and lists.
func scalarText(x ast.Node) (string, bool) {
	switch v := x.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return v.GetToken().Value, true
	}
	return "", false
}

// kind names a node's type for messages ("a list", "null"...).
func kind(x ast.Node) string {
	switch x.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.NullNode:
		return "null (an empty value)"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a bool"
	}
	return fmt.Sprintf("a YAML %v", x.Type())
}

// pos is where a node starts. Mappings start at their first key (goccy
// gives the ':' of the first pair); block scalars at their '|' or '>'.
func pos(x ast.Node) Pos {
	switch v := x.(type) {
	case nil:
		return Pos{}
	case *ast.MappingNode:
		if len(v.Values) > 0 && !v.IsFlowStyle {
			return pos(v.Values[0].Key)
		}
	case *ast.MappingValueNode:
		return pos(v.Key)
	}
	tk := x.GetToken()
	if tk == nil || tk.Position == nil {
		return Pos{}
	}
	return Pos{Line: tk.Position.Line, Col: tk.Position.Column}
}
