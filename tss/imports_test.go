package tss

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoNetworkImports keeps tss/ free of network code. Its own imports
// may not include any net package; its transitive dependencies may not
// include a transport (libp2p, multiaddr, gRPC, Vault). tss-lib's logger
// and btcd's wire package link the standard net package themselves, which
// is why the standard library is checked on direct imports only.
func TestNoNetworkImports(t *testing.T) {
	direct, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, imp := range strings.Fields(string(direct)) {
		if imp == "net" || strings.HasPrefix(imp, "net/") {
			t.Errorf("tss imports %s", imp)
		}
	}
	deps, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(deps)) {
		for _, b := range []string{"github.com/libp2p/", "github.com/multiformats/", "google.golang.org/grpc", "github.com/hashicorp/vault"} {
			if strings.HasPrefix(dep, b) {
				t.Errorf("tss depends on transport package %s", dep)
			}
		}
	}
}
