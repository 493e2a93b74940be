// talos-fake: a Talos API test double for tests/preflight.rs, built from
// Talos's own code (pkg/machinery, the version go.mod pins) and the real COSI
// state gRPC server (cosi-project/runtime pkg/state/protobuf/server) over
// in-memory state, one state per node.
//
//	talos-fake SCENARIO.json TALOSCONFIG_OUT
//
// It seeds each node from SCENARIO.json (written by the Rust test, every value
// with its source there), issues the CA, the server certificate and one client
// certificate per context with Talos's own secrets code, writes a talosconfig
// with one context per entry of "contexts", prints "listening ADDR" on stdout
// and serves until stdin closes.
//
// What Talos keeps in internal/ (not importable) is written here after its
// behaviour, read at siderolabs/talos v1.14.0-rc.1:
//   - roles per method: internal/app/machined/pkg/system/services/machined.go
//     (Version, Memory, ServiceList, cosi.resource.State Get/List: admin,
//     operator, reader);
//   - roles from the client certificate's Organization:
//     pkg/grpc/middleware/authz/injector.go; refusal "not authorized"
//     (PermissionDenied): pkg/grpc/middleware/authz/authorizer.go;
//   - the sensitive-type filter and the unknown type refusal:
//     internal/app/resources/access.go;
//   - `node` / `nodes` routing: internal/app/apid/pkg/director/director.go.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	stdx509 "crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cosi-project/runtime/api/v1alpha1"
	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/cosi-project/runtime/pkg/resource/meta"
	"github.com/cosi-project/runtime/pkg/state"
	"github.com/cosi-project/runtime/pkg/state/impl/inmem"
	"github.com/cosi-project/runtime/pkg/state/impl/namespaced"
	"github.com/cosi-project/runtime/pkg/state/protobuf/server"
	"github.com/cosi-project/runtime/pkg/state/registry"
	"github.com/siderolabs/crypto/x509"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"github.com/siderolabs/talos/pkg/machinery/resources/block"
	talosconfig "github.com/siderolabs/talos/pkg/machinery/resources/config"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"
	talosv1alpha1 "github.com/siderolabs/talos/pkg/machinery/resources/v1alpha1"
	"github.com/siderolabs/talos/pkg/machinery/role"
	"go.yaml.in/yaml/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

type scenario struct {
	// Contexts: talosconfig context name -> the roles of its client certificate.
	Contexts map[string][]string `json:"contexts"`
	// Context: the talosconfig's current context.
	Context string `json:"context"`
	// Nodes: the first one is the endpoint (apid answers requests without `node`).
	Nodes []node `json:"nodes"`
	// Bare: contexts written without nodes, as the talosconfig Talos puts in
	// a ServiceAccount's Secret (TALOS-API.md, "Inside the cluster").
	Bare []string `json:"bare"`
}

type node struct {
	Address string `json:"address"`
	// Tag: what MachineService/Version answers; it also decides which
	// resource types the node's Talos knows (see knownTypes).
	Tag string `json:"tag"`
	// Unreachable: apid cannot dial this node.
	Unreachable bool `json:"unreachable"`
	// DelayMS: every call to this node waits this long first (a slow node).
	DelayMS int `json:"delayMs"`
	// Meminfo: MachineService/Memory's hugepages fields (kiB for the size).
	Meminfo   map[string]uint64 `json:"meminfo"`
	Resources []seeded          `json:"resources"`
	// Services: what MachineService/ServiceList answers (events oldest first).
	Services []serviceInfo `json:"services"`
}

type serviceInfo struct {
	ID     string         `json:"id"`
	State  string         `json:"state"`
	Events []serviceEvent `json:"events"`
}

type serviceEvent struct {
	State string `json:"state"`
	Msg   string `json:"msg"`
}

type seeded struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	// Spec: the YAML that `talosctl get -o yaml` prints under `spec:`.
	Spec string `json:"spec"`
}

type typeInfo struct {
	// since, until: the Talos minor versions that have the type (until 0: still there).
	since, until int
	proto        meta.ResourceWithRD
	create       func(id string, spec string) (resource.Resource, error)
}

func typed[R resource.Resource](mk func(id string) R) func(string, string) (resource.Resource, error) {
	return func(id, spec string) (resource.Resource, error) {
		r := mk(id)
		if err := yaml.Unmarshal([]byte(spec), r.Spec()); err != nil {
			return nil, fmt.Errorf("spec of %s %s: %w", r.Metadata().Type(), id, err)
		}
		return r, nil
	}
}

// The types the fake serves, with the Talos minor that introduced (and the one
// that removed) each, as TALOS-API.md lists them: Versions since 1.10,
// KernelModuleStatuses since 1.14, LoadedKernelModules from 1.11.
var types = map[string]typeInfo{
	runtime.VersionType: {since: 10, proto: runtime.NewVersion(), create: typed(func(string) *runtime.Version { return runtime.NewVersion() })},
	runtime.ExtensionStatusType: {proto: runtime.NewExtensionStatus(runtime.NamespaceName, ""), create: typed(func(id string) *runtime.ExtensionStatus {
		return runtime.NewExtensionStatus(runtime.NamespaceName, id)
	})},
	talosv1alpha1.ServiceType: {proto: talosv1alpha1.NewService(""), create: typed(talosv1alpha1.NewService)},
	runtime.KernelModuleStatusType: {since: 14, proto: runtime.NewKernelModuleStatus(runtime.NamespaceName, ""), create: typed(func(id string) *runtime.KernelModuleStatus {
		return runtime.NewKernelModuleStatus(runtime.NamespaceName, id)
	})},
	runtime.LoadedKernelModuleType: {since: 11, proto: runtime.NewLoadedKernelModule(runtime.NamespaceName, ""), create: typed(func(id string) *runtime.LoadedKernelModule {
		return runtime.NewLoadedKernelModule(runtime.NamespaceName, id)
	})},
	// Written by Talos for each ExtensionServiceConfig, id its name (internal/app/machined/
	// pkg/controllers/runtime/extension_service_config_files.go, v1.14.0-rc.1); since 1.7.
	runtime.ExtensionServiceConfigStatusType: {since: 7, proto: runtime.NewExtensionServiceConfigStatusSpec(runtime.NamespaceName, ""), create: typed(func(id string) *runtime.ExtensionServiceConfigStatus {
		return runtime.NewExtensionServiceConfigStatusSpec(runtime.NamespaceName, id)
	})},
	runtime.KernelParamStatusType: {proto: runtime.NewKernelParamStatus(runtime.NamespaceName, ""), create: typed(func(id string) *runtime.KernelParamStatus {
		return runtime.NewKernelParamStatus(runtime.NamespaceName, id)
	})},
	block.VolumeStatusType: {proto: block.NewVolumeStatus(block.NamespaceName, ""), create: typed(func(id string) *block.VolumeStatus {
		return block.NewVolumeStatus(block.NamespaceName, id)
	})},
	block.MountStatusType: {proto: block.NewMountStatus(block.NamespaceName, ""), create: typed(func(id string) *block.MountStatus {
		return block.NewMountStatus(block.NamespaceName, id)
	})},
	talosconfig.MachineConfigType: {proto: talosconfig.NewMachineConfig(nil), create: func(id, spec string) (resource.Resource, error) {
		provider, err := configloader.NewFromBytes([]byte(spec))
		if err != nil {
			return nil, fmt.Errorf("machine config: %w", err)
		}
		return talosconfig.NewMachineConfigWithID(provider, id), nil
	}},
}

func minor(tag string) int {
	var major, min int
	if _, err := fmt.Sscanf(strings.TrimPrefix(tag, "v"), "%d.%d", &major, &min); err != nil {
		return 0
	}
	return min
}

type rolesKey struct{}
type nodeKey struct{}

// nodeState is one node's COSI state behind Talos's access filter.
type nodeState struct {
	info node
	cosi *server.State
}

// accessPolicy follows internal/app/resources/access.go (v1.14.0-rc.1).
func accessPolicy(st state.State) state.FilteringRule {
	return func(ctx context.Context, access state.Access) error {
		if !access.Verb.Readonly() {
			return status.Error(codes.PermissionDenied, "write access is not allowed")
		}
		rd, err := st.Get(ctx, resource.NewMetadata(meta.NamespaceName, meta.ResourceDefinitionType, strings.ToLower(access.ResourceType), resource.VersionUndefined))
		if err != nil {
			if state.IsNotFoundError(err) {
				return status.Error(codes.PermissionDenied, fmt.Sprintf("resource type %q is not supported", access.ResourceType))
			}
			return err
		}
		roles, _ := ctx.Value(rolesKey{}).(role.Set)
		switch rd.(*meta.ResourceDefinition).TypedSpec().Sensitivity {
		case meta.Sensitive:
			if !roles.Includes(role.Admin) {
				return status.Error(codes.PermissionDenied, "not authorized")
			}
		case meta.NonSensitive:
		default:
			return fmt.Errorf("unexpected sensitivity")
		}
		if _, err = st.Get(ctx, resource.NewMetadata(meta.NamespaceName, meta.NamespaceType, access.ResourceNamespace, resource.VersionUndefined)); err != nil {
			if state.IsNotFoundError(err) {
				return status.Error(codes.PermissionDenied, fmt.Sprintf("namespace %q is not supported", access.ResourceNamespace))
			}
			return err
		}
		return nil
	}
}

func newNodeState(ctx context.Context, n node) (*nodeState, error) {
	st := state.WrapCore(namespaced.NewState(inmem.Build))
	namespaces := registry.NewNamespaceRegistry(st)
	if err := namespaces.RegisterDefault(ctx); err != nil {
		return nil, err
	}
	for _, ns := range []resource.Namespace{runtime.NamespaceName, talosconfig.NamespaceName} {
		if err := namespaces.Register(ctx, ns, "talos"); err != nil {
			return nil, err
		}
	}
	definitions := registry.NewResourceRegistry(st)
	if err := definitions.RegisterDefault(ctx); err != nil {
		return nil, err
	}
	m := minor(n.Tag)
	for _, t := range types {
		if m < t.since || (t.until != 0 && m >= t.until) {
			continue
		}
		if err := definitions.Register(ctx, t.proto); err != nil {
			return nil, err
		}
	}
	for _, s := range n.Resources {
		t, ok := types[s.Type]
		if !ok {
			return nil, fmt.Errorf("node %s: the fake does not serve type %q", n.Address, s.Type)
		}
		if m < t.since || (t.until != 0 && m >= t.until) {
			return nil, fmt.Errorf("node %s: Talos %s has no %s", n.Address, n.Tag, s.Type)
		}
		r, err := t.create(s.ID, s.Spec)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Address, err)
		}
		if err := st.Create(ctx, r); err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Address, err)
		}
	}
	filtered := state.Filter(st, accessPolicy(st))
	return &nodeState{info: n, cosi: server.NewState(filtered)}, nil
}

// methodRoles follows internal/app/machined/pkg/system/services/machined.go
// (v1.14.0-rc.1) for the methods the fake serves.
var methodRoles = map[string]role.Set{
	"/machine.MachineService/Version":     role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Memory":      role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/ServiceList": role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/cosi.resource.State/Get":            role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/cosi.resource.State/List":           role.MakeSet(role.Admin, role.Operator, role.Reader),
}

type fake struct {
	nodes map[string]*nodeState
	local *nodeState
}

// route authorizes the call and picks the node, as apid and machined do.
func (f *fake) route(ctx context.Context, method string) (context.Context, error) {
	var roles role.Set
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
			roles, _ = role.Parse(info.State.PeerCertificates[0].Subject.Organization)
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	nodes, okNodes := md["nodes"]
	n, okNode := md["node"]
	if okNode && len(n) != 1 {
		return nil, status.Error(codes.InvalidArgument, "node metadata must be single-valued")
	}
	target := f.local
	switch {
	case okNodes:
		if !strings.HasPrefix(method, "/machine.MachineService/") {
			return nil, status.Errorf(codes.InvalidArgument, "one-2-many proxying is not supported for method %s", method)
		}
		if len(nodes) != 1 {
			return nil, status.Error(codes.Unimplemented, "the fake answers one node per call")
		}
		n = nodes
		fallthrough
	case okNode:
		t, ok := f.nodes[n[0]]
		if !ok || t.info.Unreachable {
			return nil, status.Errorf(codes.Unavailable, "connection error: desc = \"transport: Error while dialing: dial tcp %s: connect: no route to host\"", net.JoinHostPort(n[0], "50000"))
		}
		target = t
	}
	allowed, ok := methodRoles[method]
	if !ok {
		return nil, status.Error(codes.Unimplemented, "the fake does not serve "+method)
	}
	granted := false
	for _, r := range roles.Strings() {
		if allowed.Includes(role.Role(r)) {
			granted = true
		}
	}
	if !granted {
		return nil, status.Error(codes.PermissionDenied, "not authorized")
	}
	if target.info.DelayMS > 0 {
		select {
		case <-time.After(time.Duration(target.info.DelayMS) * time.Millisecond):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	ctx = context.WithValue(ctx, rolesKey{}, roles)
	return context.WithValue(ctx, nodeKey{}, target), nil
}

func target(ctx context.Context) *nodeState { return ctx.Value(nodeKey{}).(*nodeState) }

type cosiServer struct {
	v1alpha1.UnimplementedStateServer
}

func (cosiServer) Get(ctx context.Context, req *v1alpha1.GetRequest) (*v1alpha1.GetResponse, error) {
	return target(ctx).cosi.Get(ctx, req)
}

func (cosiServer) List(req *v1alpha1.ListRequest, srv v1alpha1.State_ListServer) error {
	return target(srv.Context()).cosi.List(req, srv)
}

type machineServer struct {
	machine.UnimplementedMachineServiceServer
}

func hostname(ctx context.Context) *common.Metadata {
	return &common.Metadata{Hostname: target(ctx).info.Address}
}

func (machineServer) Version(ctx context.Context, _ *emptypb.Empty) (*machine.VersionResponse, error) {
	return &machine.VersionResponse{Messages: []*machine.Version{{
		Metadata: hostname(ctx),
		Version:  &machine.VersionInfo{Tag: target(ctx).info.Tag, Os: "linux", Arch: "amd64"},
	}}}, nil
}

func (machineServer) Memory(ctx context.Context, _ *emptypb.Empty) (*machine.MemoryResponse, error) {
	mi := target(ctx).info.Meminfo
	return &machine.MemoryResponse{Messages: []*machine.Memory{{
		Metadata: hostname(ctx),
		Meminfo: &machine.MemInfo{
			Memtotal:       mi["memtotal"],
			Hugepagestotal: mi["hugepagestotal"],
			Hugepagesfree:  mi["hugepagesfree"],
			Hugepagesize:   mi["hugepagesize"],
		},
	}}}, nil
}

func (machineServer) ServiceList(ctx context.Context, _ *emptypb.Empty) (*machine.ServiceListResponse, error) {
	var services []*machine.ServiceInfo
	for _, svc := range target(ctx).info.Services {
		events := &machine.ServiceEvents{}
		for _, e := range svc.Events {
			events.Events = append(events.Events, &machine.ServiceEvent{Msg: e.Msg, State: e.State})
		}
		services = append(services, &machine.ServiceInfo{
			Id:     svc.ID,
			State:  svc.State,
			Events: events,
			Health: &machine.ServiceHealth{Unknown: true},
		})
	}
	return &machine.ServiceListResponse{Messages: []*machine.ServiceList{{Metadata: hostname(ctx), Services: services}}}, nil
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w wrappedStream) Context() context.Context { return w.ctx }

func run() error {
	if len(os.Args) != 3 {
		return fmt.Errorf("usage: talos-fake SCENARIO.json TALOSCONFIG_OUT")
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		return err
	}
	var sc scenario
	if err := json.Unmarshal(raw, &sc); err != nil {
		return fmt.Errorf("%s: %w", os.Args[1], err)
	}
	if len(sc.Nodes) == 0 {
		return fmt.Errorf("%s: no nodes", os.Args[1])
	}
	ctx := context.Background()
	f := &fake{nodes: map[string]*nodeState{}}
	for i, n := range sc.Nodes {
		ns, err := newNodeState(ctx, n)
		if err != nil {
			return err
		}
		f.nodes[n.Address] = ns
		if i == 0 {
			f.local = ns
		}
	}

	// Certificates from Talos's own secrets code (pkg/machinery/config/generate/secrets).
	bundle, err := secrets.NewBundle(secrets.NewClock(), config.TalosVersionCurrent)
	if err != nil {
		return err
	}
	ca, err := x509.NewCertificateAuthorityFromCertificateAndKey(bundle.Certs.OS)
	if err != nil {
		return err
	}
	// As apid's server certificate: internal/app/machined/pkg/controllers/secrets/api.go.
	serverPair, err := x509.NewKeyPair(ca,
		x509.IPAddresses([]net.IP{net.ParseIP("127.0.0.1")}),
		x509.DNSNames([]string{"talos", "talos.default", "localhost"}),
		x509.CommonName("talos-fake"),
		x509.NotAfter(time.Now().Add(x509.DefaultCertificateValidityDuration)),
		x509.KeyUsage(stdx509.KeyUsageDigitalSignature),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth}),
	)
	if err != nil {
		return err
	}
	serverCert, err := tls.X509KeyPair(serverPair.CrtPEM, serverPair.KeyPEM)
	if err != nil {
		return err
	}
	pool := stdx509.NewCertPool()
	pool.AppendCertsFromPEM(bundle.Certs.OS.Crt)
	creds := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS13,
	})

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	endpoint := lis.Addr().String()

	var addresses []string
	for _, n := range sc.Nodes {
		addresses = append(addresses, n.Address)
	}
	cfg := &clientconfig.Config{Context: sc.Context, Contexts: map[string]*clientconfig.Context{}}
	for name, roleNames := range sc.Contexts {
		roles, unknown := role.Parse(roleNames)
		if len(unknown) > 0 {
			return fmt.Errorf("context %s: unknown roles %v", name, unknown)
		}
		crt, err := bundle.GenerateTalosAPIClientCertificate(roles)
		if err != nil {
			return err
		}
		c := clientconfig.NewConfig(name, []string{endpoint}, bundle.Certs.OS.Crt, crt)
		if !slices.Contains(sc.Bare, name) {
			c.Contexts[name].Nodes = addresses
		}
		cfg.Contexts[name] = c.Contexts[name]
	}
	out, err := cfg.Bytes()
	if err != nil {
		return err
	}
	if err := os.WriteFile(os.Args[2], out, 0o600); err != nil {
		return err
	}

	srv := grpc.NewServer(grpc.Creds(creds),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			ctx, err := f.route(ctx, info.FullMethod)
			if err != nil {
				return nil, err
			}
			return handler(ctx, req)
		}),
		grpc.StreamInterceptor(func(s any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			ctx, err := f.route(ss.Context(), info.FullMethod)
			if err != nil {
				return err
			}
			return handler(s, wrappedStream{ss, ctx})
		}),
	)
	v1alpha1.RegisterStateServer(srv, cosiServer{})
	machine.RegisterMachineServiceServer(srv, machineServer{})
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		srv.Stop()
	}()
	fmt.Printf("listening %s\n", endpoint)
	return srv.Serve(lis)
}

// get reads resources of one type from one node with Talos's own Go client
// (pkg/machinery/client, what talosctl get is built on) and prints them as a
// JSON list of {id, yaml}: the spec as talosctl get -o yaml prints it.
//
//	talos-fake get TALOSCONFIG CONTEXT NODE NAMESPACE TYPE
func get(args []string) error {
	if len(args) != 5 {
		return fmt.Errorf("usage: talos-fake get TALOSCONFIG CONTEXT NODE NAMESPACE TYPE")
	}
	ctx := context.Background()
	c, err := client.New(ctx, client.WithConfigFromFile(args[0]), client.WithContextName(args[1]))
	if err != nil {
		return err
	}
	defer c.Close() //nolint:errcheck
	items, err := c.COSI.List(client.WithNode(ctx, args[2]), resource.NewMetadata(args[3], args[4], "", resource.VersionUndefined))
	if err != nil {
		return err
	}
	type item struct {
		ID   string `json:"id"`
		YAML string `json:"yaml"`
	}
	out := []item{}
	for _, r := range items.Items {
		b, err := yaml.Marshal(r.Spec())
		if err != nil {
			return err
		}
		out = append(out, item{ID: r.Metadata().ID(), YAML: string(b)})
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "get" {
		if err := get(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "talos-fake get: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "talos-fake: %v\n", err)
		os.Exit(1)
	}
}
