//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// Settings, from the environment (see docs/e2e.md).
var (
	operatorImage = envOr("E2E_OPERATOR_IMAGE", "sutra-operator:e2e")
	// The upgrade test's starting point; the suite builds it with
	// hack/previous-images.sh when these are unset.
	previousOperatorImage = os.Getenv("E2E_PREVIOUS_OPERATOR_IMAGE")
	previousChart         = os.Getenv("E2E_PREVIOUS_CHART")
	storageImage          = envOr("E2E_STORAGE_IMAGE", "sutra-storage-server:e2e")
	artifactsDir          = envOr("E2E_ARTIFACTS", filepath.Join(os.TempDir(), "sutra-e2e-artifacts"))
	// E2E_PARTITION: "host" adds iptables rules on this machine (the offline
	// cluster's node), "kind" inside the kind node container, "skip" skips the
	// partition test. Default: host when running as root with iptables, else skip.
	partitionMode = envOr("E2E_PARTITION", "")
)

const (
	operatorNamespace = "sutra-e2e-system"
	releaseName       = "sutra-e2e"
)

var (
	k8s       client.Client
	repoRoot  string
	testNS    string
	kubectl   string
	helm      string
	pluginDir string // holds kubectl-sutra, prepended to PATH for kubectl
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyPollingInterval(time.Second)
	SetDefaultEventuallyTimeout(3 * time.Minute)
	RunSpecs(t, "Sutra e2e suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	Expect(os.Getenv("KUBECONFIG")).NotTo(BeEmpty(), "set KUBECONFIG to the cluster under test (make cluster-up prints one)")
	wd, err := os.Getwd()
	Expect(err).NotTo(HaveOccurred())
	repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))

	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(sutrav1.AddToScheme(scheme)).To(Succeed())
	cfg, err := config.GetConfig()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	kubectl = findKubectl()
	By("building kubectl-sutra (sutractl) for `kubectl sutra`")
	pluginDir = GinkgoT().TempDir()
	run(ctx, "go", "build", "-o", filepath.Join(pluginDir, "kubectl-sutra"), "./cmd/sutractl")
	Expect(os.Setenv("PATH", pluginDir+string(os.PathListSeparator)+os.Getenv("PATH"))).To(Succeed())

	By("installing helm (hack/tools.sh helm)")
	helm = strings.TrimSpace(run(ctx, "hack/tools.sh", "helm"))

	if partitionMode == "" {
		partitionMode = "skip"
		if _, err := exec.LookPath("iptables"); err == nil && os.Geteuid() == 0 && clusterProvider() == "offline" {
			partitionMode = "host"
		} else if clusterProvider() == "kind" {
			partitionMode = "kind"
		}
	}

	if previousOperatorImage == "" {
		By("building the previous operator version for the upgrade test (hack/previous-images.sh)")
		// stdout's last two lines (run also returns the script's log lines).
		out := strings.Split(strings.TrimSpace(run(ctx, "hack/previous-images.sh")), "\n")
		Expect(len(out)).To(BeNumerically(">=", 2))
		previousOperatorImage, previousChart = out[len(out)-2], out[len(out)-1]
	}

	By("installing the operator chart with " + operatorImage)
	installOperator(ctx, "charts/sutra-operator", operatorImage)

	testNS = fmt.Sprintf("sutra-e2e-%d", time.Now().Unix()%100000)
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}})).To(Succeed())
}, NodeTimeout(10*time.Minute))

var _ = AfterSuite(func(ctx SpecContext) {
	if testNS == "" {
		return
	}
	if os.Getenv("E2E_KEEP") != "" {
		GinkgoWriter.Printf("E2E_KEEP set: leaving namespace %s and release %s\n", testNS, releaseName)
		return
	}
	_ = k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}})
	// The release is normally uninstalled by the last spec; make sure.
	_, _ = runErr(ctx, helm, "uninstall", releaseName, "--namespace", operatorNamespace, "--wait", "--ignore-not-found")
	_ = k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})
}, NodeTimeout(5*time.Minute))

// On failure, save what a person needs to see why.
var _ = ReportAfterEach(func(ctx SpecContext, report SpecReport) {
	if !report.Failed() || k8s == nil {
		return
	}
	saveArtifacts(ctx, report)
})

// clusterProvider is what hack/cluster-up.sh recorded: offline, kind, external
// or "" when the cluster was not made by it.
func clusterProvider() string {
	home, _ := os.UserHomeDir()
	dir := envOr("SUTRA_CLUSTER_DIR", filepath.Join(envOr("XDG_CACHE_HOME", filepath.Join(home, ".cache")), "sutra", "cluster"))
	b, err := os.ReadFile(filepath.Join(dir, "provider"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func findKubectl() string {
	if k := os.Getenv("KUBECTL"); k != "" {
		return k
	}
	home, _ := os.UserHomeDir()
	cached := filepath.Join(envOr("XDG_CACHE_HOME", filepath.Join(home, ".cache")), "sutra", "kube", "v1.37.2", "bin", "kubectl")
	if _, err := os.Stat(cached); err == nil {
		return cached
	}
	p, err := exec.LookPath("kubectl")
	Expect(err).NotTo(HaveOccurred(), "kubectl not found: set KUBECTL or put it on PATH")
	return p
}

// run runs a command in the repository root and fails the spec on error.
func run(ctx context.Context, name string, args ...string) string {
	out, err := runErr(ctx, name, args...)
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "%s %s:\n%s", name, strings.Join(args, " "), out)
	return out
}

func runErr(ctx context.Context, name string, args ...string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, name, args...)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func kc(ctx context.Context, args ...string) string {
	return run(ctx, kubectl, args...)
}

// installOperator installs or upgrades the release to chart with image.
func installOperator(ctx context.Context, chart, image string) {
	GinkgoHelper()
	repo, tag, _ := strings.Cut(image, ":")
	run(ctx, helm, "upgrade", "--install", releaseName, chart,
		"--namespace", operatorNamespace, "--create-namespace", "--wait", "--timeout", "3m",
		"--set", "image.repository="+repo, "--set", "image.tag="+tag, "--set", "image.pullPolicy=IfNotPresent",
		"--set", "extraArgs={--zap-log-level=debug}")
}
