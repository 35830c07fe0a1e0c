// render - a small Helm-compatible chart renderer used only by the tests
// (there is no helm binary here). It loads Chart.yaml and values.yaml,
// merges the -f values files the way Helm does (maps merge recursively, a
// null removes a key), executes every template with text/template plus the
// sprig functions and Helm's include/tpl/required/toYaml/fromYaml/toJson/
// fromJson/lookup, splits the output into documents and parses each one
// strictly (duplicate keys are errors). It prints one JSON object:
// {"values": merged values, "manifests": [{"source", "object"}], "crds": [...]}.
// A template error (including `fail`) exits 1 with the message on stderr.
//
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go build (Debian's golang,
// golang-github-masterminds-sprig-dev, golang-k8s-sigs-yaml-dev).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

type apiVersions []string

// Has answers .Capabilities.APIVersions.Has like Helm: "group/version" or
// "group/version/Kind".
func (a apiVersions) Has(s string) bool {
	for _, v := range a {
		if v == s || strings.HasPrefix(s, v+"/") {
			return true
		}
	}
	return false
}

func readYAMLMap(path string) (map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.UnmarshalStrict(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return m, nil
}

// merge overrides dst with src: maps recursively, other values replace,
// a null in src deletes the key (Helm's coalescing).
func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, sv := range src {
		if sv == nil {
			delete(dst, k)
			continue
		}
		sm, sok := sv.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			dst[k] = merge(dm, sm)
		} else {
			dst[k] = sv
		}
	}
	return dst
}

func toYAML(v interface{}) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func toJSON(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

type manifest struct {
	Source string      `json:"source"`
	Object interface{} `json:"object"`
}

// parseDocs splits a rendered file into YAML documents and parses each one
// strictly; documents holding only comments and blank lines are skipped.
func parseDocs(source, text string) ([]manifest, error) {
	var out []manifest
	for i, part := range docSep.Split(text, -1) {
		empty := true
		for _, l := range strings.Split(part, "\n") {
			t := strings.TrimSpace(l)
			if t != "" && !strings.HasPrefix(t, "#") {
				empty = false
				break
			}
		}
		if empty {
			continue
		}
		j, err := yaml.YAMLToJSONStrict([]byte(part))
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %v\n%s", source, i, err, part)
		}
		var obj interface{}
		if err := json.Unmarshal(j, &obj); err != nil {
			return nil, fmt.Errorf("%s: document %d: %v", source, i, err)
		}
		if _, ok := obj.(map[string]interface{}); !ok {
			return nil, fmt.Errorf("%s: document %d is not a mapping", source, i)
		}
		out = append(out, manifest{source, obj})
	}
	return out, nil
}

func main() {
	var files valueFiles
	name := flag.String("name", "tether", "release name")
	ns := flag.String("namespace", "default", "release namespace")
	apis := flag.String("api-versions", "monitoring.coreos.com/v1", "extra API versions the cluster offers (comma separated)")
	flag.Var(&files, "f", "values file (repeatable)")
	docs := flag.String("yaml-docs", "", "print the documents of this YAML file as a JSON array and exit")
	flag.Parse()
	if *docs != "" {
		b, err := os.ReadFile(*docs)
		if err == nil {
			var ms []manifest
			if ms, err = parseDocs(*docs, string(b)); err == nil {
				objs := []interface{}{}
				for _, m := range ms {
					objs = append(objs, m.Object)
				}
				err = json.NewEncoder(os.Stdout).Encode(objs)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "render:", err)
			os.Exit(1)
		}
		return
	}
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: render [-f values.yaml]... [-name N] [-namespace NS] CHART_DIR")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *name, *ns, *apis, files); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(dir, relName, relNS, apis string, files []string) error {
	chartMeta, err := readYAMLMap(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return err
	}
	values, err := readYAMLMap(filepath.Join(dir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		o, err := readYAMLMap(f)
		if err != nil {
			return err
		}
		values = merge(values, o)
	}
	chart := map[string]interface{}{}
	for k, v := range chartMeta {
		chart[strings.ToUpper(k[:1])+k[1:]] = v
	}
	versions := apiVersions{"v1", "apps/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1",
		"apiextensions.k8s.io/v1"}
	for _, a := range strings.Split(apis, ",") {
		if a != "" {
			versions = append(versions, a)
		}
	}
	top := map[string]interface{}{
		"Values": values,
		"Chart":  chart,
		"Release": map[string]interface{}{"Name": relName, "Namespace": relNS, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1},
		"Capabilities": map[string]interface{}{
			"APIVersions": versions,
			"KubeVersion": map[string]interface{}{"Version": "v1.30.0", "Major": "1", "Minor": "30",
				"GitVersion": "v1.30.0"},
		},
		"Files": map[string]interface{}{},
	}

	// every file under templates/, named as Helm names them
	var paths []string
	root := filepath.Join(dir, "templates")
	err = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	chartName, _ := chartMeta["name"].(string)
	t := template.New("gotpl").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	includes := 0
	funcs["include"] = func(name string, data interface{}) (string, error) {
		includes++
		if includes > 1000 {
			return "", errors.New("include: recursion too deep")
		}
		defer func() { includes-- }()
		var b bytes.Buffer
		err := t.ExecuteTemplate(&b, name, data)
		return b.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		c, err := t.Clone()
		if err != nil {
			return "", err
		}
		n, err := c.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var b bytes.Buffer
		err = n.Execute(&b, data)
		return strings.ReplaceAll(b.String(), "<no value>", ""), err
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["toJson"] = toJSON
	funcs["fromJson"] = fromJSON
	funcs["lookup"] = func(string, string, string, string) map[string]interface{} {
		return map[string]interface{}{}
	}
	t.Funcs(funcs)
	names := map[string]string{}
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		name := chartName + "/" + filepath.ToSlash(rel)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if _, err := t.New(name).Parse(string(b)); err != nil {
			return err
		}
		names[name] = p
	}
	out := struct {
		Values    map[string]interface{} `json:"values"`
		Manifests []manifest             `json:"manifests"`
		CRDs      []manifest             `json:"crds"`
	}{Values: values, Manifests: []manifest{}, CRDs: []manifest{}}
	var keys []string
	for n := range names {
		keys = append(keys, n)
	}
	sort.Strings(keys)
	for _, name := range keys {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "_") || strings.HasSuffix(base, ".txt") {
			continue
		}
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"}
		var b bytes.Buffer
		if err := t.ExecuteTemplate(&b, name, data); err != nil {
			return err
		}
		docs, err := parseDocs(name, strings.ReplaceAll(b.String(), "<no value>", ""))
		if err != nil {
			return err
		}
		out.Manifests = append(out.Manifests, docs...)
	}
	crdFiles, _ := filepath.Glob(filepath.Join(dir, "crds", "*.yaml"))
	sort.Strings(crdFiles)
	for _, p := range crdFiles {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		docs, err := parseDocs(chartName+"/"+filepath.ToSlash(rel), string(b))
		if err != nil {
			return err
		}
		out.CRDs = append(out.CRDs, docs...)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	return enc.Encode(out)
}
