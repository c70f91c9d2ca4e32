package store

// Concept is one node of the graph as seen by callers. Values returned by
// the store are copies: the caller owns Content and Embedding and may keep or
// modify them.
type Concept struct {
	ID      ConceptID
	Content []byte // nil when empty
	// Embedding is optional and nil when absent. An empty non-nil slice is
	// treated as absent and comes back as nil.
	Embedding  []float32
	Strength   float32
	Confidence float32
	Created    int64 // unix nanoseconds, Op.Time of the first write
	Updated    int64 // unix nanoseconds, Op.Time of the latest write
}

// AssocType is an application-defined association kind. The store gives the
// values no meaning beyond being part of an association's key.
type AssocType uint32

// Association is a directed, typed edge between two existing concepts. Its
// key is (Source, Target, Type); writing the same key again replaces
// Strength.
type Association struct {
	Source   ConceptID
	Target   ConceptID
	Type     AssocType
	Strength float32
}
