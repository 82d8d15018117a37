package node

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
// loopback configs, and the test harness's tool paths. TRIAD_TEST_* are
// the tests' own. Variables a config names in an *_env key (passphrase_env,
// token_env, pin_env, rpc_pass_env, …) are allowed for that config.
var knownEnv = map[string]bool{
	"TRIAD_TOKEN": true, "TRIAD_TLS_CERT": true, "TRIAD_TLS_KEY": true, "TRIAD_PASSPHRASE": true,
	"TRIAD_TOOLS_DIR": true, "TRIAD_REQUIRE_TOOLS": true, "TRIAD_BTCD_BIN": true, "TRIAD_VAULT_BIN": true, "TRIAD_GETH_BIN": true,
	"TRIAD_SOFTHSM_MODULE": true, "TRIAD_SOFTHSM_VERSION": true,
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

// configKeys lists every config key of t, dotted, from mapstructure tags.
// Lists, maps and durations are single keys.
func configKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		key := prefix + tag
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
			out = append(out, configKeys(f.Type, key+".")...)
			continue
		}
		out = append(out, key)
	}
	return out
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
