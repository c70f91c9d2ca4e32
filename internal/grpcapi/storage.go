package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
	"github.com/sutra/sutra-operator/internal/store"
)

// StorageServer implements sutra.storage.StorageService. Replicas serve
// reads and refuse writes with FAILED_PRECONDITION naming the leader.
type StorageServer struct {
	storagepb.UnimplementedStorageServiceServer
	Roles  Roles
	Engine *engine.Engine
}

var _ storagepb.StorageServiceServer = (*StorageServer)(nil)

// Neighbour listing bounds.
const (
	defaultNeighbors = 100
	maxNeighbors     = 10_000
)

func (s *StorageServer) write(ctx context.Context, ops []store.Op) (engine.Result, error) {
	wait, err := s.Roles.Begin(ctx, ops)
	if err != nil {
		return engine.Result{}, toStatus(err)
	}
	res, err := wait()
	return res, toStatus(err)
}

// writeOne writes a single converted operation.
func (s *StorageServer) writeOne(ctx context.Context, op store.Op, convErr error) (*storagepb.WriteResponse, error) {
	if convErr != nil {
		return nil, toStatus(convErr)
	}
	res, err := s.write(ctx, []store.Op{op})
	if err != nil {
		return nil, err
	}
	return &storagepb.WriteResponse{Sequence: res.Last}, nil
}

// WriteConcept creates or replaces a concept.
func (s *StorageServer) WriteConcept(ctx context.Context, req *storagepb.WriteConceptRequest) (*storagepb.WriteResponse, error) {
	op, err := conceptFromPB(req.GetConcept())
	return s.writeOne(ctx, op, err)
}

// DeleteConcept removes a concept and its associations.
func (s *StorageServer) DeleteConcept(ctx context.Context, req *storagepb.DeleteConceptRequest) (*storagepb.WriteResponse, error) {
	op, err := deleteFromPB(req.GetId(), "id")
	return s.writeOne(ctx, op, err)
}

// WriteAssociation creates or updates an association between two concepts.
func (s *StorageServer) WriteAssociation(ctx context.Context, req *storagepb.WriteAssociationRequest) (*storagepb.WriteResponse, error) {
	op, err := associationFromPB(req.GetAssociation())
	return s.writeOne(ctx, op, err)
}

// BatchWrite validates every operation, then writes them all in one group.
func (s *StorageServer) BatchWrite(ctx context.Context, req *storagepb.BatchWriteRequest) (*storagepb.BatchWriteResponse, error) {
	res, err := s.batch(ctx, req.GetOps())
	if err != nil {
		return nil, err
	}
	return &storagepb.BatchWriteResponse{FirstSequence: res.First, LastSequence: res.Last}, nil
}

// batch converts and writes the ops of one BatchWrite request.
func (s *StorageServer) batch(ctx context.Context, pbOps []*storagepb.WriteOp) (engine.Result, error) {
	ops, err := opsFromPB(pbOps)
	if err != nil {
		return engine.Result{}, err
	}
	return s.write(ctx, ops)
}

// opsFromPB converts the ops of a BatchWrite or stream request.
func opsFromPB(pbOps []*storagepb.WriteOp) ([]store.Op, error) {
	if n := len(pbOps); n > engine.MaxBatch {
		return nil, toStatus(fmt.Errorf("%w: %d operations, at most %d", engine.ErrBatchTooLarge, n, engine.MaxBatch))
	}
	ops := make([]store.Op, 0, len(pbOps))
	for i, w := range pbOps {
		var op store.Op
		var err error
		switch k := w.GetOp().(type) {
		case *storagepb.WriteOp_WriteConcept:
			op, err = conceptFromPB(k.WriteConcept)
		case *storagepb.WriteOp_WriteAssociation:
			op, err = associationFromPB(k.WriteAssociation)
		case *storagepb.WriteOp_DeleteConcept:
			op, err = deleteFromPB(k.DeleteConcept, "delete_concept")
		default:
			err = fieldErr("op", store.ErrBadOp)
		}
		if err != nil {
			return nil, toStatus(fmt.Errorf("ops[%d]: %w", i, err))
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// maxStreamInFlight bounds the requests of one WriteStream being written
// at once; the stream is not read further until one of them is answered.
const maxStreamInFlight = 1024

// queuedWrite is one WriteStream request on its way to its result: the
// wait of its queued write, or why it was not queued.
type queuedWrite struct {
	id   uint64
	wait func() (engine.Result, error)
	err  error
}

func (q queuedWrite) result() *storagepb.StreamWriteResult {
	out := &storagepb.StreamWriteResult{Id: q.id}
	err := q.err
	if err == nil {
		var res engine.Result
		res, err = q.wait()
		out.FirstSequence, out.LastSequence = res.First, res.Last
	}
	if err != nil {
		st := status.Convert(toStatus(err))
		out.Code, out.Message = int32(st.Code()), st.Message()
		out.FirstSequence, out.LastSequence = 0, 0
	}
	return out
}

// WriteStream serves pipelined writes (proto/storage.proto) in two
// stages of one goroutine each, with no goroutine per request: this one
// reads requests and queues their writes in the engine, so the requests in
// flight share group commits; a replier waits for each write in queue
// order (the order they become durable in) and answers it with its id. A
// queued write holds nothing a role change or fence waits for (they settle
// the engine themselves), so a client slow to read its results delays only
// its own stream. The handler returns only after every result is sent or
// the stream has failed.
func (s *StorageServer) WriteStream(stream storagepb.StorageService_WriteStreamServer) error {
	ctx := stream.Context()
	slots := make(chan struct{}, maxStreamInFlight) // held from a request's arrival to its answer
	queued := make(chan queuedWrite, maxStreamInFlight)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		var err error
		for q := range queued {
			out := q.result() // every wait is called, even after the stream failed
			if err == nil {
				err = stream.Send(out)
			}
			<-slots
		}
	}()
	defer func() { close(queued); <-sent }()
	for {
		req, done, err := next(stream.Recv)
		if done {
			return err
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		q := queuedWrite{id: req.GetId()}
		var ops []store.Op
		if ops, q.err = opsFromPB(req.GetOps()); q.err == nil {
			q.wait, q.err = s.Roles.Begin(ctx, ops)
		}
		queued <- q
	}
}

// next receives a stream's next request; done when the client has ended
// the stream (err nil) or the stream failed (err set).
func next[T any](recv func() (T, error)) (req T, done bool, err error) {
	req, err = recv()
	if errors.Is(err, io.EOF) {
		return req, true, nil
	}
	return req, err != nil, err
}

// GetConcept reads one concept.
func (s *StorageServer) GetConcept(_ context.Context, req *storagepb.GetConceptRequest) (*storagepb.Concept, error) {
	return s.getConcept(req.GetId(), "id")
}

func (s *StorageServer) getConcept(pbID []byte, field string) (*storagepb.Concept, error) {
	id, err := idFromPB(pbID, field)
	if err != nil {
		return nil, toStatus(err)
	}
	c, ok := s.Engine.Store().Get(id)
	if !ok {
		return nil, toStatus(fmt.Errorf("concept %s: %w", id, store.ErrNotFound))
	}
	return conceptToPB(&c), nil
}

// ReadStream serves pipelined reads (proto/storage.proto) on the stream's
// own goroutine: each request is read, answered and sent before the next
// one is received, so results go out in request order and a client that
// stops reading its results stops the node reading its requests.
func (s *StorageServer) ReadStream(stream storagepb.StorageService_ReadStreamServer) error {
	for {
		req, done, err := next(stream.Recv)
		if done {
			return err
		}
		out := &storagepb.StreamReadResult{Id: req.GetId(), AppliedSequence: s.Engine.AppliedSeq()}
		if out.Concept, err = s.getConcept(req.GetConceptId(), "concept_id"); err != nil {
			st := status.Convert(err)
			out.Code, out.Message = int32(st.Code()), st.Message()
		}
		if err := stream.Send(out); err != nil {
			return err
		}
	}
}

// GetNeighbors lists a concept's outgoing associations.
func (s *StorageServer) GetNeighbors(_ context.Context, req *storagepb.GetNeighborsRequest) (*storagepb.GetNeighborsResponse, error) {
	id, err := idFromPB(req.GetId(), "id")
	if err != nil {
		return nil, toStatus(err)
	}
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = defaultNeighbors
	}
	limit = min(limit, maxNeighbors)
	resp := &storagepb.GetNeighborsResponse{}
	for _, a := range s.Engine.Store().Neighbors(id, limit) {
		resp.Associations = append(resp.Associations, associationToPB(&a))
	}
	return resp, nil
}

// GetStats reports counts, the applied sequence and the state digest.
func (s *StorageServer) GetStats(context.Context, *storagepb.GetStatsRequest) (*storagepb.Stats, error) {
	st, info := s.Engine.Store(), s.Roles.Info()
	stats := st.Stats()
	return &storagepb.Stats{ConceptCount: uint64(stats.ConceptCount), AssociationCount: uint64(stats.AssociationCount),
		AppliedSequence: s.Engine.AppliedSeq(), Digest: st.Digest().String(), Role: info.Role, NodeId: info.ID,
		Epoch: info.Epoch, ResidentBytes: residentBytes()}, nil
}

// residentBytes reads the process's resident set size from /proc.
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}
