package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

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
	res, err := s.Roles.Write(ctx, ops)
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

// batch converts and writes the ops of one BatchWrite or stream request.
func (s *StorageServer) batch(ctx context.Context, pbOps []*storagepb.WriteOp) (engine.Result, error) {
	if n := len(pbOps); n > engine.MaxBatch {
		return engine.Result{}, toStatus(fmt.Errorf("%w: %d operations, at most %d", engine.ErrBatchTooLarge, n, engine.MaxBatch))
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
			return engine.Result{}, toStatus(fmt.Errorf("ops[%d]: %w", i, err))
		}
		ops = append(ops, op)
	}
	return s.write(ctx, ops)
}

// maxStreamInFlight bounds the requests of one WriteStream being written
// at once; the stream is not read further until one of them is answered.
const maxStreamInFlight = 1024

// WriteStream serves pipelined writes: every request is written on its own
// goroutine, so the requests in flight share group commits, and answered
// with its id once durable and applied (proto/storage.proto). The handler
// returns only after every result is sent or the stream has failed.
func (s *StorageServer) WriteStream(stream storagepb.StorageService_WriteStreamServer) error {
	ctx := stream.Context()
	slots := make(chan struct{}, maxStreamInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	var sendMu sync.Mutex
	var sendErr error
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			out := &storagepb.StreamWriteResult{Id: req.GetId()}
			if res, err := s.batch(ctx, req.GetOps()); err != nil {
				st := status.Convert(err)
				out.Code, out.Message = int32(st.Code()), st.Message()
			} else {
				out.FirstSequence, out.LastSequence = res.First, res.Last
			}
			sendMu.Lock()
			defer sendMu.Unlock()
			if sendErr == nil {
				sendErr = stream.Send(out)
			}
		}()
	}
}

// GetConcept reads one concept.
func (s *StorageServer) GetConcept(_ context.Context, req *storagepb.GetConceptRequest) (*storagepb.Concept, error) {
	id, err := idFromPB(req.GetId(), "id")
	if err != nil {
		return nil, toStatus(err)
	}
	c, ok := s.Engine.Store().Get(id)
	if !ok {
		return nil, toStatus(fmt.Errorf("concept %s: %w", id, store.ErrNotFound))
	}
	return conceptToPB(&c), nil
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
