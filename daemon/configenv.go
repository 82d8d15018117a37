package daemon

import (
	"reflect"
	"sort"
	"strings"
	"time"
)

// envPrefix starts every environment override (TRIAD_<SECTION>_<KEY>).
const envPrefix = "TRIAD_"

// knownEnv are the TRIAD_ variables Triad reads that are not config keys:
// the CLI's credentials, the conventional passphrase variable of the
// loopback configs, the test harness's tool paths and `triad node run`'s
// CPU profile file (TRIAD_CPU_PROFILE, for benchmarks). TRIAD_TEST_* are
// the tests' own. Variables a config names in an *_env key (passphrase_env,
// token_env, pin_env, rpc_pass_env, …) are allowed for that config.
var knownEnv = map[string]bool{
	"TRIAD_TOKEN": true, "TRIAD_TLS_CERT": true, "TRIAD_TLS_KEY": true, "TRIAD_PASSPHRASE": true,
	"TRIAD_TOOLS_DIR": true, "TRIAD_REQUIRE_TOOLS": true, "TRIAD_BTCD_BIN": true, "TRIAD_VAULT_BIN": true, "TRIAD_GETH_BIN": true,
	"TRIAD_SOFTHSM_MODULE": true, "TRIAD_SOFTHSM_VERSION": true, "TRIAD_CPU_PROFILE": true,
}

// checkEnv refuses a TRIAD_ variable in environ that is no config key, no
// variable c names in an *_env key and none Triad reads otherwise, as the
// config refuses unknown keys: a misspelt override (TRIAD_SESSIONS_SIGN_TIMOUT)
// would otherwise be ignored in silence. The error names the variable and
// the nearest valid key.
func checkEnv(c *Config, environ []string) error {
	keys := configKeys(reflect.TypeOf(Config{}), "")
	valid := map[string]string{} // env name -> config key
	for _, k := range keys {
		valid[envName(k)] = k
	}
	named := map[string]bool{}
	secretEnvNames(reflect.ValueOf(*c), named)
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || strings.HasPrefix(name, "TRIAD_TEST_") {
			continue
		}
		if _, ok := valid[name]; ok || knownEnv[name] || named[name] {
			continue
		}
		unknown = append(unknown, name)
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	name := unknown[0]
	near := nearest(name, valid)
	return cfgErr(name, "environment variable is no config key (did you mean %s, for %s?) and no variable this config names "+
		"in an *_env key; unset it, or name it in the config if it holds a secret", near, valid[near])
}

// envName is the environment override of a config key.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// configKeys lists every config key of t that an environment variable can
// override, dotted: lists and maps are single keys (schemaKeys without
// what is inside them), and so are durations.
func configKeys(t reflect.Type, prefix string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range schemaKeys(t, prefix) {
		if i := strings.IndexAny(k, "[*"); i >= 0 {
			k = strings.TrimSuffix(k[:i], ".")
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// ConfigSchemaKeys lists every key the config loader accepts, dotted, as
// the config structs' mapstructure tags define them: the fields of a list
// of records are "list[].field" and a map's keys, which are data, are "*"
// (policy.operators.*[].public_key). configs/sample.yaml must document
// exactly these (internal/readmetest checks it).
func ConfigSchemaKeys() []string { return schemaKeys(reflect.TypeOf(Config{}), "") }

// schemaKeys walks t's mapstructure-tagged fields; time.Duration and
// time.Time are values, not records.
func schemaKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if opts == "squash" && f.Type.Kind() == reflect.Struct {
			out = append(out, schemaKeys(f.Type, prefix)...) // a section's keys at this level
			continue
		}
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		out = append(out, valueKeys(f.Type, prefix+tag)...)
	}
	return out
}

// valueKeys are the keys under key, whose value has type t.
func valueKeys(t reflect.Type, key string) []string {
	switch t.Kind() {
	case reflect.Struct:
		if t != reflect.TypeOf(time.Time{}) {
			return schemaKeys(t, key+".")
		}
	case reflect.Slice, reflect.Array:
		if e := t.Elem(); e.Kind() == reflect.Struct || e.Kind() == reflect.Map {
			return valueKeys(e, key+"[]")
		}
	case reflect.Map:
		return valueKeys(t.Elem(), key+".*")
	}
	return []string{key}
}

// secretEnvNames collects the values of every *_env key in v (secret
// variables the operator chose), lists of structs included.
func secretEnvNames(v reflect.Value, into map[string]bool) {
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			if f.Type.Kind() == reflect.String && strings.HasSuffix(tag, "_env") {
				if s := v.Field(i).String(); s != "" {
					into[s] = true
				}
				continue
			}
			secretEnvNames(v.Field(i), into)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			secretEnvNames(v.Index(i), into)
		}
	}
}

// nearest is the valid name closest to name by edit distance.
func nearest(name string, valid map[string]string) string {
	best, bestD := "", -1
	for v := range valid {
		if d := editDistance(name, v); bestD < 0 || d < bestD || d == bestD && v < best {
			best, bestD = v, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
