// talos-oracle answers, with Talos's own code (github.com/siderolabs/talos/pkg/machinery),
// what talosctl does with a machine config and its patches: it generates
// configs per version contract (config/generate), applies patches as
// `talosctl machineconfig patch` and `talosctl gen config --config-patch` do
// (configpatcher.LoadPatches + Apply), loads the result (configloader) and
// validates it as `talosctl validate --mode metal` does (ValidateAsClient with
// WithLocal).
//
// One JSON request per line on stdin, one JSON answer per line on stdout, so
// that a test starts the process once for many cases:
//
//	{"op":"generate","contract":"1.14","machine":"worker","installImage":"..."}
//	{"op":"patch","base":"<yaml>","patches":["<yaml>", ...]}
//	{"op":"keys","paths":["v1alpha1.machine.kubelet", ...]}
//
// A request the oracle cannot serve (bad JSON, unknown op) is answered with
// {"fatal": "..."}; the process keeps reading.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/configpatcher"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/config/types/block"
	"github.com/siderolabs/talos/pkg/machinery/config/types/k8s"
	"github.com/siderolabs/talos/pkg/machinery/config/types/runtime"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"github.com/siderolabs/talos/pkg/machinery/config/validation"
)

// metal is the runtime mode of a bare-metal install, as talosctl's
// `validate --mode metal` passes it (talos internal/app/machined/pkg/runtime/mode.go:
// metal requires an install and is not a container).
type metal struct{}

func (metal) String() string        { return "metal" }
func (metal) RequiresInstall() bool { return true }
func (metal) InContainer() bool     { return false }

type request struct {
	Op           string   `json:"op"`
	Contract     string   `json:"contract"`
	Machine      string   `json:"machine"`
	InstallImage string   `json:"installImage"`
	Base         string   `json:"base"`
	Patches      []string `json:"patches"`
	Paths        []string `json:"paths"`
}

type response struct {
	// generate: the config talosctl gen config writes.
	YAML string `json:"yaml,omitempty"`
	// patch: the stage that failed ("load-patches", "apply", "load" or
	// "validate") and Talos's error text; empty when all passed.
	Stage string `json:"stage,omitempty"`
	Error string `json:"error,omitempty"`
	// patch: the merged config as talosctl prints it, and its documents as JSON.
	Merged    string   `json:"merged,omitempty"`
	Documents []any    `json:"documents,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	// keys: the YAML keys of the Talos type at each requested path.
	Keys map[string][]string `json:"keys,omitempty"`
	// Set when the request itself could not be served.
	Fatal string `json:"fatal,omitempty"`
}

// Kubernetes versions generated per contract: one each Talos release supports.
var kubernetes = map[string]string{
	"1.7":  "1.30.14",
	"1.10": "1.33.5",
	"1.12": "1.35.0",
	"1.14": "1.37.0",
}

func generateConfig(req request) response {
	contract, err := config.ParseContractFromVersion("v" + req.Contract)
	if err != nil {
		return response{Fatal: err.Error()}
	}

	k8s, ok := kubernetes[req.Contract]
	if !ok {
		return response{Fatal: "no Kubernetes version for contract " + req.Contract}
	}

	var kind machine.Type

	switch req.Machine {
	case "controlplane":
		kind = machine.TypeControlPlane
	case "worker":
		kind = machine.TypeWorker
	default:
		return response{Fatal: "machine must be controlplane or worker, not " + strconv.Quote(req.Machine)}
	}

	bundle, err := secrets.NewBundle(secrets.NewFixedClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), contract)
	if err != nil {
		return response{Fatal: err.Error()}
	}

	// talosctl gen config's defaults: --install-disk /dev/sda.
	opts := []generate.Option{
		generate.WithVersionContract(contract),
		generate.WithSecretsBundle(bundle),
		generate.WithInstallDisk("/dev/sda"),
	}
	if req.InstallImage != "" {
		opts = append(opts, generate.WithInstallImage(req.InstallImage))
	}

	input, err := generate.NewInput("oracle", "https://talos-oracle.invalid:6443", k8s, opts...)
	if err != nil {
		return response{Fatal: err.Error()}
	}

	cfg, err := input.Config(kind)
	if err != nil {
		return response{Fatal: err.Error()}
	}

	out, err := cfg.Bytes()
	if err != nil {
		return response{Fatal: err.Error()}
	}

	return response{YAML: string(out)}
}

// patch applies the patches the way talosctl does with `--patch @file`.
func patch(req request, dir string) response {
	var args []string

	for i, p := range req.Patches {
		name := filepath.Join(dir, fmt.Sprintf("patch-%d.yaml", i))
		if err := os.WriteFile(name, []byte(p), 0o600); err != nil {
			return response{Fatal: err.Error()}
		}

		args = append(args, "@"+name)
	}

	patches, err := configpatcher.LoadPatches(args)
	if err != nil {
		return response{Stage: "load-patches", Error: err.Error()}
	}

	out, err := configpatcher.Apply(configpatcher.WithBytes([]byte(req.Base)), patches)
	if err != nil {
		return response{Stage: "apply", Error: err.Error()}
	}

	merged, err := out.Bytes()
	if err != nil {
		return response{Stage: "apply", Error: err.Error()}
	}

	resp := response{Merged: string(merged)}

	docs, err := documents(merged)
	if err != nil {
		return response{Fatal: "the merged config does not read back as YAML: " + err.Error()}
	}

	resp.Documents = docs

	cfg, err := configloader.NewFromBytes(merged)
	if err != nil {
		resp.Stage, resp.Error = "load", err.Error()

		return resp
	}

	warnings, err := cfg.ValidateAsClient(metal{}, validation.WithLocal())
	resp.Warnings = warnings

	if err != nil {
		resp.Stage, resp.Error = "validate", err.Error()
	}

	return resp
}

// roots are the document types whose keys the "keys" op walks.
var roots = map[string]reflect.Type{
	"v1alpha1":              reflect.TypeFor[v1alpha1.Config](),
	"UserVolumeConfig":      reflect.TypeFor[block.UserVolumeConfigV1Alpha1](),
	"KubeNodeConfig":        reflect.TypeFor[k8s.KubeNodeConfigV1Alpha1](),
	"SecurityProfileConfig": reflect.TypeFor[runtime.SecurityProfileConfigV1Alpha1](),
	"VolumeConfig":          reflect.TypeFor[block.VolumeConfigV1Alpha1](),
}

// yamlKeys lists the YAML keys of a struct type, inline fields flattened.
func yamlKeys(t reflect.Type) []string {
	var out []string

	for i := range t.NumField() {
		f := t.Field(i)

		tags := strings.Split(f.Tag.Get("yaml"), ",")
		if tags[0] == "-" {
			continue
		}

		if tags[0] == "" && len(tags) > 1 && tags[1] == "inline" {
			out = append(out, yamlKeys(deref(f.Type))...)

			continue
		}

		if tags[0] != "" {
			out = append(out, tags[0])
		}
	}

	return out
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}

	return t
}

// field finds the type behind a YAML key of a struct, through inline fields.
func field(t reflect.Type, key string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tags := strings.Split(f.Tag.Get("yaml"), ",")

		if tags[0] == key {
			return f.Type, true
		}

		if tags[0] == "" && len(tags) > 1 && tags[1] == "inline" {
			if ft, ok := field(deref(f.Type), key); ok {
				return ft, true
			}
		}
	}

	return nil, false
}

// keys answers the YAML keys at paths like "v1alpha1.machine.kubelet.extraMounts[]".
func keys(req request) response {
	out := map[string][]string{}

	for _, path := range req.Paths {
		parts := strings.Split(path, ".")

		t, ok := roots[parts[0]]
		if !ok {
			return response{Fatal: "no root type for " + path}
		}

		for _, p := range parts[1:] {
			ft, found := field(t, strings.TrimSuffix(p, "[]"))
			if !found {
				return response{Fatal: "no field " + p + " in " + path}
			}

			t = deref(ft)
		}

		if t.Kind() != reflect.Struct {
			return response{Fatal: path + " is not a struct"}
		}

		out[path] = yamlKeys(t)
	}

	return response{Keys: out}
}

// documents reads a YAML stream into one JSON-ready value per document.
func documents(stream []byte) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(stream))

	var out []any

	for {
		var doc any

		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}

		if err != nil {
			return nil, err
		}

		if doc != nil {
			out = append(out, doc)
		}
	}
}

func main() {
	dir, err := os.MkdirTemp("", "talos-oracle-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "talos-oracle:", err)
		os.Exit(1)
	}

	defer os.RemoveAll(dir) //nolint:errcheck

	in := bufio.NewReader(os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)

	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var (
				req  request
				resp response
			)

			if jerr := json.Unmarshal(line, &req); jerr != nil {
				resp = response{Fatal: "bad request: " + jerr.Error()}
			} else {
				switch req.Op {
				case "generate":
					resp = generateConfig(req)
				case "patch":
					resp = patch(req, dir)
				case "keys":
					resp = keys(req)
				default:
					resp = response{Fatal: "unknown op " + strconv.Quote(req.Op)}
				}
			}

			if eerr := enc.Encode(resp); eerr != nil {
				fmt.Fprintln(os.Stderr, "talos-oracle:", eerr)
				os.Exit(1)
			}
		}

		if err != nil {
			if errors.Is(err, io.EOF) {
				return
			}

			fmt.Fprintln(os.Stderr, "talos-oracle:", err)
			os.Exit(1)
		}
	}
}
