package interest

import (
	"strings"
)

// Key returns the lease's record key in _mesh.interest:
//
//	<site>/<kind>/<source id>/topic:<topic>
//	<site>/<kind>/<source id>/pattern:<pattern>
//
// kind is the source kind in lower case (consumer_group, adapter_egress,
// webhook, declared). In the source id and the pattern, '%', '/' and
// control characters are percent-encoded (%25, %2F, ...), so '/' only ever
// separates fields and the key names exactly one (site, kind, source id,
// topic or pattern); sites and topic names cannot contain them. For example:
//
//	east/consumer_group/billing/topic:shop.order.created
//	west/declared/ops%2Fnightly/pattern:shop\..*
//
// The key starts with the site because _mesh.interest may also hold leases
// copied from other sites; a tombstone (a record with this key and no
// value) removes the lease.
func (l Lease) Key() string {
	var b strings.Builder
	b.WriteString(l.Site)
	b.WriteByte('/')
	b.WriteString(strings.ToLower(l.Kind.String()))
	b.WriteByte('/')
	escapeTo(&b, l.SourceID)
	if l.Pattern {
		b.WriteString("/pattern:")
	} else {
		b.WriteString("/topic:")
	}
	escapeTo(&b, l.Topic)
	return b.String()
}

// escapeTo writes s with '%', '/' and ASCII control characters
// percent-encoded; everything else, UTF-8 included, stays readable.
func escapeTo(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' || c == '/' || c < 0x20 || c == 0x7f {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
}
