package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestHelpGoesToStdoutAndExitsZero(t *testing.T) {
	for _, h := range []string{"-h", "--help"} {
		var out, errOut bytes.Buffer
		code := run([]string{h}, func(string) string { return "" }, &out, &errOut)
		if code != 0 || !strings.Contains(out.String(), "-listen") || strings.Contains(out.String(), "help requested") || errOut.Len() > 0 {
			t.Errorf("storage-server %s: exit %d\nstdout:\n%s\nstderr:\n%s", h, code, out.String(), errOut.String())
		}
	}
}

func TestBadConfigurationExitsTwoWithOneLine(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"--role", "leader", "--wal-segment-bytes", "100", "--insecure"}, func(string) string { return "" }, &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "SUTRA_WAL_SEGMENT_BYTES must be at least 4096") || out.Len() > 0 {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
}
