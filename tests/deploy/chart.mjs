// chart.mjs - tests of the Helm chart deploy/helm/tether without helm: the
// Go renderer (render/main.go) renders it like `helm template`; every
// document is checked against the Kubernetes schema of its kind
// (kubernetes-models, plus a strict pass that rejects fields the schema does
// not know, as the API server's strict field validation does); the merged
// values are checked against values.schema.json (ajv, as helm does); the
// rendered config.yaml is checked by the real loader (`tether validate`);
// the PrometheusRule is checked by promtool. Negative cases prove that a
// broken template, a wrong field, a wrong value and the replicas guard fail.
//
// Usage: node chart.mjs RENDER_BIN TETHER_BIN   (run.sh builds both)
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import Ajv from "ajv";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const chartDir = path.join(root, "deploy/helm/tether");
const [renderBin, tetherBin] = process.argv.slice(2);
let passed = 0, failed = 0;
function check(name, cond, detail = "") {
  if (cond) { passed++; console.log(`chart: PASS ${name}`); }
  else { failed++; console.error(`chart: FAIL ${name}${detail ? `\n  ${String(detail).split("\n").join("\n  ")}` : ""}`); }
}

// --- Kubernetes schemas, by apiVersion/kind
const K = "kubernetes-models/_schemas/";
// the prometheus-operator package does not export _schemas: load the files
const P = pathToFileURL(path.join(here, "node_modules/@kubernetes-models/prometheus-operator/_schemas/ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1")).href;
const schemaModules = {
  "v1/ConfigMap": K + "IoK8sApiCoreV1ConfigMap",
  "v1/Service": K + "IoK8sApiCoreV1Service",
  "v1/ServiceAccount": K + "IoK8sApiCoreV1ServiceAccount",
  "apps/v1/Deployment": K + "IoK8sApiAppsV1Deployment",
  "autoscaling/v2/HorizontalPodAutoscaler": K + "IoK8sApiAutoscalingV2HorizontalPodAutoscaler",
  "policy/v1/PodDisruptionBudget": K + "IoK8sApiPolicyV1PodDisruptionBudget",
  "networking.k8s.io/v1/Ingress": K + "IoK8sApiNetworkingV1Ingress",
  "networking.k8s.io/v1/NetworkPolicy": K + "IoK8sApiNetworkingV1NetworkPolicy",
  "apiextensions.k8s.io/v1/CustomResourceDefinition":
    K + "IoK8sApiextensionsApiserverPkgApisApiextensionsV1CustomResourceDefinition",
  "monitoring.coreos.com/v1/ServiceMonitor": P + "ServiceMonitor.js",
  "monitoring.coreos.com/v1/PrometheusRule": P + "PrometheusRule.js",
};
const validators = {};
for (const [k, m] of Object.entries(schemaModules)) validators[k] = (await import(m)).validate;

// Wrap a document so that every property the validator reads is recorded;
// an object whose keys the validator never enumerates (a struct, not a map)
// and that holds a key it never read has a field the schema does not know.
function track(v, p, seen) {
  if (v === null || typeof v !== "object") return v;
  const rec = { p, keys: new Set(), enumerated: false, obj: v };
  seen.push(rec);
  const kids = Array.isArray(v) ? v.map((x, i) => track(x, `${p}/${i}`, seen))
    : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, track(x, `${p}/${k}`, seen)]));
  return new Proxy(kids, {
    get(t, k, r) { if (typeof k === "string") rec.keys.add(k); return Reflect.get(t, k, r); },
    has(t, k) { if (typeof k === "string") rec.keys.add(k); return Reflect.has(t, k); },
    ownKeys(t) { rec.enumerated = true; return Reflect.ownKeys(t); },
  });
}
// Problems of one object: schema errors, then unknown fields.
function k8sProblems(obj) {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const validate = validators[key];
  if (!validate) return [`no schema for ${key} (add it to chart.mjs)`];
  const seen = [];
  if (!validate(track(obj, "", seen)))
    return validate.errors.map((e) => `${e.instancePath || "/"}: ${e.keyword} ${JSON.stringify(e.params)}`);
  const unknown = [];
  for (const r of seen)
    // r.keys empty: a free-form value the schema does not describe; a CRD's
    // openAPIV3Schema is checked by a strict ajv compile instead (section 7)
    if (!Array.isArray(r.obj) && !r.enumerated && r.keys.size && !r.p.includes("/openAPIV3Schema"))
      for (const k of Object.keys(r.obj)) if (!r.keys.has(k)) unknown.push(`${r.p}/${k}: unknown field`);
  return unknown;
}

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
const valuesSchema = ajv.compile(JSON.parse(fs.readFileSync(path.join(chartDir, "values.schema.json"), "utf8")));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tether-chart-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
function valuesFile(name, text) {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text);
  return f;
}
// helm template + helm's values.schema.json check: {ok, out | error}
function render(dir, files = []) {
  const r = spawnSync(renderBin, [...files.flatMap((f) => ["-f", f]), "-name", "rel", "-namespace", "llm", dir],
    { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) return { ok: false, error: r.stderr };
  const out = JSON.parse(r.stdout);
  if (!valuesSchema(out.values))
    return { ok: false, error: "values.schema.json: " + ajv.errorsText(valuesSchema.errors) };
  return { ok: true, out };
}
function allProblems(out) {
  return [...out.manifests, ...out.crds].flatMap((m) =>
    k8sProblems(m.object).map((p) => `${m.source} ${m.object.kind}/${m.object.metadata?.name}: ${p}`));
}
const kinds = (out) => out.manifests.map((m) => m.object.kind).sort();
const find = (out, kind, name) => out.manifests.find((m) => m.object.kind === kind && (!name || m.object.metadata.name === name))?.object;
// the real loader on the rendered config.yaml
function tetherValidate(out, env = {}) {
  const f = path.join(tmp, "config.yaml");
  fs.writeFileSync(f, find(out, "ConfigMap").data["config.yaml"]);
  const r = spawnSync(tetherBin, ["validate", "--strict", "--config", f], { encoding: "utf8", env: { ...process.env, ...env } });
  return { ok: r.status === 0, text: r.stdout + r.stderr, yaml: fs.readFileSync(f, "utf8") };
}

// ---- 1. default values
{
  const r = render(chartDir);
  check("default values render", r.ok, r.error);
  if (r.ok) {
    const probs = allProblems(r.out);
    check("default: every object matches its Kubernetes schema, no unknown fields", probs.length === 0, probs.join("\n"));
    check("default: ConfigMap, Deployment, Service, ServiceAccount only",
      JSON.stringify(kinds(r.out)) === JSON.stringify(["ConfigMap", "Deployment", "Service", "ServiceAccount"]), kinds(r.out));
    check("default: the CRDs IntelligentPool and IntelligentRoute (vllm.ai/v1alpha1) are shipped",
      JSON.stringify(r.out.crds.map((c) => `${c.object.spec.group}/${c.object.spec.names.kind}/${c.object.spec.versions.map((v) => v.name)}`).sort()) ===
      JSON.stringify(["vllm.ai/IntelligentPool/v1alpha1", "vllm.ai/IntelligentRoute/v1alpha1"]));
    const v = tetherValidate(r.out);
    check("default: config.yaml passes tether validate --strict", v.ok, v.text);
    const d = find(r.out, "Deployment");
    const c = d.spec.template.spec.containers[0];
    check("default: one replica, probes on /health and /ready",
      d.spec.replicas === 1 && c.livenessProbe.httpGet.path === "/health" && c.readinessProbe.httpGet.path === "/ready");
    check("default: tether serve --config /etc/tether/config.yaml, non-root, read-only root",
      c.args.join(" ") === "serve --config /etc/tether/config.yaml" &&
      d.spec.template.spec.securityContext.runAsNonRoot === true && c.securityContext.readOnlyRootFilesystem === true);
    const m = c.volumeMounts.find((x) => x.name === "config");
    check("default: the ConfigMap is mounted as a directory (no subPath) so ..data swaps reach tether",
      m && m.mountPath === "/etc/tether" && !m.subPath);
    check("default: the grace period covers preStop + shutdown_grace (30s)",
      d.spec.template.spec.terminationGracePeriodSeconds >= 35);
  }
}

// ---- 2. Redis + HPA + ingress + the monitoring and network objects
const scaleValues = valuesFile("scale.yaml", `
redis: {enabled: true}
autoscaling: {enabled: true, minReplicas: 2, maxReplicas: 6, targetMemoryUtilizationPercentage: 80}
ingress:
  enabled: true
  className: nginx
  hosts: [{host: llm.example.com, paths: [{path: /v1, pathType: Prefix}]}]
  tls: [{hosts: [llm.example.com], secretName: llm-tls}]
management:
  expose: true
  tokens: [{name: prometheus, role: viewer, secretName: tether-mgmt, secretKey: prometheus}]
secretEnv: [{name: OPENAI_API_KEY, secretName: llm-keys, secretKey: openai}]
config:
  providers:
    defaults: {default_model: llama}
    models:
      - name: llama
        backend_refs: [{name: vllm, endpoint: "http://vllm:8000", provider: vllm}]
      - name: gpt
        provider_model_id: gpt-4.1
        backend_refs: [{name: openai, base_url: "https://api.openai.com/v1", api_key_env: OPENAI_API_KEY}]
  routing:
    modelCards: [{name: llama}, {name: gpt}]
networkPolicy:
  enabled: true
  managementFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
podAntiAffinity: hard
metrics:
  serviceMonitor: {enabled: true, bearerTokenSecret: {name: tether-mgmt, key: prometheus}}
  prometheusRule: {enabled: true}
`);
{
  const r = render(chartDir, [scaleValues]);
  check("redis+hpa+ingress values render", r.ok, r.error);
  if (r.ok) {
    const probs = allProblems(r.out);
    check("redis+hpa+ingress: every object matches its Kubernetes schema, no unknown fields", probs.length === 0, probs.join("\n"));
    const want = ["ConfigMap", "Deployment", "Deployment", "HorizontalPodAutoscaler", "Ingress", "NetworkPolicy",
      "NetworkPolicy", "PodDisruptionBudget", "PrometheusRule", "Service", "Service", "ServiceAccount", "ServiceMonitor"];
    check("redis+hpa+ingress: the expected objects", JSON.stringify(kinds(r.out)) === JSON.stringify(want), kinds(r.out));
    const v = tetherValidate(r.out, { OPENAI_API_KEY: "x", TETHER_MGMT_TOKEN_PROMETHEUS: "t" });
    check("redis+hpa+ingress: config.yaml passes tether validate --strict", v.ok, v.text);
    check("redis+hpa+ingress: session, responses and cache stores on the bundled Redis",
      /session:\s*\n\s+backend: redis\s*\n\s+redis:\s*\n\s+address: rel-tether-redis:6379/.test(v.yaml) &&
      (v.yaml.match(/backend: redis/g) || []).length === 3, v.yaml);
    check("redis+hpa+ingress: management listens on all addresses with a token",
      v.yaml.includes("listen: 0.0.0.0:8080") && v.yaml.includes("token_env: TETHER_MGMT_TOKEN_PROMETHEUS"));
    const d = find(r.out, "Deployment", "rel-tether");
    check("redis+hpa+ingress: no fixed replicas under the HPA, secrets as env",
      d.spec.replicas === undefined &&
      d.spec.template.spec.containers[0].env.some((e) => e.name === "OPENAI_API_KEY" && e.valueFrom.secretKeyRef.name === "llm-keys"));
    check("redis+hpa+ingress: hard anti-affinity and zone spread",
      !!d.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution &&
      d.spec.template.spec.topologySpreadConstraints[0].topologyKey === "topology.kubernetes.io/zone");
    const rule = find(r.out, "PrometheusRule");
    const rf = path.join(tmp, "rules.yaml");
    fs.writeFileSync(rf, JSON.stringify({ groups: rule.spec.groups }));
    const alerts = rule.spec.groups[0].rules.map((x) => x.alert);
    check("redis+hpa+ingress: alerts on routing latency, error rate, replay drops, session store errors",
      ["TetherRoutingLatencyHigh", "TetherErrorRateHigh", "TetherReplayDrops", "TetherSessionStoreErrors"].every((a) => alerts.includes(a)), alerts);
    const pt = spawnSync("promtool", ["check", "rules", rf], { encoding: "utf8" });
    if (pt.error) check("promtool is installed (scripts/deps.sh installs prometheus)", false, pt.error.message);
    else check("redis+hpa+ingress: promtool check rules accepts the PrometheusRule", pt.status === 0, pt.stdout + pt.stderr);
  }
}

// ---- 3. an external Redis with a password, three fixed replicas
{
  const f = valuesFile("ext.yaml", `
replicaCount: 3
redis: {external: {address: "redis.shared:6379", passwordSecret: {name: redis-auth, key: password}}, stores: [session]}
`);
  const r = render(chartDir, [f]);
  check("external redis, 3 replicas: renders", r.ok, r.error);
  if (r.ok) {
    const probs = allProblems(r.out);
    check("external redis: every object matches its schema", probs.length === 0, probs.join("\n"));
    const v = tetherValidate(r.out, { REDIS_PASSWORD: "p" });
    check("external redis: config.yaml is valid and names REDIS_PASSWORD", v.ok && v.yaml.includes("password_env: REDIS_PASSWORD"), v.text + v.yaml);
    check("external redis: a PodDisruptionBudget with 3 replicas", kinds(r.out).includes("PodDisruptionBudget"));
  }
}

// ---- 4. the guard: several replicas on the memory session store
for (const [name, text] of [
  ["replicaCount 3 + memory store", "replicaCount: 3\n"],
  ["autoscaling + memory store", "autoscaling: {enabled: true}\n"],
  ["replicaCount 2 + redis for responses only", "replicaCount: 2\nredis: {enabled: true, stores: [responses]}\n"],
]) {
  const r = render(chartDir, [valuesFile("guard.yaml", text)]);
  check(`guard: ${name} fails the install`, !r.ok && /session store is memory/.test(r.error), r.error || "rendered");
}
{
  const r = render(chartDir, [valuesFile("guard2.yaml", "replicaCount: 2\nconfig:\n  global:\n    stores:\n      session: {backend: redis, redis: {address: 'r:6379'}}\n")]);
  check("guard: a Redis session store set in config passes", r.ok, r.error);
}

// ---- 5. wrong values: values.schema.json rejects them
for (const [name, text] of [
  ["replicaCount as a string", "replicaCount: three\n"],
  ["an unknown top-level value", "replicas: 2\n"],
  ["a misspelt nested value", "autoscaling: {enable: true}\n"],
  ["a bad anti-affinity mode", "podAntiAffinity: sometimes\n"],
]) {
  const r = render(chartDir, [valuesFile("bad.yaml", text)]);
  check(`values.schema.json rejects ${name}`, !r.ok && /values.schema.json/.test(r.error), r.error || "accepted");
}

// ---- 6. broken templates: a copy of the chart with one edit each
function mutated(file, from, to) {
  const dir = path.join(tmp, `chart-${Math.random().toString(36).slice(2)}`);
  fs.cpSync(chartDir, dir, { recursive: true });
  const p = path.join(dir, file);
  const text = fs.readFileSync(p, "utf8");
  if (!text.includes(from)) throw new Error(`${file} has no ${from}`);
  fs.writeFileSync(p, text.replace(from, to));
  return dir;
}
for (const [name, file, from, to, expect] of [
  ["a misspelt required field (containerPorts)", "templates/deployment.yaml", "containerPort:", "containerPorts:", /missingProperty":"containerPort"/],
  ["a misspelt optional field (imagePulPolicy)", "templates/deployment.yaml", "imagePullPolicy:", "imagePulPolicy:", /containers\/0\/imagePulPolicy: unknown field/],
  ["a misspelt field of a monitoring object", "templates/servicemonitor.yaml", "interval:", "intervall:", /endpoints\/0\/intervall: unknown field/],
  ["a field at the wrong level", "templates/service.yaml", "  type: {{ .Values.service.type }}", "  type: {{ .Values.service.type }}\n  replicas: 2", /spec\/replicas: unknown field/],
  ["a port rendered as a string", "templates/service.yaml", "port: {{ .Values.service.routerPort }}", "port: \"{{ .Values.service.routerPort }}\"", /type \{"type":"integer"\}/],
  ["a missing required field", "templates/deployment.yaml", "        - name: tether\n", "        -\n", /required \{"missingProperty":"name"\}/],
  ["a template syntax error", "templates/hpa.yaml", "{{- end }}", "", /unexpected EOF|render:/],
  ["broken YAML indentation", "templates/configmap.yaml", "nindent 4", "nindent 1", /render:|did not find|could not find|mapping/],
]) {
  const r = render(mutated(file, from, to), [scaleValues]);
  const probs = r.ok ? allProblems(r.out).join("\n") : r.error;
  check(`a broken chart fails: ${name}`, expect.test(probs), probs || "no problem found");
}

// ---- 7. the example custom resources match the CRDs' schemas
{
  const r = render(chartDir);
  const ex = JSON.parse(execFileSync(renderBin, ["-yaml-docs", path.join(root, "deploy/examples/intelligent-route.yaml")], { encoding: "utf8" }));
  for (const doc of ex) {
    const crd = r.out.crds.find((c) => c.object.spec.names.kind === doc.kind).object;
    const schema = crd.spec.versions[0].schema.openAPIV3Schema;
    // strict: an unknown keyword in the CRD's schema fails the compile
    const strictAjv = new Ajv({ allErrors: true, strict: true, strictRequired: false, validateFormats: false });
    strictAjv.addKeyword("x-kubernetes-preserve-unknown-fields");
    let v;
    try { v = strictAjv.compile(schema); check(`CRD ${doc.kind}: its openAPIV3Schema compiles strictly`, true); }
    catch (e) { check(`CRD ${doc.kind}: its openAPIV3Schema compiles strictly`, false, e.message); continue; }
    check(`example ${doc.kind}/${doc.metadata.name} matches its CRD schema`, v(doc), strictAjv.errorsText(v.errors));
  }
  const crd = r.out.crds.find((c) => c.object.spec.names.kind === "IntelligentPool").object;
  const v = ajv.compile(crd.spec.versions[0].schema.openAPIV3Schema);
  check("an IntelligentPool without models fails its CRD schema",
    !v({ apiVersion: "vllm.ai/v1alpha1", kind: "IntelligentPool", metadata: { name: "x" }, spec: { defaultModel: "a" } }));
}

console.log(`chart: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
