/*
Copyright 2026 The Sutra Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package pb holds generated protobuf and gRPC code only; nothing in this
// tree is written by hand except this file.
//
//   - replicationpb: proto/replication.proto, the leader/replica WAL stream
//     and replication status (package sutra.replication).
//   - storagepb: proto/storage.proto, the storage node's client API
//     (package sutra.storage).
//
// The .proto files are the wire contract and document it. Regenerate with
// hack/gen-proto.sh after editing them; CI can run hack/gen-proto.sh --check.
// Domain code does not import these packages: internal/grpcapi converts
// between them and the domain types, and the engine packages (internal/wal,
// internal/store, internal/engine) are kept free of them by .golangci.yml.
package pb
