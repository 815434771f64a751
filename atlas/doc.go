// Package atlas is the client for the Atlas REST API: account upsert, list
// and retrieve, the classification of their errors into how a caller must
// react, Retry-After parsing, and the Throttle that every worker using one
// token shares. It has no notion of sources, mappings or checkpoints.
//
// Where the Atlas API reference is silent (response envelopes, the paging
// cursor's name, rate-limit headers), a NOTE at that spot states what it
// assumes and accepts the common variants.
package atlas
