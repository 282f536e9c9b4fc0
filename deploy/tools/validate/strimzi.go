package validate

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// StrimziAPIVersion is the Strimzi API the manifests are written for, and
// the only one this model accepts.
const StrimziAPIVersion = "kafka.strimzi.io/v1beta2"

// The model below covers the fields of Strimzi's v1beta2 resources that
// Meshwork's manifests use, with the names and types of Strimzi's CRDs
// (api/src/main/java/io/strimzi/api/kafka/model in Strimzi's sources). A
// field outside it is reported as unknown: add it here, from Strimzi's
// reference, before using it.

// Kafka is kafka.strimzi.io/v1beta2 Kafka, for a KRaft cluster whose nodes
// come from KafkaNodePools.
type Kafka struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              KafkaSpec `json:"spec"`
}

// KafkaSpec is a Kafka's spec.
type KafkaSpec struct {
	Kafka          KafkaClusterSpec    `json:"kafka"`
	EntityOperator *EntityOperatorSpec `json:"entityOperator,omitempty"`
}

// KafkaClusterSpec is spec.kafka. Replicas and storage are the node
// pools' in KRaft mode, so they are not here.
type KafkaClusterSpec struct {
	Version         string                       `json:"version"`
	MetadataVersion string                       `json:"metadataVersion,omitempty"`
	Listeners       []GenericKafkaListener       `json:"listeners"`
	Authorization   *KafkaAuthorization          `json:"authorization,omitempty"`
	Config          map[string]any               `json:"config,omitempty"`
	Resources       *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// GenericKafkaListener is one of spec.kafka.listeners.
type GenericKafkaListener struct {
	Name           string                       `json:"name"`
	Port           int32                        `json:"port"`
	Type           string                       `json:"type"`
	TLS            bool                         `json:"tls"`
	Authentication *KafkaListenerAuthentication `json:"authentication,omitempty"`
}

// KafkaListenerAuthentication is a listener's authentication.
type KafkaListenerAuthentication struct {
	Type string `json:"type"`
}

// KafkaAuthorization is spec.kafka.authorization.
type KafkaAuthorization struct {
	Type       string   `json:"type"`
	SuperUsers []string `json:"superUsers,omitempty"`
}

// EntityOperatorSpec is spec.entityOperator.
type EntityOperatorSpec struct {
	TopicOperator *EntityOperatorChild `json:"topicOperator,omitempty"`
	UserOperator  *EntityOperatorChild `json:"userOperator,omitempty"`
}

// EntityOperatorChild is the topic or user operator's spec.
type EntityOperatorChild struct {
	WatchedNamespace string                       `json:"watchedNamespace,omitempty"`
	Resources        *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// KafkaNodePool is kafka.strimzi.io/v1beta2 KafkaNodePool.
type KafkaNodePool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              KafkaNodePoolSpec `json:"spec"`
}

// KafkaNodePoolSpec is a node pool's spec.
type KafkaNodePoolSpec struct {
	Replicas  int32                        `json:"replicas"`
	Roles     []string                     `json:"roles"`
	Storage   Storage                      `json:"storage"`
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// Storage is a node pool's storage: jbod of volumes, or one volume.
type Storage struct {
	Type        string            `json:"type"`
	Volumes     []StorageVolume   `json:"volumes,omitempty"`
	Size        resource.Quantity `json:"size,omitempty"`
	DeleteClaim bool              `json:"deleteClaim,omitempty"`
}

// StorageVolume is one volume of a jbod storage.
type StorageVolume struct {
	ID            *int32            `json:"id"`
	Type          string            `json:"type"`
	Size          resource.Quantity `json:"size,omitempty"`
	Class         string            `json:"class,omitempty"`
	DeleteClaim   bool              `json:"deleteClaim,omitempty"`
	KRaftMetadata string            `json:"kraftMetadata,omitempty"`
}

// KafkaUser is kafka.strimzi.io/v1beta2 KafkaUser.
type KafkaUser struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              KafkaUserSpec `json:"spec"`
}

// KafkaUserSpec is a user's spec.
type KafkaUserSpec struct {
	Authentication *KafkaUserAuthentication `json:"authentication,omitempty"`
	Authorization  *KafkaUserAuthorization  `json:"authorization,omitempty"`
}

// KafkaUserAuthentication is a user's authentication.
type KafkaUserAuthentication struct {
	Type string `json:"type"`
}

// KafkaUserAuthorization is a user's simple authorization.
type KafkaUserAuthorization struct {
	Type string    `json:"type"`
	ACLs []ACLRule `json:"acls"`
}

// ACLRule is one ACL of a user.
type ACLRule struct {
	Resource   ACLResource `json:"resource"`
	Operations []string    `json:"operations"`
	Host       string      `json:"host,omitempty"`
	Type       string      `json:"type,omitempty"` // allow (the default) or deny
}

// ACLResource is what an ACL applies to.
type ACLResource struct {
	Type        string `json:"type"`
	Name        string `json:"name,omitempty"`
	PatternType string `json:"patternType,omitempty"`
}

// The enumerations of the v1beta2 API for the fields above.
var (
	listenerTypes     = []string{"internal", "route", "loadbalancer", "nodeport", "ingress", "cluster-ip"}
	listenerAuthTypes = []string{"tls", "scram-sha-512", "oauth", "custom"}
	authorizerTypes   = []string{"simple", "opa", "keycloak", "custom"}
	nodeRoles         = []string{"controller", "broker"}
	storageTypes      = []string{"jbod", "ephemeral", "persistent-claim"}
	volumeTypes       = []string{"ephemeral", "persistent-claim"}
	userAuthTypes     = []string{"tls", "tls-external", "scram-sha-512"}
	aclResourceTypes  = []string{"topic", "group", "cluster", "transactionalId"}
	aclPatternTypes   = []string{"literal", "prefix"}
	aclOperations     = []string{"Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction",
		"AlterConfigs", "DescribeConfigs", "IdempotentWrite", "All"}
)

// decodeStrimzi decodes o strictly into its model type and checks the
// values of its enumerations and what each kind requires.
func decodeStrimzi(o Object) (any, error) {
	j, err := yaml.YAMLToJSON(o.YAML)
	if err != nil {
		return nil, err
	}
	var v any
	switch o.Kind {
	case "Kafka":
		v = new(Kafka)
	case "KafkaNodePool":
		v = new(KafkaNodePool)
	case "KafkaUser":
		v = new(KafkaUser)
	default:
		return nil, fmt.Errorf("%s %s is not in the Strimzi model (Kafka, KafkaNodePool, KafkaUser)", o.APIVersion, o.Kind)
	}
	strict, err := kjson.UnmarshalStrict(j, v)
	if err != nil {
		return nil, err
	}
	if len(strict) > 0 {
		return nil, fmt.Errorf("strict decoding: %w", errors.Join(strict...))
	}
	switch x := v.(type) {
	case *Kafka:
		return x, x.check()
	case *KafkaNodePool:
		return x, x.check()
	case *KafkaUser:
		return x, x.check()
	}
	return v, nil
}

func oneOf(field, v string, allowed []string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return fmt.Errorf("%s: %q is not one of %s", field, v, strings.Join(allowed, ", "))
}

func (k *Kafka) check() error {
	var errs []error
	// KRaft with node pools: both annotations, as Strimzi 0.4x requires.
	for _, a := range []string{"strimzi.io/node-pools", "strimzi.io/kraft"} {
		if k.Annotations[a] != "enabled" {
			errs = append(errs, fmt.Errorf("metadata.annotations[%s]: want \"enabled\" (a KRaft cluster of node pools)", a))
		}
	}
	s := k.Spec.Kafka
	if s.Version == "" {
		errs = append(errs, errors.New("spec.kafka.version: required (pin the Kafka version)"))
	}
	if len(s.Listeners) == 0 {
		errs = append(errs, errors.New("spec.kafka.listeners: at least one is required"))
	}
	names := map[string]bool{}
	for i, l := range s.Listeners {
		f := fmt.Sprintf("spec.kafka.listeners[%d]", i)
		if names[l.Name] || l.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: %q is empty or repeated", f, l.Name))
		}
		names[l.Name] = true
		if l.Port < 9092 || l.Port == 9404 || l.Port == 9999 {
			errs = append(errs, fmt.Errorf("%s.port: %d; Strimzi takes 9092 and up, except 9404 and 9999", f, l.Port))
		}
		errs = append(errs, oneOf(f+".type", l.Type, listenerTypes))
		if l.Authentication != nil {
			errs = append(errs, oneOf(f+".authentication.type", l.Authentication.Type, listenerAuthTypes))
		}
	}
	if s.Authorization != nil {
		errs = append(errs, oneOf("spec.kafka.authorization.type", s.Authorization.Type, authorizerTypes))
	}
	return errors.Join(errs...)
}

func (p *KafkaNodePool) check() error {
	var errs []error
	if p.Labels["strimzi.io/cluster"] == "" {
		errs = append(errs, errors.New("metadata.labels[strimzi.io/cluster]: required: the Kafka this pool belongs to"))
	}
	if p.Spec.Replicas < 1 {
		errs = append(errs, fmt.Errorf("spec.replicas: %d, want at least 1", p.Spec.Replicas))
	}
	if len(p.Spec.Roles) == 0 {
		errs = append(errs, errors.New("spec.roles: required (controller, broker or both)"))
	}
	for i, r := range p.Spec.Roles {
		errs = append(errs, oneOf(fmt.Sprintf("spec.roles[%d]", i), r, nodeRoles))
	}
	errs = append(errs, oneOf("spec.storage.type", p.Spec.Storage.Type, storageTypes))
	if p.Spec.Storage.Type == "jbod" && len(p.Spec.Storage.Volumes) == 0 {
		errs = append(errs, errors.New("spec.storage.volumes: a jbod storage needs at least one volume"))
	}
	for i, v := range p.Spec.Storage.Volumes {
		f := fmt.Sprintf("spec.storage.volumes[%d]", i)
		if v.ID == nil {
			errs = append(errs, fmt.Errorf("%s.id: required in a jbod storage", f))
		}
		errs = append(errs, oneOf(f+".type", v.Type, volumeTypes))
		if v.Type == "persistent-claim" && v.Size.IsZero() {
			errs = append(errs, fmt.Errorf("%s.size: required for a persistent-claim", f))
		}
		if v.KRaftMetadata != "" {
			errs = append(errs, oneOf(f+".kraftMetadata", v.KRaftMetadata, []string{"shared"}))
		}
	}
	return errors.Join(errs...)
}

func (u *KafkaUser) check() error {
	var errs []error
	if u.Labels["strimzi.io/cluster"] == "" {
		errs = append(errs, errors.New("metadata.labels[strimzi.io/cluster]: required: the Kafka whose User Operator manages this user"))
	}
	if a := u.Spec.Authentication; a != nil {
		errs = append(errs, oneOf("spec.authentication.type", a.Type, userAuthTypes))
	}
	if z := u.Spec.Authorization; z != nil {
		errs = append(errs, oneOf("spec.authorization.type", z.Type, []string{"simple"}))
		for i, acl := range z.ACLs {
			f := fmt.Sprintf("spec.authorization.acls[%d]", i)
			errs = append(errs, oneOf(f+".resource.type", acl.Resource.Type, aclResourceTypes))
			if acl.Resource.Type != "cluster" && acl.Resource.Name == "" {
				errs = append(errs, fmt.Errorf("%s.resource.name: required for a %s", f, acl.Resource.Type))
			}
			if acl.Resource.PatternType != "" {
				errs = append(errs, oneOf(f+".resource.patternType", acl.Resource.PatternType, aclPatternTypes))
			}
			if len(acl.Operations) == 0 {
				errs = append(errs, fmt.Errorf("%s.operations: at least one is required", f))
			}
			for j, op := range acl.Operations {
				errs = append(errs, oneOf(fmt.Sprintf("%s.operations[%d]", f, j), op, aclOperations))
			}
			if acl.Type != "" {
				errs = append(errs, oneOf(f+".type", acl.Type, []string{"allow", "deny"}))
			}
		}
	}
	return errors.Join(errs...)
}
