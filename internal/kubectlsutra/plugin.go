package kubectlsutra

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

const pluginUsage = `usage: kubectl sutra status NAME [-n NAMESPACE] [--kubeconfig FILE] [--context NAME]

Prints a SutraCluster's replication table from its status.
`

// RunPlugin runs `kubectl sutra ARGS`: the binary is sutractl installed on
// PATH as kubectl-sutra. It reads the kubeconfig the way kubectl does
// (KUBECONFIG, ~/.kube/config, or the in-cluster account).
func RunPlugin(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 || args[0] != "status" {
		fmt.Fprint(errOut, pluginUsage)
		return errors.New("kubectl sutra: the only command is status")
	}
	fs := flag.NewFlagSet("kubectl sutra status", flag.ContinueOnError)
	fs.SetOutput(errOut)
	namespace := fs.String("n", "", "namespace (default: the kubeconfig context's)")
	fs.StringVar(namespace, "namespace", "", "namespace (default: the kubeconfig context's)")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file")
	kubeContext := fs.String("context", "", "kubeconfig context")
	// Accept NAME before or after the flags, as kubectl does.
	rest := args[1:]
	var name string
	if len(rest) > 0 && len(rest[0]) > 0 && rest[0][0] != '-' {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" {
		fmt.Fprint(errOut, pluginUsage)
		return errors.New("kubectl sutra status: NAME is required")
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: *kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return fmt.Errorf("kubectl sutra: %w", err)
	}
	ns := *namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil {
			return fmt.Errorf("kubectl sutra: %w", err)
		}
	}
	scheme := runtime.NewScheme()
	if err := sutrav1.AddToScheme(scheme); err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("kubectl sutra: %w", err)
	}
	return Status(ctx, c, ns, name, out)
}
