// Package traceindex is the control plane's index of the mesh's trace
// hops: it follows the _mesh.trace topic of its own site (where the
// replicators bring every site's hops) and answers, from an embedded
// on-disk store (Pebble), where one event went and how long each step
// took, and which events crossed a topic lately.
//
// Keys (keys.go) are grouped in time buckets (Config.Bucket wide, by the
// hop's time), so that retention drops whole buckets with one range
// deletion each, and a lookup seeks once per bucket of the retention
// window:
//
//	e|bucket|event id|0|time|action|record partition|record offset|index  -> the hop
//	t|bucket|trace id|0|event id                                          -> ""
//	p|bucket|topic|0|time|event id                                        -> trace id
//	o|partition                                                           -> next offset of _mesh.trace
//
// The consumed offsets are written in the same batch as the hops they
// carried, so the index is exactly the topic up to them; an index whose
// directory is lost starts again from the topic's start and is rebuilt
// (the topic keeps its hops as long as the index does). Each control
// plane replica keeps its own index: partitions are assigned directly,
// with no consumer group.
//
// Handler serves GET /v1/events/{id}/trace and GET /v1/traces (see
// OpenAPI); Index.Event, Index.Trace and Index.Recent are the same
// questions in Go.
package traceindex
