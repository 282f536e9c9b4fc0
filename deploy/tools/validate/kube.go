package validate

import (
	"errors"
	"fmt"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
)

// Decoder decodes manifests strictly into their Go types.
type Decoder struct {
	kube runtime.Decoder
}

// NewDecoder knows the built-in API groups a Meshwork deployment uses,
// the Prometheus operator's monitoring.coreos.com/v1, and Strimzi's
// kafka.strimzi.io/v1beta2 (through its typed model).
func NewDecoder() (*Decoder, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, batchv1.AddToScheme,
		autoscalingv2.AddToScheme, networkingv1.AddToScheme, rbacv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	s := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Yaml: true, Strict: true})
	return &Decoder{kube: s}, nil
}

// Decode returns the typed object of o: a k8s.io/api or
// prometheus-operator type, or a Strimzi model type. Unknown and
// duplicate fields are errors, and so is a kind none of those know.
func (d *Decoder) Decode(o Object) (any, error) {
	if o.APIVersion == StrimziAPIVersion {
		v, err := decodeStrimzi(o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.ID(), err)
		}
		return v, nil
	}
	obj, _, err := d.kube.Decode(o.YAML, nil, nil)
	if err != nil {
		if runtime.IsNotRegisteredError(err) {
			return nil, fmt.Errorf("%s: %s %s is not a kind this check knows: %w", o.ID(), o.APIVersion, o.Kind, err)
		}
		return nil, fmt.Errorf("%s: %w", o.ID(), err)
	}
	return obj, nil
}

// DecodeAll decodes every object and returns the typed objects beside
// every error.
func (d *Decoder) DecodeAll(objs []Object) ([]any, error) {
	var out []any
	var errs []error
	for _, o := range objs {
		v, err := d.Decode(o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, v)
	}
	return out, errors.Join(errs...)
}
