package devmesh

import (
	"fmt"
	"strconv"
	"strings"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
)

// sessionStore is mochi's bolt storage hook with its in-flight messages
// loaded whole. The hook stores an in-flight message under
// "IFM_<client>:<packet id>" but not the packet id in the message, so the
// messages it loads after a restart all have packet id 0, and mochi fails
// to resend them ("protocol violation: missing packet id") and drops the
// client's connection, again on every reconnection. The id is read back
// from the key.
type sessionStore struct{ *bolt.Hook }

func (s sessionStore) StoredInflightMessages() ([]storage.Message, error) {
	ms, err := s.Hook.StoredInflightMessages()
	if err != nil {
		return nil, err
	}
	for i := range ms {
		if ms[i].PacketID != 0 {
			continue
		}
		id, err := strconv.ParseUint(ms[i].ID[strings.LastIndexByte(ms[i].ID, ':')+1:], 10, 16)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("in-flight message %q: no packet id in its key", ms[i].ID)
		}
		ms[i].PacketID = uint16(id)
	}
	return ms, nil
}

// Provides is the bolt hook's events but OnSysInfoTick. Storing the
// broker's $SYS counters every tick serves no one here, and mochi's Close
// stops the hooks (the store's database handle set to nil) without waiting
// for its event loop, which may be in that very call: a data race at every
// stop that the tick happens to meet.
func (s sessionStore) Provides(b byte) bool {
	return b != mochi.OnSysInfoTick && s.Hook.Provides(b)
}
