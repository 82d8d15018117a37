package apiclient

import "testing"

func TestClientDialable(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:8101":      "127.0.0.1:8101",
		"[::]:8101":         "127.0.0.1:8101",
		"127.0.0.1:8101":    "127.0.0.1:8101",
		"10.1.2.3:8101":     "10.1.2.3:8101",
		"node.example:8101": "node.example:8101",
		"garbage":           "garbage",
	} {
		if got := Dialable(in); got != want {
			t.Errorf("Dialable(%q) = %q, want %q", in, got, want)
		}
	}
}
