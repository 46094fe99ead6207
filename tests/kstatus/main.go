// kstatus reads Kubernetes objects as JSON on stdin (one object, or a List as `kubectl get -o
// json` prints it) and prints, for each, the status sigs.k8s.io/cli-utils' kstatus computes:
// one JSON object per line with kind, namespace, name, status (InProgress, Current, Failed,
// Terminating, ...) and message. It is what Flux, kpt and Config Sync decide readiness with,
// so tests can check Ballast's conditions against the library itself rather than a copy of
// its rules.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Message   string `json:"message"`
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	var read unstructured.Unstructured
	if err := read.UnmarshalJSON(data); err != nil {
		return err
	}
	objects := []unstructured.Unstructured{read}
	if read.IsList() {
		list, err := read.ToList()
		if err != nil {
			return err
		}
		objects = list.Items
	}
	encoder := json.NewEncoder(out)
	for i := range objects {
		object := &objects[i]
		result, err := status.Compute(object)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", object.GetKind(), object.GetName(), err)
		}
		err = encoder.Encode(verdict{
			Kind:      object.GetKind(),
			Namespace: object.GetNamespace(),
			Name:      object.GetName(),
			Status:    result.Status.String(),
			Message:   result.Message,
		})
		if err != nil {
			return err
		}
	}
	return nil
}
