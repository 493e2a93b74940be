// The CEL oracle of tests/cel_oracle.rs: Kubernetes' own ValidatingAdmissionPolicy
// admission plugin (k8s.io/apiserver, the version go.mod pins, the e2e control
// plane's), fed the policies longhorn-talos-guard generates and admission requests,
// answering what kube-apiserver would: denied (with its message), warnings, or allowed.
//
// Input on stdin (JSON): {"objects": [VAPs and bindings], "namespaces": [names],
// "requests": [AdmissionRequest]}. Output on stdout: one JSON line per request:
// {"denied": bool, "message": "...", "warnings": [...]}.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	regv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	mutatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/mutating"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/cel/environment"
	utilcompatibility "k8s.io/apiserver/pkg/util/compatibility"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/discovery"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/openapi"
	basecompatibility "k8s.io/component-base/compatibility"
)

type input struct {
	// The CEL compatibility version to compile at ("1.32": what a 1.33
	// kube-apiserver compiles new expressions at); empty: this build's default.
	Compatibility string                         `json:"compatibility"`
	Objects       []json.RawMessage              `json:"objects"`
	Namespaces    []string                       `json:"namespaces"`
	Requests      []admissionv1.AdmissionRequest `json:"requests"`
}

type answer struct {
	// The object after the MutatingAdmissionPolicies, when any is loaded.
	Object   any      `json:"object,omitempty"`
	Denied   bool     `json:"denied"`
	Message  string   `json:"message,omitempty"`
	Warnings []string `json:"warnings"`
	Error    string   `json:"error,omitempty"`
}

type warnings struct{ list []string }

func (w *warnings) AddWarning(_, text string) { w.list = append(w.list, text) }

// The fake clientset's discovery has no OpenAPI v3 (it panics); the mutating
// plugin asks for it to type ApplyConfiguration patches, which the generated
// policies do not use (JSONPatch only).
type noOpenAPI struct{ *fakediscovery.FakeDiscovery }

func (noOpenAPI) OpenAPIV3() openapi.Client { return emptyOpenAPI{} }

type emptyOpenAPI struct{}

// The mutating dispatcher wants a type converter for every kind it patches,
// even for JSONPatch; a schema of our own for Namespace (any fields) is enough.
func (emptyOpenAPI) Paths() (map[string]openapi.GroupVersion, error) {
	return map[string]openapi.GroupVersion{"api/v1": coreSchema{}}, nil
}

type coreSchema struct{}

func (coreSchema) Schema(string) ([]byte, error) {
	return []byte(`{"openapi": "3.0.0", "info": {"title": "oracle", "version": "v1"}, "paths": {},
"components": {"schemas": {"io.k8s.api.core.v1.Namespace": {"type": "object",
"x-kubernetes-preserve-unknown-fields": true,
"x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Namespace"}]}}}}`), nil
}

func (coreSchema) ServerRelativeURL() string { return "/openapi/v3/api/v1?hash=oracle" }

type clientset struct{ *fake.Clientset }

func (c clientset) Discovery() discovery.DiscoveryInterfaces {
	return noOpenAPI{c.Clientset.Discovery().(*fakediscovery.FakeDiscovery)}
}

type allowAll struct{}

func (allowAll) Authorize(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	return authorizer.DecisionAllow, "", nil
}

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "cel-oracle: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	var in input
	if err := json.NewDecoder(bufio.NewReader(os.Stdin)).Decode(&in); err != nil {
		die("cannot read the input: %v", err)
	}
	if in.Compatibility != "" {
		v, err := version.Parse(in.Compatibility)
		if err != nil {
			die("compatibility: %v", err)
		}
		ev := utilcompatibility.DefaultComponentGlobalsRegistry.EffectiveVersionFor(basecompatibility.DefaultKubeComponent)
		mutable, ok := ev.(basecompatibility.MutableEffectiveVersion)
		if !ok {
			die("the effective version cannot be changed")
		}
		mutable.SetMinCompatibilityVersion(v)
		if got := environment.DefaultCompatibilityVersion().String(); got != v.String() {
			die("compatibility version is %s, not %s", got, v)
		}
	}
	var objs []runtime.Object
	mutating := false
	for _, ns := range in.Namespaces {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"kubernetes.io/metadata.name": ns}}})
	}
	for _, raw := range in.Objects {
		var head metav1.TypeMeta
		if err := json.Unmarshal(raw, &head); err != nil {
			die("object: %v", err)
		}
		switch head.Kind {
		case "ValidatingAdmissionPolicy":
			var p regv1.ValidatingAdmissionPolicy
			if err := json.Unmarshal(raw, &p); err != nil {
				die("policy: %v", err)
			}
			objs = append(objs, &p)
		case "ValidatingAdmissionPolicyBinding":
			var b regv1.ValidatingAdmissionPolicyBinding
			if err := json.Unmarshal(raw, &b); err != nil {
				die("binding: %v", err)
			}
			objs = append(objs, &b)
		case "MutatingAdmissionPolicy":
			var p regv1.MutatingAdmissionPolicy
			if err := json.Unmarshal(raw, &p); err != nil {
				die("mutating policy: %v", err)
			}
			objs = append(objs, &p)
			mutating = true
		case "MutatingAdmissionPolicyBinding":
			var b regv1.MutatingAdmissionPolicyBinding
			if err := json.Unmarshal(raw, &b); err != nil {
				die("mutating binding: %v", err)
			}
			objs = append(objs, &b)
		default:
			die("unknown kind %q", head.Kind)
		}
	}
	client := fake.NewSimpleClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	plugin, err := validating.NewPlugin(nil)
	if err != nil {
		die("plugin: %v", err)
	}
	mut, err := mutatingpolicy.NewPlugin(nil)
	if err != nil {
		die("mutating plugin: %v", err)
	}
	mut.SetEnabled(true)
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	mapper.Add(schema.GroupVersionKind{Group: "longhorn.io", Version: "v1beta2", Kind: "Setting"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Group: "longhorn.io", Version: "v1beta2", Kind: "Node"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, meta.RESTScopeNamespace)
	for _, k := range []string{"DaemonSet", "Deployment", "StatefulSet", "ReplicaSet"} {
		mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: k}, meta.RESTScopeNamespace)
	}
	for _, k := range []string{"Job", "CronJob"} {
		mapper.Add(schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: k}, meta.RESTScopeNamespace)
	}
	stop := make(chan struct{})
	plugin.SetExternalKubeInformerFactory(factory)
	plugin.SetExternalKubeClientSet(client)
	plugin.SetRESTMapper(mapper)
	plugin.SetDynamicClient(dynamicfake.NewSimpleDynamicClient(runtime.NewScheme()))
	plugin.SetDrainedNotification(stop)
	plugin.SetUnconditionalAuthorizer(allowAll{})
	if err := plugin.ValidateInitialization(); err != nil {
		die("init: %v", err)
	}
	mut.SetExternalKubeInformerFactory(factory)
	mut.SetExternalKubeClientSet(clientset{client})
	mut.SetRESTMapper(mapper)
	mut.SetDynamicClient(dynamicfake.NewSimpleDynamicClient(runtime.NewScheme()))
	mut.SetDrainedNotification(stop)
	mut.SetUnconditionalAuthorizer(allowAll{})
	if err := mut.ValidateInitialization(); err != nil {
		die("mutating init: %v", err)
	}
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	deadline := time.Now().Add(30 * time.Second)
	for !plugin.WaitForReady() || !mut.WaitForReady() {
		if time.Now().After(deadline) {
			die("the plugin never became ready")
		}
	}
	// The policy source compiles on its own schedule; give it its refresh interval.
	time.Sleep(1500 * time.Millisecond)
	oi := admission.NewObjectInterfacesFromScheme(clientgoscheme.Scheme)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	if in.Compatibility != "" {
		enc.Encode(map[string][]string{"compileErrors": compileNew(objs)})
	}
	for _, r := range in.Requests {
		var m *mutatingpolicy.Plugin
		if mutating {
			m = mut
		}
		enc.Encode(evaluate(plugin, m, oi, r))
	}
}

func decode(raw runtime.RawExtension) (runtime.Object, error) {
	if len(raw.Raw) == 0 || string(raw.Raw) == "null" {
		return nil, nil
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw.Raw); err != nil {
		return nil, err
	}
	return u, nil
}

func evaluate(plugin *validating.Plugin, mut *mutatingpolicy.Plugin, oi admission.ObjectInterfaces, r admissionv1.AdmissionRequest) answer {
	obj, err := decode(r.Object)
	if err != nil {
		return answer{Error: err.Error()}
	}
	old, err := decode(r.OldObject)
	if err != nil {
		return answer{Error: err.Error()}
	}
	kind := schema.GroupVersionKind{Group: r.Kind.Group, Version: r.Kind.Version, Kind: r.Kind.Kind}
	resource := schema.GroupVersionResource{Group: r.Resource.Group, Version: r.Resource.Version, Resource: r.Resource.Resource}
	info := &user.DefaultInfo{Name: r.UserInfo.Username, UID: r.UserInfo.UID, Groups: r.UserInfo.Groups}
	dry := r.DryRun != nil && *r.DryRun
	attr := admission.NewAttributesRecord(obj, old, kind, r.Namespace, r.Name, resource, r.SubResource, admission.Operation(r.Operation), nil, dry, info)
	w := &warnings{}
	ctx := warning.WithWarningRecorder(context.Background(), w)
	a := answer{}
	if mut != nil && obj != nil {
		if err := mut.Admit(ctx, attr, oi); err != nil {
			return answer{Error: "mutating: " + err.Error()}
		}
		a.Object = attr.GetObject()
	}
	err = plugin.Validate(ctx, attr, oi)
	a.Warnings = w.list
	if a.Warnings == nil {
		a.Warnings = []string{}
	}
	if err != nil {
		a.Denied = true
		a.Message = err.Error()
	}
	return a
}

// compileNew compiles every expression of the ValidatingAdmissionPolicies as
// kube-apiserver checks a new or changed policy: in NewExpressions mode, at
// the compatibility version set (environment.DefaultCompatibilityVersion).
// The admission plugin itself compiles in StoredExpressions mode, which
// accepts every library; the floor is decided here.
func compileNew(objs []runtime.Object) []string {
	errs := []string{}
	withAuthz := plugincel.OptionalVariableDeclarations{HasAuthorizer: true}
	plain := plugincel.OptionalVariableDeclarations{}
	for _, o := range objs {
		p, ok := o.(*regv1.ValidatingAdmissionPolicy)
		if !ok {
			continue
		}
		c, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		note := func(what string, r plugincel.CompilationResult) {
			if r.Error != nil {
				errs = append(errs, fmt.Sprintf("%s %s: %v", p.Name, what, r.Error))
			}
		}
		for _, v := range p.Spec.Variables {
			note("variable "+v.Name, c.CompileAndStoreVariable(&validating.Variable{Name: v.Name, Expression: v.Expression}, withAuthz, environment.NewExpressions))
		}
		for i := range p.Spec.MatchConditions {
			note("matchCondition "+p.Spec.MatchConditions[i].Name, c.CompileCELExpression((*matchconditions.MatchCondition)(&p.Spec.MatchConditions[i]), withAuthz, environment.NewExpressions))
		}
		for _, v := range p.Spec.Validations {
			note("validation", c.CompileCELExpression(&validating.ValidationCondition{Expression: v.Expression}, withAuthz, environment.NewExpressions))
			if v.MessageExpression != "" {
				note("messageExpression", c.CompileCELExpression(&validating.MessageExpressionCondition{MessageExpression: v.MessageExpression}, plain, environment.NewExpressions))
			}
		}
	}
	return errs
}
