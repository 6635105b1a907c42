package workflow

import (
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/goccy/go-yaml/ast"
)

// Kubernetes is a step's `kubernetes:` settings: how the Kubernetes
// executor runs the step's pod. They override the installation's defaults;
// other executors ignore them. The service account and image pull secrets
// are the installation's alone: a workflow that could pick them could take
// that account's API rights or that registry credential.
type Kubernetes struct {
	Image        string            `json:",omitempty"`
	Resources    Resources         `json:",omitzero"`
	NodeSelector map[string]string `json:",omitempty"` // added to the installation's; the step's value wins
}

// Resources are a step container's requests and limits.
type Resources struct {
	Requests ResourceList `json:",omitzero"`
	Limits   ResourceList `json:",omitzero"`
}

// ResourceList holds Kubernetes quantities as written ("500m", "2Gi");
// "" leaves the installation's value. Parse has checked them with Quantity.
type ResourceList struct {
	CPU    string `json:",omitempty"`
	Memory string `json:",omitempty"`
}

func (k *Kubernetes) isZero() bool {
	return k.Image == "" && k.Resources == (Resources{}) && len(k.NodeSelector) == 0
}

// The keys of `kubernetes:` and its parts. schema/runbook.schema.json lists
// the same (a test in schema/ checks it).
var (
	kubernetesKeys   = []string{"image", "resources", "node_selector"}
	resourcesKeys    = []string{"requests", "limits"}
	resourceListKeys = []string{"cpu", "memory"}
)

// KubernetesKeys, ResourcesKeys and ResourceListKeys return the keys Parse
// accepts under a step's `kubernetes`, `kubernetes.resources` and
// `kubernetes.resources.requests` (or `limits`).
func KubernetesKeys() []string   { return slices.Clone(kubernetesKeys) }
func ResourcesKeys() []string    { return slices.Clone(resourcesKeys) }
func ResourceListKeys() []string { return slices.Clone(resourceListKeys) }

// installationOnly explains keys a workflow may not set, however spelled
// (service_account, serviceAccountName, imagePullSecrets...).
func installationOnly(key string) string {
	switch strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(key)) {
	case "serviceaccount", "serviceaccountname":
		return fmt.Sprintf("kubernetes.%s cannot be set in a workflow: the step pods' service account is the installation's (--kubernetes-service-account), since a workflow that chose it could take that account's API rights", key)
	case "imagepullsecrets", "pullsecrets", "imagepullsecret", "pullsecret":
		return fmt.Sprintf("kubernetes.%s cannot be set in a workflow: image pull secrets are the installation's (--kubernetes-image-pull-secrets), since a workflow that chose them could use any registry credential in the namespace", key)
	}
	return ""
}

func (d *decoder) kubernetes(e entry, where string) *Kubernetes {
	v := d.resolve(e.val)
	if v == nil || isNull(v) {
		return nil
	}
	if !isMapping(v) {
		d.errs.add(e.val, "%s: kubernetes must be a mapping (with image, resources, node_selector), not %s", where, kind(v))
		return nil
	}
	k := &Kubernetes{}
	for _, kv := range d.entries(v, where+" kubernetes") {
		switch kv.key {
		case "image":
			k.Image = d.image(kv, where)
		case "resources":
			k.Resources = d.resources(kv, where)
		case "node_selector":
			k.NodeSelector = d.nodeSelector(kv, where)
		default:
			if msg := installationOnly(kv.key); msg != "" {
				d.errs.add(kv.keyNode, "%s: %s", where, msg)
				continue
			}
			d.errs.add(kv.keyNode, "%s", unknownKey(kv.key, where+" kubernetes", kubernetesKeys))
		}
	}
	if k.isZero() {
		return nil
	}
	return k
}

func (d *decoder) image(e entry, where string) string {
	v := d.resolve(e.val)
	if v == nil {
		return ""
	}
	s, ok := scalarText(v)
	if !ok || strings.TrimSpace(s) == "" || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		d.errs.add(e.val, "%s: kubernetes.image must be an image reference such as golang:1.26 or registry.example/ci/build:3 (holding the runbook binary), not %s", where, describe(v, s))
		return ""
	}
	return s
}

func (d *decoder) resources(e entry, where string) Resources {
	var r Resources
	v := d.resolve(e.val)
	if v == nil || isNull(v) {
		return r
	}
	if !isMapping(v) {
		d.errs.add(e.val, "%s: kubernetes.resources must be a mapping with requests and limits, not %s", where, kind(v))
		return r
	}
	var req, lim map[string]quantityAt
	for _, kv := range d.entries(v, where+" kubernetes.resources") {
		switch kv.key {
		case "requests":
			r.Requests, req = d.resourceList(kv, where)
		case "limits":
			r.Limits, lim = d.resourceList(kv, where)
		default:
			d.errs.add(kv.keyNode, "%s", unknownKey(kv.key, where+" kubernetes.resources", resourcesKeys))
		}
	}
	// The API server would refuse the Job; say so at the line instead.
	for _, name := range resourceListKeys {
		rq, lq := req[name], lim[name]
		if rq.val != nil && lq.val != nil && rq.val.Cmp(lq.val) > 0 {
			d.errs.add(rq.node, "%s: kubernetes.resources.requests.%s (%s) is more than limits.%s (%s): a request must not exceed its limit", where, name, rq.text, name, lq.text)
		}
	}
	return r
}

type quantityAt struct {
	text string
	val  *big.Rat
	node ast.Node
}

func (d *decoder) resourceList(e entry, where string) (ResourceList, map[string]quantityAt) {
	var l ResourceList
	path := "kubernetes.resources." + e.key
	v := d.resolve(e.val)
	if v == nil || isNull(v) {
		return l, nil
	}
	if !isMapping(v) {
		d.errs.add(e.val, "%s: %s must be a mapping with cpu and memory, not %s", where, path, kind(v))
		return l, nil
	}
	got := map[string]quantityAt{}
	for _, kv := range d.entries(v, where+" "+path) {
		var example string
		switch kv.key {
		case "cpu":
			example = "500m or 2"
		case "memory":
			example = "512Mi or 4Gi"
		default:
			d.errs.add(kv.keyNode, "%s", unknownKey(kv.key, where+" "+path, resourceListKeys))
			continue
		}
		qv := d.resolve(kv.val)
		if qv == nil {
			continue
		}
		s, ok := scalarText(qv)
		if _, isBool := qv.(*ast.BoolNode); !ok || isBool {
			d.errs.add(kv.val, "%s: %s.%s must be a quantity such as %s, not %s", where, path, kv.key, example, kind(qv))
			continue
		}
		val, err := Quantity(s)
		if err != nil {
			d.errs.add(kv.val, "%s: %s.%s: %v (a quantity is such as %s)", where, path, kv.key, err, example)
			continue
		}
		if kv.key == "cpu" {
			l.CPU = s
		} else {
			l.Memory = s
		}
		got[kv.key] = quantityAt{s, val, kv.val}
	}
	return l, got
}

func (d *decoder) nodeSelector(e entry, where string) map[string]string {
	v := d.resolve(e.val)
	if v == nil || isNull(v) {
		return nil
	}
	if !isMapping(v) {
		d.errs.add(e.val, "%s: kubernetes.node_selector must be a mapping of node label: value (e.g. {kubernetes.io/arch: arm64}), not %s", where, kind(v))
		return nil
	}
	out := map[string]string{}
	for _, kv := range d.entries(v, where+" kubernetes.node_selector") {
		val := d.resolve(kv.val)
		if val == nil {
			continue
		}
		s, ok := scalarText(val)
		if !ok {
			d.errs.add(kv.val, "node label %s in %s kubernetes.node_selector must be a string, number or bool, not %s", kv.key, where, kind(val))
			continue
		}
		if err := ValidNodeSelector(kv.key, s); err != nil {
			d.errs.add(kv.keyNode, "%s kubernetes.node_selector: %v", where, err)
			continue
		}
		out[kv.key] = s
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Kubernetes label syntax (k8s.io/apimachinery/pkg/util/validation), kept
// here so that the default build needs no Kubernetes module; a test in
// internal/executor/kubernetes checks both agree.
var (
	k8sLabelName    = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	k8sLabelValue   = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	k8sDNSSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// ValidNodeSelector checks one node label and value as Kubernetes does: a
// name of up to 63 letters, digits and -_. (starting and ending with a
// letter or digit) with an optional DNS subdomain prefix and '/', and a
// value of the same form as the name, possibly empty.
func ValidNodeSelector(k, v string) error {
	name := k
	if prefix, rest, ok := strings.Cut(k, "/"); ok {
		if len(prefix) == 0 || len(prefix) > 253 || !k8sDNSSubdomain.MatchString(prefix) {
			return fmt.Errorf("invalid node label %q: its prefix before / must be a DNS subdomain (lowercase letters, digits, - and .), such as kubernetes.io", k)
		}
		name = rest
	}
	if len(name) == 0 || len(name) > 63 || !k8sLabelName.MatchString(name) {
		return fmt.Errorf("invalid node label %q: the name must be 1 to 63 letters, digits, -, _ or ., starting and ending with a letter or digit", k)
	}
	if len(v) > 63 || !k8sLabelValue.MatchString(v) {
		return fmt.Errorf("invalid value %q of node label %q: use at most 63 letters, digits, -, _ or ., starting and ending with a letter or digit", v, k)
	}
	return nil
}

// quantityForm is Kubernetes' quantity grammar (resource.ParseQuantity):
// a signed decimal number and a binary (Ki..Ei), decimal (m, k..E) or
// exponent (e3, E-2) suffix.
var quantityForm = regexp.MustCompile(`^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]|[eE][+-]?[0-9]+)?$`)

// maxQuantityLen bounds the text Quantity reads: hostile files get no
// arbitrary-precision arithmetic on megabytes of digits.
const maxQuantityLen = 64

// Quantity reads a Kubernetes resource quantity ("500m", "1.5", "2Gi",
// "1e3") into its exact value. It accepts what resource.ParseQuantity
// accepts, except negative values and exponents beyond ±30 (no resource is
// that large or small), and is written here so that the default build
// needs no Kubernetes module.
func Quantity(s string) (*big.Rat, error) {
	if len(s) > maxQuantityLen {
		return nil, fmt.Errorf("%.20q… is not a quantity: longer than %d characters", s, maxQuantityLen)
	}
	m := quantityForm.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("%q is not a quantity", s)
	}
	num := m[2]
	if strings.HasPrefix(num, ".") {
		num = "0" + num
	}
	v, ok := new(big.Rat).SetString(strings.TrimSuffix(num, "."))
	if !ok {
		return nil, fmt.Errorf("%q is not a quantity", s)
	}
	if m[1] == "-" && v.Sign() != 0 {
		return nil, fmt.Errorf("%q is negative", s)
	}
	switch suffix := m[3]; {
	case suffix == "":
	case len(suffix) == 2 && suffix[1] == 'i':
		shift := uint(10 * (strings.Index("KMGTPE", suffix[:1]) + 1))
		v.Mul(v, new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), shift)))
	case suffix == "m":
		v.Quo(v, big.NewRat(1000, 1))
	case len(suffix) == 1:
		exp := 3 * (strings.Index("kMGTPE", suffix) + 1)
		v.Mul(v, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)))
	default:
		exp, err := strconv.Atoi(suffix[1:])
		if err != nil || exp < -30 || exp > 30 {
			return nil, fmt.Errorf("%q: the exponent must be between -30 and 30", s)
		}
		p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(exp, -exp))), nil))
		if exp < 0 {
			p.Inv(p)
		}
		v.Mul(v, p)
	}
	return v, nil
}
