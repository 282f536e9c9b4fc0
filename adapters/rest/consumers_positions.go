package rest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// Assignments and positions of REST Proxy v2 consumer instances:
//
//   - GET .../assignments lists the partitions the instance reads: those
//     the group gave it (subscription) or those it was given by hand.
//   - POST .../assignments assigns partitions by hand, as the Java
//     consumer's assign: no group membership, offsets still committed to
//     the instance's group; exclusive with a subscription (409 40903).
//   - POST .../positions (offsets or timestamps), .../positions/beginning
//     and .../positions/end move where the next read starts, for
//     partitions the instance has now (409 40903 for others, as the Java
//     consumer's seek throws).
//
// franz-go's SetOffsets moves a group member's position only for
// partitions it has an uncommitted-offset entry for: those with a
// committed offset or with records polled. A member of a new group at
// auto.offset.reset latest that polled nothing would ignore a seek to the
// beginning. So the instance's group client resolves the reset offset of
// every partition it is assigned without a committed offset (resolveResets,
// its AdjustFetchOffsetsFn), which gives every assigned partition its
// entry. A hand-assigned instance reads with a direct client that is made
// anew at the new positions on a seek (a direct client starts consuming a
// partition only after its first metadata load, so SetOffsets right after
// an assignment could be lost).

// topicPartition names a partition in request and response bodies.
type topicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

func (tp topicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

func sortPartitions(tps []topicPartition) {
	slices.SortFunc(tps, func(a, b topicPartition) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
}

func illegalState(format string, args ...any) *apiError {
	return errorf(http.StatusConflict, CodeIllegalState, "Illegal state: "+format, args...)
}

// assignment returns the partitions the instance reads now.
func (cs *consumer) assignment() []topicPartition {
	out := []topicPartition{}
	if cs.manual != nil {
		for tp := range cs.manual {
			out = append(out, tp)
		}
	} else {
		cs.amu.Lock()
		for tp := range cs.assigned {
			out = append(out, tp)
		}
		cs.amu.Unlock()
	}
	sortPartitions(out)
	return out
}

// has reports whether the instance reads tp now.
func (cs *consumer) has(tp topicPartition) bool {
	if cs.manual != nil {
		_, ok := cs.manual[tp]
		return ok
	}
	cs.amu.Lock()
	defer cs.amu.Unlock()
	return cs.assigned[tp]
}

// groupHooks keep cs.assigned in step with the group's assignment and
// resolve reset offsets (see the comment at the top of the file). A
// partition counts as assigned once its offsets are resolved, not when the
// group hands it over: a seek before that would be lost, the offsets
// fetched for the assignment taking its place. (Between the function's
// return and franz-go taking up its result there is still a window of a
// few instructions; a seek that lands in it is lost.)
func (c *consumers) groupHooks(cs *consumer) []kgo.Opt {
	drop := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		cs.amu.Lock()
		defer cs.amu.Unlock()
		for t, ps := range m {
			for _, p := range ps {
				delete(cs.assigned, topicPartition{t, p})
			}
		}
	}
	return []kgo.Opt{
		kgo.OnPartitionsRevoked(drop),
		kgo.OnPartitionsLost(drop),
		kgo.AdjustFetchOffsetsFn(func(ctx context.Context, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
			offs, err := c.resolveResets(ctx, cs, offs)
			if err != nil {
				return nil, err
			}
			cs.amu.Lock()
			defer cs.amu.Unlock()
			if cs.assigned == nil {
				cs.assigned = map[topicPartition]bool{}
			}
			for t, ps := range offs {
				for p := range ps {
					cs.assigned[topicPartition{t, p}] = true
				}
			}
			return offs, nil
		}),
	}
}

// resolveResets replaces the reset offset of partitions without a
// committed offset by the offset it stands for now (start or end).
func (c *consumers) resolveResets(ctx context.Context, cs *consumer, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	var topics []string
	for t, ps := range offs {
		for _, o := range ps {
			if o.EpochOffset().Offset < 0 {
				topics = append(topics, t)
				break
			}
		}
	}
	if len(topics) == 0 {
		return offs, nil
	}
	listed, err := c.listResets(ctx, cs.reset, topics)
	if err != nil {
		return nil, err // ends the group session: the member rejoins and tries again
	}
	for t, ps := range offs {
		for p, o := range ps {
			if o.EpochOffset().Offset >= 0 {
				continue
			}
			if lo, ok := listed.Lookup(t, p); ok && lo.Err == nil {
				ps[p] = kgo.NewOffset().At(lo.Offset).WithEpoch(-1)
			}
		}
	}
	return offs, nil
}

// listResets lists the offsets auto.offset.reset stands for.
func (c *consumers) listResets(ctx context.Context, reset string, topics []string) (kadm.ListedOffsets, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.a.sys)
	if reset == "earliest" {
		return adm.ListStartOffsets(ctx, topics...)
	}
	return adm.ListEndOffsets(ctx, topics...)
}

func (c *consumers) handleAssignments(w http.ResponseWriter, r *http.Request) {
	cs := c.get(w, r)
	if cs == nil {
		return
	}
	defer cs.mu.Unlock()
	writeJSON(w, http.StatusOK, contentTypeV2, map[string]any{"partitions": cs.assignment()})
}

// partitionsBody reads {"partitions":[{"topic":..,"partition":..}]}.
func partitionsBody(body []byte) ([]topicPartition, error) {
	var req struct {
		Partitions []topicPartition `json:"partitions"`
	}
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if len(req.Partitions) == 0 {
		return nil, errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "Unprocessable entity: partitions must name at least one {\"topic\":..,\"partition\":..}.")
	}
	return req.Partitions, nil
}

// handleAssign serves POST .../assignments: the instance reads the given
// partitions, from the group's committed offsets or else where
// auto.offset.reset says; a later assignment replaces it.
func (c *consumers) handleAssign(w http.ResponseWriter, r *http.Request) {
	cs, body := c.getWithBody(w, r, 1<<20)
	if cs == nil {
		return
	}
	defer cs.mu.Unlock()
	tps, err := partitionsBody(body)
	if err == nil && cs.manual == nil && cs.cl != nil {
		err = illegalState("Subscription to topics, partitions and pattern are mutually exclusive: delete the subscription first.")
	}
	for _, tp := range tps {
		if err != nil {
			break
		}
		err = c.checkPartition(r, tp)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	pos, err := c.startPositions(ctx, cs, tps)
	if err != nil {
		writeError(w, err)
		return
	}
	c.commitRead(ctx, cs) // what the previous assignment handed out, as the Java consumer's auto-commit on reassign
	cs.uncommitted = nil
	noContent(w, c.readFrom(cs, pos))
}

// checkPartition refuses mesh topics, topics the principal may not
// consume, and partitions that do not exist.
func (c *consumers) checkPartition(r *http.Request, tp topicPartition) error {
	if strings.HasPrefix(tp.Topic, "_") {
		return errorf(http.StatusForbidden, CodeForbidden, "Topic %q belongs to the mesh, the registry or Kafka itself.", tp.Topic)
	}
	if err := c.a.authorize(r, ActionConsume, tp.Topic); err != nil {
		return err
	}
	n, err := c.a.prod.topics.partitions(r.Context(), tp.Topic)
	if err != nil {
		return err
	}
	if tp.Partition < 0 || tp.Partition >= n {
		return partitionNotFound(tp.Topic, tp.Partition)
	}
	return nil
}

// startPositions returns where a hand-assigned instance starts reading
// tps: the group's committed offsets, else auto.offset.reset's.
func (c *consumers) startPositions(ctx context.Context, cs *consumer, tps []topicPartition) (map[topicPartition]int64, error) {
	committed, err := c.committed(ctx, cs.group)
	if err != nil {
		return nil, err
	}
	pos := map[topicPartition]int64{}
	var unset []topicPartition
	for _, tp := range tps {
		if o, ok := committed.Lookup(tp.Topic, tp.Partition); ok && o.Err == nil && o.At >= 0 {
			pos[tp] = o.At
		} else {
			unset = append(unset, tp)
		}
	}
	if len(unset) == 0 {
		return pos, nil
	}
	listed, err := c.listResets(ctx, cs.reset, topicsOf(unset))
	return pos, offsetsOf(listed, err, unset, pos)
}

// readFrom makes the hand-assigned instance read pos: a new direct client
// at those offsets in place of the old one.
func (c *consumers) readFrom(cs *consumer, pos map[topicPartition]int64) error {
	parts := map[string]map[int32]kgo.Offset{}
	for tp, at := range pos {
		if parts[tp.Topic] == nil {
			parts[tp.Topic] = map[int32]kgo.Offset{}
		}
		parts[tp.Topic][tp.Partition] = kgo.NewOffset().At(at).WithEpoch(-1)
	}
	cl, err := kafkaclient.New(c.a.cfg.Kafka, "rest", c.a.cfg.Site, append([]kgo.Opt{kgo.ConsumePartitions(parts),
		kgo.FetchMaxWait(500 * time.Millisecond), kgo.ClientID("meshwork-rest-" + c.a.cfg.Site + "-" + cs.name)}, c.a.extra...)...)
	if err != nil {
		return err
	}
	if cs.cl != nil {
		cs.cl.Close()
	}
	cs.cl, cs.manual, cs.topics, cs.pattern = cl, pos, nil, ""
	return nil
}

// commitRead commits, for a hand-assigned instance with auto.commit.enable,
// the positions past what it handed out (the group client of a subscribed
// instance commits by itself). Errors are logged: the records are read
// again, as after any failed auto-commit.
func (c *consumers) commitRead(ctx context.Context, cs *consumer) {
	if cs.manual == nil || !cs.autoCommit || len(cs.uncommitted) == 0 {
		return
	}
	offs := map[topicPartition]int64{}
	for tp := range cs.uncommitted {
		if at, ok := cs.manual[tp]; ok {
			offs[tp] = at
		}
	}
	if err := c.commitDirect(ctx, cs, offs); err != nil {
		c.a.log.Warn("rest consumer: auto-commit", "group", cs.group, "instance", cs.name, "error", err)
		return
	}
	clear(cs.uncommitted)
}

// commitDirect commits offs (the next offsets to read) for the instance's
// group without group membership, as the Java consumer commits for
// assigned partitions.
func (c *consumers) commitDirect(ctx context.Context, cs *consumer, offs map[topicPartition]int64) error {
	var o kadm.Offsets
	for tp, at := range offs {
		o.Add(kadm.Offset{Topic: tp.Topic, Partition: tp.Partition, At: at, LeaderEpoch: -1})
	}
	resp, err := kadm.NewClient(c.a.sys).CommitOffsets(ctx, cs.group, o)
	if err != nil {
		return err
	}
	return resp.Error()
}

type seekTimestamp struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Timestamp time.Time `json:"timestamp"`
	Metadata  string    `json:"metadata,omitempty"`
}

// handleSeek serves POST .../positions: {"offsets":[{"topic","partition",
// "offset"}]} and/or {"timestamps":[{"topic","partition","timestamp"}]}
// (RFC 3339; the first record at or after it, or the end).
func (c *consumers) handleSeek(w http.ResponseWriter, r *http.Request) {
	cs, body := c.getWithBody(w, r, 1<<20)
	if cs == nil {
		return
	}
	defer cs.mu.Unlock()
	var req struct {
		Offsets    []offsetRef     `json:"offsets"`
		Timestamps []seekTimestamp `json:"timestamps"`
	}
	if err := decodeJSON(body, &req); err != nil {
		writeError(w, err)
		return
	}
	if len(req.Offsets)+len(req.Timestamps) == 0 {
		writeError(w, errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "Unprocessable entity: give offsets or timestamps to seek to."))
		return
	}
	to := map[topicPartition]int64{}
	for _, o := range req.Offsets {
		if o.Offset < 0 {
			writeError(w, errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "Unprocessable entity: offset %d of %s-%d is negative; use positions/beginning or positions/end.", o.Offset, o.Topic, o.Partition))
			return
		}
		to[topicPartition{o.Topic, o.Partition}] = o.Offset
	}
	byTime := map[int64][]topicPartition{}
	named := slices.Collect(maps.Keys(to))
	for _, ts := range req.Timestamps {
		tp := topicPartition{ts.Topic, ts.Partition}
		byTime[ts.Timestamp.UnixMilli()] = append(byTime[ts.Timestamp.UnixMilli()], tp)
		named = append(named, tp)
	}
	if err := cs.readsAll(named); err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.a.sys)
	for milli, tps := range byTime {
		listed, err := adm.ListOffsetsAfterMilli(ctx, milli, topicsOf(tps)...)
		if err := offsetsOf(listed, err, tps, to); err != nil {
			writeError(w, err)
			return
		}
	}
	noContent(w, c.seek(cs, to))
}

// handleSeekEdge serves POST .../positions/beginning and .../end.
func (c *consumers) handleSeekEdge(end bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cs, body := c.getWithBody(w, r, 1<<20)
		if cs == nil {
			return
		}
		defer cs.mu.Unlock()
		tps, err := partitionsBody(body)
		if err == nil {
			err = cs.readsAll(tps)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		reset := "earliest"
		if end {
			reset = "latest"
		}
		listed, err := c.listResets(ctx, reset, topicsOf(tps))
		to := map[topicPartition]int64{}
		if err := offsetsOf(listed, err, tps, to); err != nil {
			writeError(w, err)
			return
		}
		noContent(w, c.seek(cs, to))
	}
}

// noContent answers 204, or err.
func noContent(w http.ResponseWriter, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readsAll answers 409 unless the instance reads every partition of tps.
func (cs *consumer) readsAll(tps []topicPartition) error {
	if cs.cl == nil {
		return illegalState("the consumer instance has no subscription and no assignment; its positions move only for partitions it reads.")
	}
	for _, tp := range tps {
		if !cs.has(tp) {
			return illegalState("No current assignment for partition %s (GET .../assignments lists the partitions this instance reads; a new group member has them after its first read).", tp)
		}
	}
	return nil
}

// seek moves the instance's positions to to.
func (c *consumers) seek(cs *consumer, to map[topicPartition]int64) error {
	if cs.manual != nil {
		pos := maps.Clone(cs.manual)
		for tp, at := range to {
			pos[tp] = at
		}
		return c.readFrom(cs, pos)
	}
	cs.cl.SetOffsets(epochOffsets(to))
	return nil
}

// epochOffsets gives offsets in franz-go's form, without leader epochs.
func epochOffsets(offs map[topicPartition]int64) map[string]map[int32]kgo.EpochOffset {
	out := map[string]map[int32]kgo.EpochOffset{}
	for tp, at := range offs {
		if out[tp.Topic] == nil {
			out[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		out[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: at}
	}
	return out
}

// offsetsOf puts the listed offset of each of tps into to; listErr is the
// listing's own error.
func offsetsOf(listed kadm.ListedOffsets, listErr error, tps []topicPartition, to map[topicPartition]int64) error {
	if listErr != nil {
		return kafkaUnavailable(listErr)
	}
	for _, tp := range tps {
		lo, ok := listed.Lookup(tp.Topic, tp.Partition)
		if !ok {
			return kafkaUnavailable(fmt.Errorf("no offset listed for %s", tp))
		}
		if lo.Err != nil {
			return kafkaUnavailable(fmt.Errorf("listing the offsets of %s: %w", tp, lo.Err))
		}
		to[tp] = lo.Offset
	}
	return nil
}

func topicsOf(tps []topicPartition) []string {
	var out []string
	for _, tp := range tps {
		if !slices.Contains(out, tp.Topic) {
			out = append(out, tp.Topic)
		}
	}
	return out
}

// commitManual serves POST .../offsets for a hand-assigned instance: the
// offsets named (the next read starts after each, as for a subscribed
// instance), or without any, the positions of every partition it reads,
// as the Java consumer's commitSync.
func (c *consumers) commitManual(ctx context.Context, w http.ResponseWriter, cs *consumer, offs []offsetRef) {
	to := map[topicPartition]int64{}
	for _, o := range offs {
		to[topicPartition{o.Topic, o.Partition}] = o.Offset + 1
	}
	if len(offs) == 0 {
		maps.Copy(to, cs.manual)
	}
	if err := c.commitDirect(ctx, cs, to); err != nil {
		writeError(w, kafkaUnavailable(err))
		return
	}
	if len(offs) == 0 {
		clear(cs.uncommitted)
	}
	w.WriteHeader(http.StatusOK)
}

// committed returns the group's committed offsets; none for a group Kafka
// does not know yet.
func (c *consumers) committed(ctx context.Context, group string) (kadm.OffsetResponses, error) {
	committed, err := kadm.NewClient(c.a.sys).FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return kadm.OffsetResponses{}, nil
	}
	if err != nil {
		return nil, kafkaUnavailable(err)
	}
	return committed, nil
}
