package p2p

// Gater is h's connection gater, for the external tests.
func Gater(h *Host) gater { return gater{h} }
