package serde

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The Confluent wire format: one magic byte, the schema id as a 4-byte
// big-endian integer, then the Avro binary encoding of the value.
const (
	// MagicByte is the first byte of every framed payload.
	MagicByte byte = 0
	// HeaderSize is the length of the magic byte and schema id.
	HeaderSize = 5
)

// Header returns the five-byte header naming schema id: MagicByte followed by
// id in big-endian. For example, id 7 gives 00 00 00 00 07. It panics if id
// does not fit in 32 bits, which no registry hands out.
func Header(id int) []byte {
	return AppendHeader(make([]byte, 0, HeaderSize), id)
}

// AppendHeader appends the header naming schema id to dst and returns the
// extended slice; see Header.
func AppendHeader(dst []byte, id int) []byte {
	if id < 0 || id > math.MaxUint32 {
		panic(fmt.Sprintf("serde: schema id %d does not fit in the wire format's 4 bytes", id))
	}
	dst = append(dst, MagicByte)
	return binary.BigEndian.AppendUint32(dst, uint32(id))
}

// ParseHeader splits a framed payload into its schema id and the Avro bytes
// that follow (which alias b). It returns an error matching ErrNotFramed when
// b is shorter than HeaderSize or does not start with MagicByte; the error
// names what it found instead.
func ParseHeader(b []byte) (id int, payload []byte, err error) {
	if len(b) < HeaderSize {
		return 0, nil, fmt.Errorf("serde: %w: %d bytes, need at least %d (magic byte 0 and a 4-byte schema id)",
			ErrNotFramed, len(b), HeaderSize)
	}
	if b[0] != MagicByte {
		return 0, nil, fmt.Errorf("serde: %w: first byte is %s, want magic byte 0x00", ErrNotFramed, describeByte(b[0]))
	}
	return int(binary.BigEndian.Uint32(b[1:HeaderSize])), b[HeaderSize:], nil
}

// describeByte shows a byte in hex and, when printable, as a character: a
// payload starting with 0x7b ('{') is JSON that was never serialized.
func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("0x%02x (%q)", c, rune(c))
	}
	return fmt.Sprintf("0x%02x", c)
}
