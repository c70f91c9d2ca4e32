// Command imagebuild writes an OCI image of static files on an empty base as
// a docker-save tarball, which `ctr images import`, `docker load` and
// `kind load image-archive` accept. It needs neither Docker nor a registry.
//
//	imagebuild -o out.tar -t sutra-operator:e2e -entrypoint /manager \
//	    -user 65532:65532 bin/manager:/manager
//
// Each argument is SRC:DST; files are stored with mode 0755 and owner 0:0.
// -mkdir DIR:UID:GID adds an empty directory owned by UID:GID (repeatable).
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var (
		out        = flag.String("o", "", "output tarball")
		tag        = flag.String("t", "", "image reference, e.g. sutra-operator:e2e")
		entrypoint = flag.String("entrypoint", "", "comma-separated entrypoint")
		user       = flag.String("user", "", "user[:group] the container runs as")
		envs, dirs multi
	)
	flag.Var(&envs, "env", "KEY=VALUE (repeatable)")
	flag.Var(&dirs, "mkdir", "DIR:UID:GID empty directory (repeatable)")
	flag.Parse()
	if err := run(*out, *tag, *entrypoint, *user, envs, dirs, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run(out, tag, entrypoint, user string, envs, dirs, files []string) error {
	if out == "" || tag == "" || len(files) == 0 {
		return fmt.Errorf("usage: imagebuild -o OUT -t REF [flags] SRC:DST...")
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	layerTar, err := buildLayer(dirs, files)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cfg.Config.User = user
	cfg.Config.Env = append([]string{"PATH=/"}, envs...)
	if entrypoint != "" {
		cfg.Config.Entrypoint = strings.Split(entrypoint, ",")
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// buildLayer returns an uncompressed tar of the directories and files, with
// parent directories, in a stable order.
func buildLayer(dirs, files []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	seen := map[string]bool{}
	parents := func(p string) error {
		var chain []string
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			chain = append(chain, d)
		}
		sort.Strings(chain)
		for _, d := range chain {
			if seen[d] {
				continue
			}
			seen[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return err
			}
		}
		return nil
	}
	for _, d := range dirs {
		parts := strings.Split(d, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("-mkdir %q: want DIR:UID:GID", d)
		}
		uid, err1 := strconv.Atoi(parts[1])
		gid, err2 := strconv.Atoi(parts[2])
		if err1 != nil || err2 != nil || !path.IsAbs(parts[0]) {
			return nil, fmt.Errorf("-mkdir %q: want /DIR:UID:GID", d)
		}
		if err := parents(parts[0]); err != nil {
			return nil, err
		}
		seen[parts[0]] = true
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(parts[0], "/") + "/", Mode: 0o755, Uid: uid, Gid: gid, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		src, dst, ok := strings.Cut(f, ":")
		if !ok || !path.IsAbs(dst) {
			return nil, fmt.Errorf("file %q: want SRC:/DST", f)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		if err := parents(dst); err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(dst, "/"), Mode: 0o755, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
