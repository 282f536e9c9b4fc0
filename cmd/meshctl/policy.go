package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/meshwork/meshwork/policy"
)

// policyEnv names the policy file when --policy is not given.
const policyEnv = "MESHWORK_POLICY"

// defaultPolicy is where the dev mesh writes its policy.
var defaultPolicy = filepath.Join(".mesh", "policy.yaml")

// exitStatus ends meshctl with its code, having said what it had to say
// on stdout: policy check's "denied" is an answer, not a failure to
// report.
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newPolicyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Explain the security policy's decisions and the Kafka ACLs it implies",
		Long: `The policy commands read the mesh's policy file (--policy, else $` + policyEnv + `, else
` + defaultPolicy + ` where the dev mesh runs), the one every service reads.`,
		Args: cobra.NoArgs,
		RunE: groupRun,
	}
	var file string
	cmd.PersistentFlags().StringVar(&file, "policy", "", "the policy `file` (default: $"+policyEnv+", else "+defaultPolicy+")")
	load := func(cmd *cobra.Command) (*policy.Policy, error) {
		path, from := file, "--policy"
		if path == "" {
			path, from = os.Getenv(policyEnv), "$"+policyEnv
		}
		if path == "" {
			path, from = defaultPolicy, defaultPolicy
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				return nil, usagef(cmd.CommandPath(), "which policy? give --policy FILE or set $%s (no %s here)", policyEnv, defaultPolicy)
			}
		}
		p, err := policy.Load(path)
		if err != nil {
			return nil, &usageError{msg: fmt.Sprintf("%s: the policy (%s): %v", cmd.CommandPath(), from, err)}
		}
		return p, nil
	}

	check := &cobra.Command{
		Use:   "check PRINCIPAL ACTION RESOURCE",
		Short: "Explain whether PRINCIPAL may take ACTION on RESOURCE, and by which rule",
		Long: `check decides as the services do and says why: the rule that allowed it, the
deny rule that refused it, or that no rule grants it (deny by default).

ACTION is one of ` + fmt.Sprint(policy.Actions()) + `.
RESOURCE is topic:NAME, subject:NAME, group:NAME or mesh.

Exit status: 0 allowed, 1 denied, 2 for an error (a policy file that does not
parse, an unknown action).`,
		Example: `  meshctl policy check viewer write subject:orders-value
  meshctl policy check svc-rest produce topic:shop.order.created --policy deploy/policy.yaml -o json`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			who, action, resource := args[0], args[1], args[2]
			if err := policy.CheckQuestion(action, resource); err != nil {
				return usagef(cmd.CommandPath(), "%v", err)
			}
			p, err := load(cmd)
			if err != nil {
				return err
			}
			d := p.Decide(who, action, resource)
			res := struct {
				Principal   string `json:"principal"`
				Action      string `json:"action"`
				Resource    string `json:"resource"`
				Allowed     bool   `json:"allowed"`
				Rule        string `json:"rule,omitempty"`
				Denied      bool   `json:"denied_by_deny_rule,omitempty"`
				Explanation string `json:"explanation"`
			}{who, action, resource, d.Allowed, d.Rule, d.Denied, d.Explain()}
			err = a.render(res, func(w io.Writer) error {
				verb := "may"
				if !d.Allowed {
					verb = "may not"
				}
				_, err := fmt.Fprintf(w, "%s %s %s %s: %s\n", who, verb, action, resource, d.Explain())
				return err
			})
			if err == nil && !d.Allowed {
				return &exitStatus{1}
			}
			return err
		},
	}

	var cluster string
	acls := &cobra.Command{
		Use:   "kafka-acls",
		Short: "Print the Kafka ACLs the policy implies for each principal",
		Long: `kafka-acls prints the Kafka ACLs that make Kafka enforce what the policy says,
for each principal (User:<name>): produce is WRITE and DESCRIBE on the topics,
consume READ and DESCRIBE on them and READ on the rule's groups (every group
when it names none), describe is DESCRIBE; deny rules become DENY bindings;
and each service of the policy's services map gets what its code needs (the
replicator its transactional-id prefix, the registry its _schemas topic, the
adapters the _mesh. topics, ...). Kafka cannot hold every pattern the policy
can: notes say where a principal pattern was expanded to the principals the
policy names, or a topic pattern widened to its prefix.

Output (-o): table, kafka-acls.sh commands (reading $BOOTSTRAP and
$ADMIN_CONFIG); json or yaml, the bindings; strimzi, Strimzi KafkaUser
resources with their ACLs (--strimzi-cluster names the Kafka cluster).`,
		Example: `  meshctl policy kafka-acls --policy policy.yaml > acls.sh
  meshctl policy kafka-acls -o strimzi --strimzi-cluster east | kubectl apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := load(cmd)
			if err != nil {
				return err
			}
			out := p.KafkaACLs()
			switch a.output {
			case "strimzi":
				s, err := out.Strimzi(cluster)
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(a.out, s)
				return err
			case "json":
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			return a.render(out, func(w io.Writer) error {
				_, err := fmt.Fprint(w, out.Commands())
				return err
			})
		},
	}
	acls.Flags().StringVar(&cluster, "strimzi-cluster", "my-cluster", "with -o strimzi: the Kafka cluster's name (the strimzi.io/cluster label)")
	cmd.AddCommand(check, acls)
	return cmd
}
