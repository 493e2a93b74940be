// Command gojson-oracle decodes text the way longhorn-manager does, so that
// tests/gojson.rs can check the guard's reader (src/base/gojson.rs) against
// Go itself. It reads one JSON request per line on stdin and writes one JSON
// answer per line on stdout:
//
//	{"op":"disks","text":T}  json.Unmarshal(T, &[]diskSpecWithName)
//	{"op":"lower","text":T}  strings.ToLower(T)
//	{"op":"settings","text":T} yaml.Unmarshal(T, &map[string]string) (gopkg.in/yaml.v2)
//
// The struct has the shape of longhorn-manager's types.DiskSpecWithName
// (longhorn.DiskSpec embedded, plus Name) at v1.10.0 to v1.12.1
// (types/types.go, k8s/pkg/apis/longhorn/v1beta2/node.go); it is written
// here, not imported, so that the oracle needs no Longhorn module.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v2"
)

type DiskSpec struct {
	Type              string   `json:"diskType"`
	Path              string   `json:"path"`
	DiskDriver        string   `json:"diskDriver"`
	AllowScheduling   bool     `json:"allowScheduling"`
	EvictionRequested bool     `json:"evictionRequested"`
	StorageReserved   int64    `json:"storageReserved"`
	Tags              []string `json:"tags"`
}

type diskSpecWithName struct {
	DiskSpec
	Name string `json:"name"`
}

type request struct {
	Op   string `json:"op"`
	Text string `json:"text"`
}

type answer struct {
	// The decoded value as Go marshals it (a nil slice is null).
	Value json.RawMessage `json:"value,omitempty"`
	// "syntax" or "type" for JSON, "yaml" for YAML; empty when it decoded.
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

func (a *answer) set(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gojson-oracle: %v\n", err)
		os.Exit(2)
	}
	a.Value = b
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintf(os.Stderr, "gojson-oracle: bad request line: %v\n", err)
			os.Exit(2)
		}
		var a answer
		switch req.Op {
		case "disks":
			var ret []diskSpecWithName
			err := json.Unmarshal([]byte(req.Text), &ret)
			var syn *json.SyntaxError
			var typ *json.UnmarshalTypeError
			switch {
			case err == nil:
				a.set(ret)
			case errors.As(err, &syn):
				a.Error, a.Message = "syntax", err.Error()
			case errors.As(err, &typ):
				a.Error, a.Message = "type", err.Error()
			default:
				a.Error, a.Message = "other", err.Error()
			}
		case "lower":
			a.set(strings.ToLower(req.Text))
		case "settings":
			m := map[string]string{}
			if err := yaml.Unmarshal([]byte(req.Text), &m); err != nil {
				a.Error, a.Message = "yaml", err.Error()
			} else {
				a.set(m)
			}
		default:
			fmt.Fprintf(os.Stderr, "gojson-oracle: unknown op %q\n", req.Op)
			os.Exit(2)
		}
		if err := enc.Encode(&a); err != nil {
			fmt.Fprintf(os.Stderr, "gojson-oracle: %v\n", err)
			os.Exit(2)
		}
		// One answer per request, flushed, so the caller can stream.
		if err := out.Flush(); err != nil {
			os.Exit(2)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "gojson-oracle: reading stdin: %v\n", err)
		os.Exit(2)
	}
}
