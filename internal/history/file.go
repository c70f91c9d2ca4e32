package history

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	header = "sutra-history 1"
	// FileName is the history's file name in a data directory.
	FileName = "history"
	// maxEntries bounds a decoded history; a file claiming more is corrupt.
	maxEntries = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode renders h in the file format of doc.go.
func (h History) Encode() []byte {
	var b bytes.Buffer
	b.WriteString(header + "\n")
	for _, e := range h {
		fmt.Fprintf(&b, "%d %d %016x\n", e.Epoch, e.Start, e.ID)
	}
	fmt.Fprintf(&b, "crc32c %08x\n", crc32.Checksum(b.Bytes(), castagnoli))
	return b.Bytes()
}

// Checksum is the CRC-32C of h's encoding: equal on two nodes exactly when
// their histories are.
func (h History) Checksum() uint32 { return crc32.Checksum(h.Encode(), castagnoli) }

// Decode parses the file format of doc.go and validates the result.
func Decode(data []byte) (History, error) {
	body, last, ok := cutLastLine(data)
	if !ok {
		return nil, fmt.Errorf("%w: no checksum line", ErrCorrupt)
	}
	sum, ok := strings.CutPrefix(last, "crc32c ")
	if !ok || len(sum) != 8 {
		return nil, fmt.Errorf("%w: bad checksum line %q", ErrCorrupt, truncate(last))
	}
	want, err := strconv.ParseUint(sum, 16, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: bad checksum line %q", ErrCorrupt, truncate(last))
	}
	if got := crc32.Checksum(body, castagnoli); uint32(want) != got {
		return nil, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, want, got)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	if !sc.Scan() || sc.Text() != header {
		return nil, fmt.Errorf("%w: missing header %q", ErrCorrupt, header)
	}
	h := History{}
	for sc.Scan() {
		if len(h) >= maxEntries {
			return nil, fmt.Errorf("%w: more than %d entries", ErrCorrupt, maxEntries)
		}
		e, err := parseEntry(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrCorrupt, len(h)+2, err)
		}
		h = append(h, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return h, h.Validate()
}

func parseEntry(line string) (Entry, error) {
	f := strings.Split(line, " ")
	if len(f) != 3 || len(f[2]) != 16 {
		return Entry{}, fmt.Errorf("want \"<epoch> <start> <16 hex digits>\", got %q", truncate(line))
	}
	epoch, err1 := strconv.ParseUint(f[0], 10, 64)
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	id, err3 := strconv.ParseUint(f[2], 16, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Entry{}, err
	}
	return Entry{Epoch: epoch, Start: start, ID: id}, nil
}

// cutLastLine splits data before its final "\n"-terminated line.
func cutLastLine(data []byte) (body []byte, last string, ok bool) {
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, "", false
	}
	i := bytes.LastIndexByte(data[:len(data)-1], '\n')
	if i < 0 {
		return nil, "", false
	}
	return data[:i+1], string(data[i+1 : len(data)-1]), true
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Load reads the history file in dir. A missing file is reported with
// ok false and no error.
func Load(dir string) (h History, ok bool, err error) {
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("history: %w", err)
	}
	h, err = Decode(data)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	return h, true, nil
}

// Save replaces the history file in dir atomically and durably.
func Save(dir string, h History) error {
	if err := h.Validate(); err != nil {
		return err
	}
	path := filepath.Join(dir, FileName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	_, werr := f.Write(h.Encode())
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("history: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("history: sync %s: %w", dir, err)
	}
	return nil
}
