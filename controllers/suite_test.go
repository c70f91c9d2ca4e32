package controllers

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
	"github.com/sutra/sutra-operator/internal/statusclient"
)

// The suite runs the reconciler in a real manager against envtest's
// kube-apiserver and etcd. Get the binaries with:
//
//	export KUBEBUILDER_ASSETS="$(hack/envtest.sh)"
//
// envtest runs no controllers of its own and no kubelet: pods never run
// and deleted owners leave their children (no garbage collector). Tests
// set pod readiness themselves, run storage nodes as local processes that
// PodEndpoint routes to, and assert owner references.

var (
	cfg       *rest.Config
	k8sClient client.Client
	testEnv   *envtest.Environment
	ctx       context.Context
	cancel    context.CancelFunc

	// clockOffset moves the reconciler's clock forward (nanoseconds), so
	// certificate renewal can be tested without waiting months.
	clockOffset atomic.Int64

	// endpoints routes calls to a cluster's instance (key
	// "CLUSTER/INSTANCE") to a local address; instances without an entry
	// get a closed port.
	endpoints sync.Map
)

// testOperator is where the suite's operator claims to run; the
// clusters' NetworkPolicies admit it.
var testOperator = resources.Operator{
	Namespace: "sutra-system",
	PodLabels: map[string]string{"app.kubernetes.io/name": "sutra-operator", "app.kubernetes.io/component": "manager"},
}

// closedEndpoint refuses connections at once, so clusters without a storage
// node get LeaderUnreachable quickly.
const closedEndpoint = "127.0.0.1:1"

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "SutraCluster controller suite")
}

// assetsDir finds envtest binaries: $KUBEBUILDER_ASSETS, else the store
// hack/envtest.sh fills.
func assetsDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".local", "share")
	}
	d := filepath.Join(base, "kubebuilder-envtest", "k8s", "1.37.2-linux-amd64")
	if _, err := os.Stat(filepath.Join(d, "kube-apiserver")); err == nil {
		return d
	}
	return ""
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	assets := assetsDir()
	if assets == "" {
		msg := "no envtest binaries: run `export KUBEBUILDER_ASSETS=\"$(hack/envtest.sh)\"` first"
		if os.Getenv("SUTRA_ENVTEST_REQUIRED") != "" {
			Fail(msg)
		}
		Skip(msg)
	}

	ctx, cancel = context.WithCancel(context.Background())
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	Expect(sutrav1.AddToScheme(scheme.Scheme)).To(Succeed())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	Expect(err).NotTo(HaveOccurred())

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme.Scheme,
		Cache:   cache.Options{ByObject: CacheByObject()},
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	Expect(err).NotTo(HaveOccurred())
	Expect((&SutraClusterReconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Recorder:    mgr.GetEventRecorder("sutra-operator"),
		Replication: &statusclient.Client{Timeout: time.Second},
		Admin:       &statusclient.Client{Timeout: time.Second},
		Operator:    testOperator,
		Now:         func() time.Time { return time.Now().Add(time.Duration(clockOffset.Load())) },
		PodEndpoint: func(c *sutrav1.SutraCluster, instance string) string {
			if ep, ok := endpoints.Load(c.Name + "/" + instance); ok {
				return ep.(string)
			}
			return closedEndpoint
		},
	}).SetupWithManager(mgr)).To(Succeed())

	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})
