// Package p2ptest is what tests of the transport and of the layers above
// it share: libp2p hosts on loopback that pin each other (NewHosts), the
// conformance test every p2p.Transport passes (Conformance), and hostile
// traffic (Flood, FloodHeld, HostileDialer). Test-only.
package p2ptest
