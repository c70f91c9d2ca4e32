package sutractl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

// streamWriter sends writes on one WriteStream (proto/storage.proto) for
// any number of goroutines: each Write sends a request tagged with a fresh
// id and waits for the result with that id, so a stream carries as many
// writes in flight as there are callers, without a unary call each.
type streamWriter struct {
	stream storagepb.StorageService_WriteStreamClient
	cancel context.CancelFunc
	sendMu sync.Mutex // one Send at a time, as gRPC requires

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan *storagepb.StreamWriteResult
	err     error // why the stream ended; set once
}

func newStreamWriter(ctx context.Context, c storagepb.StorageServiceClient) (*streamWriter, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.WriteStream(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	w := &streamWriter{stream: stream, cancel: cancel, waiting: map[uint64]chan *storagepb.StreamWriteResult{}}
	go w.receive()
	return w, nil
}

// receive hands each result to its caller until the stream ends, then
// fails every write still waiting.
func (w *streamWriter) receive() {
	for {
		r, err := w.stream.Recv()
		w.mu.Lock()
		if err != nil {
			if w.err == nil {
				w.err = err
			}
			for id, ch := range w.waiting {
				close(ch)
				delete(w.waiting, id)
			}
			w.mu.Unlock()
			return
		}
		ch := w.waiting[r.GetId()]
		delete(w.waiting, r.GetId())
		w.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// Write sends ops as one write and waits for its result; a write the
// leader refused comes back as the status error a unary call returns.
func (w *streamWriter) Write(ops []*storagepb.WriteOp) (*storagepb.StreamWriteResult, error) {
	ch := make(chan *storagepb.StreamWriteResult, 1)
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return nil, err
	}
	w.next++
	id := w.next
	w.waiting[id] = ch
	w.mu.Unlock()
	w.sendMu.Lock()
	err := w.stream.Send(&storagepb.StreamWriteRequest{Id: id, Ops: ops})
	w.sendMu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) {
		// The result, if any, never comes: receive fails the rest.
		w.mu.Lock()
		delete(w.waiting, id)
		w.mu.Unlock()
		return nil, err
	}
	// On io.EOF the node has ended the stream: receive gets its status
	// and fails this write with it.
	r, ok := <-ch
	if !ok {
		w.mu.Lock()
		defer w.mu.Unlock()
		return nil, w.err
	}
	if c := codes.Code(r.GetCode()); c != codes.OK {
		return r, status.Error(c, r.GetMessage())
	}
	return r, nil
}

// Close ends the stream; call it once no Write is waiting.
func (w *streamWriter) Close() error {
	w.sendMu.Lock()
	err := w.stream.CloseSend()
	w.sendMu.Unlock()
	w.cancel()
	return err
}

// streamReader reads concepts on one ReadStream (proto/storage.proto), one
// read at a time: the node answers in request order, so each Read sends a
// request and receives its result, without a unary call each.
type streamReader struct {
	mu     sync.Mutex
	stream storagepb.StorageService_ReadStreamClient
	cancel context.CancelFunc
	next   uint64
}

func newStreamReader(ctx context.Context, c storagepb.StorageServiceClient) (*streamReader, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.ReadStream(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	return &streamReader{stream: stream, cancel: cancel}, nil
}

// Read returns the concept with id, or the status error GetConcept
// returns; an error of the stream itself ends the reader.
func (r *streamReader) Read(id []byte) (*storagepb.StreamReadResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	if err := r.stream.Send(&storagepb.StreamReadRequest{Id: r.next, ConceptId: id}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	// After io.EOF from Send (the node ended the stream), Recv returns
	// the stream's status.
	res, err := r.stream.Recv()
	if err != nil {
		return nil, err
	}
	if res.GetId() != r.next {
		return nil, fmt.Errorf("sutractl: read stream answered %d, want %d", res.GetId(), r.next)
	}
	if c := codes.Code(res.GetCode()); c != codes.OK {
		return res, status.Error(c, res.GetMessage())
	}
	return res, nil
}

// Close ends the stream.
func (r *streamReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.stream.CloseSend()
	r.cancel()
	return err
}
