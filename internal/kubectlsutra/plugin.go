package kubectlsutra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// RunPlugin runs `kubectl sutra ARGS`: the binary is sutractl installed on
// PATH as kubectl-sutra. It takes kubectl's connection flags (-n,
// --context, --kubeconfig, --server, --token, --request-timeout, ...) and
// reads the kubeconfig the way kubectl does (KUBECONFIG, ~/.kube/config, or
// the in-cluster account). On wrong usage it prints the command's usage to
// errOut; the caller prints the returned error and exits 1.
func RunPlugin(ctx context.Context, args []string, out, errOut io.Writer) error {
	o := &options{config: genericclioptions.NewConfigFlags(true)}
	return run(ctx, o, args, out, errOut)
}

// options is what every command shares: the connection flags and, in
// tests, a client and a clock that replace the real ones.
type options struct {
	config *genericclioptions.ConfigFlags
	// client, when set, is used instead of one built from config.
	client client.Client
	// now defaults to time.Now.
	now func() time.Time
	// pollInterval is how often promote --wait reads the cluster (250ms).
	pollInterval time.Duration
}

func (o *options) clock() time.Time {
	if o.now != nil {
		return o.now()
	}
	return time.Now()
}

// connect returns the client and the namespace of -n or the kubeconfig
// context.
func (o *options) connect() (client.Client, string, error) {
	ns, _, err := o.config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", err
	}
	if o.client != nil {
		return o.client, ns, nil
	}
	cfg, err := o.config.ToRESTConfig()
	if err != nil {
		return nil, "", err
	}
	scheme := runtime.NewScheme()
	if err := sutrav1.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", err
	}
	return c, ns, nil
}

// usageError is wrong usage (arguments, flags): the usage is printed with it.
type usageError struct{ error }

func usageErrorf(format string, a ...any) error {
	return usageError{fmt.Errorf(format, a...)}
}

func run(ctx context.Context, o *options, args []string, out, errOut io.Writer) error {
	root := newRootCommand(o)
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	cmd, err := root.ExecuteContextC(ctx)
	var ue usageError
	if errors.As(err, &ue) {
		printUsage(errOut, cmd)
	}
	return err
}

// printUsage is the short usage printed on wrong usage: the usage lines and
// where the flags are; --help prints them all.
func printUsage(w io.Writer, cmd *cobra.Command) {
	fmt.Fprintf(w, "Usage:\n  %s\n", cmd.UseLine())
	if cmd.HasAvailableSubCommands() {
		fmt.Fprintf(w, "  %s [command]\n", cmd.CommandPath())
	}
	fmt.Fprintf(w, "Run '%s --help' for the flags and examples.\n", cmd.CommandPath())
}

func newRootCommand(o *options) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-sutra",
		Short: "Inspect and operate SutraClusters",
		Long: "kubectl sutra reads SutraCluster objects and asks the Sutra operator for a switchover or a rolling restart.\n" +
			"It talks to the Kubernetes API only, with kubectl's connection flags.",
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl sutra"},
		// Errors are printed once, by the caller; usage only on wrong usage.
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		// Root takes the arguments so that an unknown command is a usage
		// error; the suggestions for it are cobra's.
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], "kubectl sutra")
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return usageError{errors.New(msg)}
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%s: %w", c.CommandPath(), err)}
	})
	o.config.AddFlags(root.PersistentFlags())
	root.AddCommand(newStatusCommand(o), newPromoteCommand(o), newRestartCommand(o), newFenceCommand(o))
	return root
}

// nameArgs accepts exactly the positional arguments named, for example
// NAME POD, and names the missing or extra ones otherwise.
func nameArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			missing := names[len(args):]
			verb := "is"
			if len(missing) > 1 {
				verb = "are"
			}
			return usageErrorf("%s: %s %s required", cmd.CommandPath(), strings.Join(missing, " and "), verb)
		case len(args) > len(names):
			return usageErrorf("%s: unexpected argument %q (takes %s)", cmd.CommandPath(), args[len(names)], strings.Join(names, " "))
		}
		return nil
	}
}
