package rest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// allowEntry is one allow_targets entry: a network or a host name.
type allowEntry struct {
	net  *net.IPNet
	host string
}

// allowlist guards webhook targets against server-side request forgery:
// a subscription may not make the adapter call its own host, its
// neighbours on link-local addresses, or a cloud's metadata service,
// unless the operator allowed that network or host. The check runs when a
// subscription is made (on the name's addresses now) and again on every
// connection (on the address dialled), so a name that later resolves
// elsewhere is caught too.
type allowlist struct {
	entries []allowEntry
}

func newAllowlist(entries []string) *allowlist {
	a := &allowlist{}
	for _, e := range entries {
		if ae, err := parseAllow(e); err == nil {
			a.entries = append(a.entries, ae)
		}
	}
	return a
}

// metadataAddrs are the cloud metadata services that are not link-local.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
}

// refused says why ip may not be a webhook target by default ("" if it
// may).
func refused(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return "a link-local address (cloud metadata services live there)"
	case ip.IsUnspecified():
		return "the unspecified address"
	case ip.IsMulticast():
		return "a multicast address"
	}
	for _, m := range metadataAddrs {
		if ip == m {
			return "a cloud metadata address"
		}
	}
	return ""
}

func (a *allowlist) allowedIP(ip netip.Addr) bool {
	for _, e := range a.entries {
		if e.net != nil && e.net.Contains(net.IP(ip.Unmap().AsSlice())) {
			return true
		}
	}
	return false
}

func (a *allowlist) allowedHost(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, e := range a.entries {
		if e.host != "" && e.host == host {
			return true
		}
	}
	return false
}

// checkURL checks a target now, resolving its host.
func (a *allowlist) checkURL(u *url.URL) error {
	host := u.Hostname()
	if a.allowedHost(host) {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return a.checkIP(ip)
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return fmt.Errorf("%s is a loopback name: webhooks may not target it unless webhooks.allow_targets lists it", host)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil // not resolvable now: checked again when dialling
	}
	for _, ip := range addrs {
		if err := a.checkIP(ip); err != nil {
			return fmt.Errorf("%s resolves to %w", host, err)
		}
	}
	return nil
}

func (a *allowlist) checkIP(ip netip.Addr) error {
	if why := refused(ip); why != "" && !a.allowedIP(ip) {
		return fmt.Errorf("%s, %s: webhooks may not target it unless webhooks.allow_targets lists it", ip, why)
	}
	return nil
}

// control is a net.Dialer Control: it refuses connections to addresses
// the allowlist does not allow, whatever name led there.
func (a *allowlist) control(host string) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		if a.allowedHost(host) {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("webhook target %s: %w", address, err)
		}
		return a.checkIP(ap.Addr())
	}
}

// syscallRawConn is the raw connection a dialer's Control sees.
type syscallRawConn = syscall.RawConn
