package daemon

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// ConfigSchemaKeys names the fields inside lists and maps (the sample
// config's documentation is checked against it, issue 14), while the keys
// an environment variable can override stay whole lists and maps.
func TestConfigSchemaKeys(t *testing.T) {
	keys := ConfigSchemaKeys()
	for _, want := range []string{"party", "peers[].peer_id_file", "api.credentials[].token_env", "hsm.pkcs11.slot",
		"hsm.local.argon2.memory_kib", "policy.operators.*[].public_key", "policy.accounts[].child_path", "log.level"} {
		if !slices.Contains(keys, want) {
			t.Errorf("ConfigSchemaKeys lacks %s", want)
		}
	}
	env := configKeys(reflect.TypeOf(Config{}), "")
	for _, k := range env {
		if strings.ContainsAny(k, "[*") {
			t.Errorf("env key %s reaches inside a list or map", k)
		}
	}
	for _, want := range []string{"peers", "policy.operators", "policy.accounts", "sessions.sign_timeout"} {
		if !slices.Contains(env, want) {
			t.Errorf("env keys lack %s", want)
		}
	}
}
