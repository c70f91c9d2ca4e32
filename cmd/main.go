// Command manager runs the Sutra operator: the SutraCluster controller in a
// controller-runtime manager with leader election, health and readiness
// probes and a Prometheus metrics endpoint.
package main

import (
	"flag"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/controllers"
	"github.com/sutra/sutra-operator/internal/resources"
	"github.com/sutra/sutra-operator/internal/statusclient"
	// +kubebuilder:scaffold:imports
)

var scheme = runtime.NewScheme()

// defaultOperatorPodLabels are the labels the chart's and config/manager's
// Deployments give the operator's pods (the chart passes its own with
// --operator-pod-labels).
const defaultOperatorPodLabels = "app.kubernetes.io/name=sutra-operator,app.kubernetes.io/component=manager"

// serviceAccountNamespace is where a pod finds its own namespace when the
// downward API does not set POD_NAMESPACE.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(sutrav1.AddToScheme(scheme))
	// +kubebuilder:scaffold:scheme
}

func main() {
	var (
		metricsAddr    string
		probeAddr      string
		leaderElect    bool
		leaderElectNS  string
		watchNamespace string
		statusTimeout  time.Duration
		operatorNS     string
		operatorLabels string
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus /metrics endpoint; 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader among operator replicas, so only one reconciles.")
	flag.StringVar(&leaderElectNS, "leader-election-namespace", "",
		"Namespace of the leader election Lease; empty means the operator pod's own namespace (required outside a cluster).")
	flag.StringVar(&watchNamespace, "watch-namespace", os.Getenv("WATCH_NAMESPACE"),
		"Only watch SutraClusters (and their children) in this namespace; empty watches all. Defaults to $WATCH_NAMESPACE.")
	flag.DurationVar(&statusTimeout, "status-timeout", statusclient.DefaultTimeout, "Timeout of one replication status call to a leader.")
	flag.StringVar(&operatorNS, "operator-namespace", os.Getenv("POD_NAMESPACE"),
		"Namespace of the operator's pods, which every cluster's NetworkPolicy admits to the gRPC port. Defaults to $POD_NAMESPACE, "+
			"else the service account's namespace; empty (outside a cluster) leaves the operator out of the policies.")
	flag.StringVar(&operatorLabels, "operator-pod-labels", defaultOperatorPodLabels,
		"Labels of the operator's pods (k=v,k=v), which every cluster's NetworkPolicy admits to the gRPC port.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	podLabels, err := labels.ConvertSelectorToLabelsMap(operatorLabels)
	if err != nil {
		log.Error(err, "invalid --operator-pod-labels", "value", operatorLabels)
		os.Exit(1)
	}
	if operatorNS == "" {
		if b, err := os.ReadFile(serviceAccountNamespace); err == nil {
			operatorNS = strings.TrimSpace(string(b))
		}
	}
	if operatorNS == "" {
		log.Info("operator namespace unknown: NetworkPolicies will not admit the operator's pods (set --operator-namespace or POD_NAMESPACE)")
	}

	cacheOpts := cache.Options{ByObject: controllers.CacheByObject()}
	if watchNamespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{watchNamespace: {}}
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cacheOpts,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "sutra-operator.storage.sutra.io",
		LeaderElectionNamespace: leaderElectNS,
		// The process exits right after losing leadership, so stepping down
		// early is safe and lets a new leader start sooner.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		log.Error(err, "unable to create manager")
		os.Exit(1)
	}

	if err := (&controllers.SutraClusterReconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Recorder:    mgr.GetEventRecorder("sutra-operator"),
		Replication: &statusclient.Client{Timeout: statusTimeout},
		Admin:       &statusclient.Client{Timeout: statusclient.DefaultAdminTimeout},
		Operator:    resources.Operator{Namespace: operatorNS, PodLabels: podLabels},
	}).SetupWithManager(mgr); err != nil {
		log.Error(err, "unable to create controller", "controller", "SutraCluster")
		os.Exit(1)
	}
	// +kubebuilder:scaffold:builder

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "unable to set up ready check")
		os.Exit(1)
	}

	log.Info("starting manager", "watchNamespace", watchNamespace, "leaderElection", leaderElect,
		"operatorNamespace", operatorNS, "operatorPodLabels", podLabels)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "problem running manager")
		os.Exit(1)
	}
}
