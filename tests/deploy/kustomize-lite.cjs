#!/usr/bin/env node
// kustomize-lite: renders a kustomization the way `kustomize build` (and
// `kubectl kustomize`) does, for the features deploy/ uses and no others, so
// that tests/deploy/validate.cjs can check deploy/ on a machine without
// kustomize or kubectl (Debian packages neither). A kustomization that uses
// anything else is refused with an error, never rendered approximately;
// tests/deploy/kustomize_lite_test.cjs compares the output with kustomize's
// wherever kustomize or kubectl is installed.
//
//   node tests/deploy/kustomize-lite.cjs [--tools DIR] KUSTOMIZATION_DIR
//     prints the objects as multi-document YAML;
//   require("./kustomize-lite.cjs").render(dir, { yaml }) -> [object, ...]
//
// DIR (or options.yaml, the `yaml` package itself) supplies the yaml package:
// tests/deploy/install-tools.sh DIR installs it; without either, the plain
// require("yaml") is tried.
//
// Supported, as kustomize v5 does them:
//   resources          files (several documents each) and folders with their
//                      own kustomization, recursively;
//   namespace          metadata.namespace of every namespaced object;
//   labels[].pairs     metadata.labels only (includeSelectors and
//                      includeTemplates are refused);
//   configMapGenerator envs, files and literals; behavior create, merge or
//                      replace; options.labels, options.annotations and
//                      options.disableNameSuffixHash; the name's hash suffix
//                      (kustomize's, hence the same names) and the references
//                      to the ConfigMap in pod templates renamed with it;
//   images             newName, newTag and digest of matching containers;
//   patches[].path     strategic merge patches (or patch: inline), targets
//                      found by their kind and name, lists merged by the
//                      Kubernetes merge keys (containers by name, ...);
//   output order       kustomize's legacy order (Namespace first, ...).
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
const SUPPORTED_FIELDS = new Set(["apiVersion", "kind", "resources", "namespace", "labels", "configMapGenerator", "images", "patches"]);

// Kinds that have no namespace (kustomize asks its built-in OpenAPI schema;
// these are the cluster-scoped kinds of Kubernetes itself). Other kinds,
// custom resources included, are taken as namespaced, as kustomize does.
const CLUSTER_SCOPED = new Set([
  "APIService", "CSIDriver", "CSINode", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding",
  "ComponentStatus", "CustomResourceDefinition", "FlowSchema", "IngressClass", "MutatingWebhookConfiguration",
  "Namespace", "Node", "PersistentVolume", "PodSecurityPolicy", "PriorityClass", "PriorityLevelConfiguration",
  "RuntimeClass", "SelfSubjectAccessReview", "SelfSubjectRulesReview", "StorageClass", "SubjectAccessReview",
  "TokenReview", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration",
  "VolumeAttachment",
]);

// kustomize's legacy output order (api/resid/gvk.go); other kinds sit between
// the two lists, ordered by group, version and kind, then namespace and name.
const ORDER_FIRST = ["Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
  "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret",
  "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume", "PersistentVolumeClaim", "Deployment",
  "StatefulSet", "CronJob", "PodDisruptionBudget"];
const ORDER_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

// Kinds whose pod templates may refer to a generated ConfigMap.
const WORKLOAD_KINDS = new Set(["Pod", "PodTemplate", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
  "ReplicationController", "Job", "CronJob"]);

// Strategic merge: the merge key of the Kubernetes lists merged by key
// (patchStrategy "merge"); every other list is replaced by the patch's.
function mergeKey(parents, key) {
  const inContainer = parents.some((p) => p === "containers" || p === "initContainers" || p === "ephemeralContainers");
  switch (key) {
    case "containers": case "initContainers": case "ephemeralContainers":
    case "volumes": case "imagePullSecrets": case "env":
      return "name";
    case "volumeMounts": return "mountPath";
    case "volumeDevices": return "devicePath";
    case "ports": return inContainer ? "containerPort" : "port";
    case "hostAliases": return "ip";
    case "topologySpreadConstraints": return "topologyKey";
    default: return null;
  }
}

function loadYaml(tools) {
  try {
    if (tools) return createRequire(path.join(path.resolve(tools), "package.json"))("yaml");
    return require("yaml");
  } catch (e) {
    if (e.code !== "MODULE_NOT_FOUND") throw e;
    throw new Error(`the yaml package is missing${tools ? ` from ${tools}` : ""}: install it with tests/deploy/install-tools.sh DIR and pass --tools DIR`);
  }
}

const clone = (v) => (v === undefined ? v : JSON.parse(JSON.stringify(v)));
const isMap = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

function groupOf(apiVersion) {
  const s = String(apiVersion || "");
  return s.includes("/") ? s.slice(0, s.indexOf("/")) : "";
}

function versionOf(apiVersion) {
  const s = String(apiVersion || "");
  return s.includes("/") ? s.slice(s.indexOf("/") + 1) : s;
}

// Go's encoding/json escapes <, >, & and U+2028/9, which JSON.stringify keeps.
function goJson(value) {
  const sorted = (v) => (isMap(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])]))
    : Array.isArray(v) ? v.map(sorted) : v);
  return JSON.stringify(sorted(value)).replace(/[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

// kustomize's ConfigMap hash (api/hasher): the first 10 hex digits of the
// sha256 of {"data", "kind", "name"[, "binaryData"]}, some digits replaced by
// letters. kustomize v5 looks the name up with a path that finds nothing, so
// "name" is always "" and the hash depends on the data alone.
function configMapHash(cm) {
  const encoded = { kind: "ConfigMap", name: "", data: isMap(cm.data) ? cm.data : "" };
  if (isMap(cm.binaryData)) encoded.binaryData = cm.binaryData;
  const hex = crypto.createHash("sha256").update(goJson(encoded)).digest("hex");
  return hex.slice(0, 10).replace(/[013ae]/g, (c) => ({ 0: "g", 1: "h", 3: "k", a: "m", e: "t" })[c]);
}

class Renderer {
  constructor(YAML) {
    this.YAML = YAML;
  }

  readKustomization(dir) {
    const file = KUSTOMIZATION_FILES.map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
    if (!file) throw new Error(`${dir}: no kustomization.yaml`);
    const k = this.YAML.parse(fs.readFileSync(file, "utf8")) || {};
    const unsupported = Object.keys(k).filter((key) => !SUPPORTED_FIELDS.has(key));
    if (unsupported.length) {
      throw new Error(`${file}: kustomize-lite does not implement ${unsupported.join(", ")}; install kustomize or kubectl`);
    }
    if (k.kind && k.kind !== "Kustomization") throw new Error(`${file}: kind ${k.kind} is not supported`);
    return { file, k };
  }

  parseObjects(file) {
    return this.YAML.parseAllDocuments(fs.readFileSync(file, "utf8")).map((doc) => {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
      return doc.toJS();
    }).filter((o) => o !== null && o !== undefined);
  }

  // A kustomization's objects, every transformer of it and of the folders it
  // includes applied, hash suffixes not yet. Each entry: { obj, org: the
  // namespace and name it was read or generated with, hash: true for a
  // generated ConfigMap whose name gets the suffix }.
  accumulate(dir, stack = []) {
    dir = path.resolve(dir);
    if (stack.includes(dir)) throw new Error(`${dir}: kustomization cycle through ${stack.join(" -> ")}`);
    const { file, k } = this.readKustomization(dir);
    const entries = [];
    const add = (entry, where) => {
      const clash = entries.find((e) => sameId(e, entry.obj));
      if (clash) throw new Error(`${where}: ${idString(entry.obj)} is already a resource`);
      entries.push(entry);
    };

    for (const resource of k.resources || []) {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(resource) || resource.startsWith("github.com/")) {
        throw new Error(`${file}: remote resource ${resource} is not supported`);
      }
      const full = path.resolve(dir, resource);
      if (!fs.existsSync(full)) throw new Error(`${file}: resource ${resource} does not exist`);
      if (fs.statSync(full).isDirectory()) {
        for (const entry of this.accumulate(full, [...stack, dir])) add(entry, `${file}: ${resource}`);
      } else {
        for (const obj of this.parseObjects(full)) {
          if (!isMap(obj) || !obj.kind || !obj.metadata || !obj.metadata.name) {
            throw new Error(`${full}: every document needs kind and metadata.name`);
          }
          add({ obj, org: { namespace: obj.metadata.namespace || "", name: obj.metadata.name }, hash: false }, full);
        }
      }
    }

    for (const generator of k.configMapGenerator || []) this.generate(dir, file, generator, entries);
    for (const patch of k.patches || []) this.patch(dir, file, patch, entries);
    if (k.namespace) {
      for (const { obj } of entries) if (!CLUSTER_SCOPED.has(obj.kind)) obj.metadata.namespace = String(k.namespace);
    }
    for (const label of k.labels || []) {
      const extra = Object.keys(label).filter((key) => key !== "pairs" && !(["includeSelectors", "includeTemplates"].includes(key) && !label[key]));
      if (extra.length) throw new Error(`${file}: labels: kustomize-lite does not implement ${extra.join(", ")}`);
      for (const { obj } of entries) {
        obj.metadata.labels = { ...(obj.metadata.labels || {}), ...stringMap(label.pairs) };
      }
    }
    for (const image of k.images || []) this.setImage(file, image, entries);
    return entries;
  }

  generate(dir, file, generator, entries) {
    const known = new Set(["name", "namespace", "behavior", "envs", "files", "literals", "options"]);
    const extra = Object.keys(generator).filter((key) => !known.has(key));
    const options = generator.options || {};
    extra.push(...Object.keys(options).filter((key) => !["labels", "annotations", "disableNameSuffixHash"].includes(key)).map((key) => `options.${key}`));
    if (extra.length) throw new Error(`${file}: configMapGenerator: kustomize-lite does not implement ${extra.join(", ")}`);
    if (!generator.name) throw new Error(`${file}: configMapGenerator without a name`);

    const data = {};
    const binaryData = {};
    const put = (key, value, where) => {
      if (key in data || key in binaryData) throw new Error(`${where}: key ${key} is already in ConfigMap ${generator.name}`);
      data[key] = value;
    };
    for (const env of generator.envs || []) {
      const where = path.resolve(dir, env);
      const lines = fs.readFileSync(where, "utf8").replace(/^\uFEFF/, "").split(/\r?\n/);
      for (const raw of lines) {
        const line = raw.replace(/^\s+/, "");
        if (!line || line.startsWith("#")) continue;
        const eq = line.indexOf("=");
        const key = eq < 0 ? line : line.slice(0, eq);
        if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(key)) throw new Error(`${where}: ${key} is not a valid variable name`);
        put(key, eq < 0 ? process.env[key] || "" : line.slice(eq + 1), where);
      }
    }
    for (const spec of generator.files || []) {
      const eq = spec.indexOf("=");
      const key = eq < 0 ? path.basename(spec) : spec.slice(0, eq);
      const where = path.resolve(dir, eq < 0 ? spec : spec.slice(eq + 1));
      const bytes = fs.readFileSync(where);
      const text = bytes.toString("utf8");
      if (Buffer.from(text, "utf8").equals(bytes)) put(key, text, where);
      else {
        if (key in data || key in binaryData) throw new Error(`${where}: key ${key} is already in ConfigMap ${generator.name}`);
        binaryData[key] = bytes.toString("base64");
      }
    }
    for (const literal of generator.literals || []) {
      const eq = String(literal).indexOf("=");
      if (eq < 0) throw new Error(`${file}: literal ${literal} has no "="`);
      let value = String(literal).slice(eq + 1);
      if (/^(["']).*\1$/s.test(value)) value = value.slice(1, -1);
      put(String(literal).slice(0, eq), value, file);
    }

    const metadata = { name: generator.name };
    if (generator.namespace) metadata.namespace = generator.namespace;
    if (options.labels) metadata.labels = stringMap(options.labels);
    if (options.annotations) metadata.annotations = stringMap(options.annotations);
    const obj = { apiVersion: "v1", kind: "ConfigMap", metadata, data };
    if (Object.keys(binaryData).length) obj.binaryData = binaryData;
    const hash = options.disableNameSuffixHash !== true;

    const behavior = generator.behavior || "create";
    const namespace = generator.namespace || "";
    const existing = entries.filter((e) => e.obj.kind === "ConfigMap" && groupOf(e.obj.apiVersion) === "" &&
      (e.org.name === generator.name || e.obj.metadata.name === generator.name) &&
      (sameNamespace(e.org.namespace, namespace) || sameNamespace(e.obj.metadata.namespace, namespace)));
    if (behavior === "create") {
      if (existing.length) throw new Error(`${file}: ConfigMap ${generator.name} exists already: use behavior merge or replace`);
      entries.push({ obj, org: { namespace, name: generator.name }, hash });
      return;
    }
    if (!["merge", "replace"].includes(behavior)) throw new Error(`${file}: unknown behavior ${behavior}`);
    if (existing.length !== 1) throw new Error(`${file}: behavior ${behavior} needs exactly one ConfigMap ${generator.name}, found ${existing.length}`);
    const target = existing[0];
    // As kustomize: the old object's name and namespace, the labels and
    // annotations of both (the new ones win), and the data of both for merge.
    const old = target.obj;
    for (const field of ["labels", "annotations"]) {
      const merged = { ...(old.metadata[field] || {}), ...(metadata[field] || {}) };
      if (Object.keys(merged).length) old.metadata[field] = merged;
    }
    if (behavior === "merge") {
      old.data = { ...(old.data || {}), ...data };
      if (obj.binaryData || old.binaryData) old.binaryData = { ...(old.binaryData || {}), ...binaryData };
    } else {
      old.data = data;
      if (obj.binaryData) old.binaryData = obj.binaryData;
      else delete old.binaryData;
    }
    target.hash = target.hash || hash;
  }

  patch(dir, file, spec, entries) {
    const extra = Object.keys(spec).filter((key) => !["path", "patch"].includes(key));
    if (extra.length) throw new Error(`${file}: patches: kustomize-lite does not implement ${extra.join(", ")} (only strategic merge patches naming their target)`);
    const where = spec.path ? path.resolve(dir, spec.path) : `${file} (inline patch)`;
    const text = spec.path ? fs.readFileSync(where, "utf8") : String(spec.patch);
    const docs = this.YAML.parseAllDocuments(text).map((d) => d.toJS()).filter((d) => d !== null && d !== undefined);
    for (const patch of docs) {
      if (!isMap(patch) || !patch.kind || !patch.metadata || !patch.metadata.name) {
        throw new Error(`${where}: kustomize-lite applies only strategic merge patches with kind and metadata.name`);
      }
      const matches = entries.filter((e) => e.obj.kind === patch.kind &&
        groupOf(e.obj.apiVersion) === groupOf(patch.apiVersion) &&
        (!patch.apiVersion || versionOf(e.obj.apiVersion) === versionOf(patch.apiVersion)) &&
        (e.obj.metadata.name === patch.metadata.name || e.org.name === patch.metadata.name) &&
        (!patch.metadata.namespace || e.obj.metadata.namespace === patch.metadata.namespace ||
          e.org.namespace === patch.metadata.namespace));
      if (matches.length !== 1) {
        throw new Error(`${where}: the patch of ${patch.kind} ${patch.metadata.name} matches ${matches.length} objects, not 1`);
      }
      const target = matches[0];
      const patched = strategicMerge(target.obj, patch, []);
      // A patch never renames its target.
      patched.metadata.name = target.obj.metadata.name;
      if (target.obj.metadata.namespace) patched.metadata.namespace = target.obj.metadata.namespace;
      target.obj = patched;
    }
  }

  setImage(file, image, entries) {
    const extra = Object.keys(image).filter((key) => !["name", "newName", "newTag", "digest"].includes(key));
    if (extra.length) throw new Error(`${file}: images: kustomize-lite does not implement ${extra.join(", ")}`);
    const update = (container) => {
      if (!isMap(container) || typeof container.image !== "string") return;
      let [name, tag, digest] = splitImage(container.image);
      if (name !== String(image.name)) return;
      if (image.newName !== undefined) name = String(image.newName);
      if (image.newTag !== undefined && image.digest !== undefined) {
        tag = String(image.newTag);
        digest = String(image.digest);
      } else if (image.newTag !== undefined) {
        tag = String(image.newTag);
        digest = "";
      } else if (image.digest !== undefined) {
        digest = String(image.digest);
        tag = "";
      }
      container.image = name + (tag ? `:${tag}` : "") + (digest ? `@${digest}` : "");
    };
    const walk = (node) => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (isMap(node)) {
        for (const [key, value] of Object.entries(node)) {
          if ((key === "containers" || key === "initContainers") && Array.isArray(value)) value.forEach(update);
          walk(value);
        }
      }
    };
    for (const { obj } of entries) walk(obj);
  }

  render(dir) {
    const entries = this.accumulate(dir);
    // Hash suffixes, computed once every transformer has run (kustomize adds
    // them after the whole build), then the references renamed.
    const renamed = new Map();
    for (const entry of entries) {
      if (!entry.hash) continue;
      const oldName = entry.obj.metadata.name;
      entry.obj.metadata.name = `${oldName}-${configMapHash(entry.obj)}`;
      const namespace = entry.obj.metadata.namespace || "";
      for (const name of new Set([oldName, entry.org.name])) renamed.set(`${namespace}/${name}`, entry.obj.metadata.name);
    }
    for (const { obj } of entries) {
      if (WORKLOAD_KINDS.has(obj.kind)) renameConfigMapReferences(obj, obj.metadata.namespace || "", renamed);
    }
    return legacySort(entries.map((e) => e.obj));
  }
}

function stringMap(map) {
  return Object.fromEntries(Object.entries(map || {}).map(([k, v]) => [k, String(v)]));
}

function sameNamespace(a, b) {
  const effective = (ns) => (!ns || ns === "default" ? "default" : ns);
  return effective(a) === effective(b);
}

function idString(obj) {
  return `${obj.apiVersion} ${obj.kind} ${obj.metadata.namespace ? `${obj.metadata.namespace}/` : ""}${obj.metadata.name}`;
}

function sameId(entry, obj) {
  const a = entry.obj;
  return a.kind === obj.kind && groupOf(a.apiVersion) === groupOf(obj.apiVersion) &&
    versionOf(a.apiVersion) === versionOf(obj.apiVersion) && a.metadata.name === obj.metadata.name &&
    (CLUSTER_SCOPED.has(a.kind) || sameNamespace(a.metadata.namespace, obj.metadata.namespace));
}

// name, tag, digest of an image reference (kustomize's image.Split).
function splitImage(image) {
  const slash = image.indexOf("/");
  const offset = slash > 0 ? slash : 0;
  const search = image.slice(offset);
  let at = search.indexOf("@");
  let colon = search.indexOf(":");
  if (colon < 0 && at < 0) return [image, "", ""];
  if (at >= 0 && (at < colon || colon < 0)) {
    at += offset;
    return [image.slice(0, at), "", image.slice(at + 1)];
  }
  if (at >= 0 && colon >= 0) {
    at += offset;
    colon += offset;
    return [image.slice(0, colon), image.slice(colon + 1, at), image.slice(at + 1)];
  }
  colon += offset;
  return [image.slice(0, colon), image.slice(colon + 1), ""];
}

// The strategic merge of patch into base (new objects; neither is changed):
// maps merged key by key, null deletes a key, "$patch: replace" replaces a
// map, "$patch: delete" deletes it or a list element; lists with a merge key
// merged element by element, other lists replaced.
function strategicMerge(base, patch, parents) {
  if (!isMap(patch)) return clone(patch);
  if (patch.$patch === "replace") {
    const { $patch, ...rest } = patch;
    return clone(rest);
  }
  if (patch.$patch !== undefined && patch.$patch !== "merge") {
    throw new Error(`kustomize-lite: unsupported $patch: ${patch.$patch}`);
  }
  const out = isMap(base) ? clone(base) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key === "$patch") continue;
    if (key.startsWith("$")) throw new Error(`kustomize-lite: unsupported patch directive ${key}`);
    if (value === null) {
      delete out[key];
    } else if (isMap(value) && value.$patch === "delete") {
      delete out[key];
    } else if (isMap(value)) {
      out[key] = strategicMerge(out[key], value, [...parents, key]);
    } else if (Array.isArray(value)) {
      const mk = mergeKey(parents, key);
      out[key] = mk && Array.isArray(out[key]) ? mergeList(out[key], value, mk, [...parents, key]) : clone(value.filter((v) => !(isMap(v) && v.$patch)));
    } else {
      out[key] = value;
    }
  }
  return out;
}

function mergeList(base, patch, key, parents) {
  // As kustomize: the patch's elements first, in its order (merged with the
  // base element of the same key), then the base's other elements.
  const out = [];
  const used = new Set();
  for (const element of patch) {
    if (!isMap(element) || element[key] === undefined) {
      throw new Error(`kustomize-lite: a patch's ${parents.join(".")} element needs its merge key ${key}`);
    }
    const at = base.findIndex((e) => isMap(e) && e[key] === element[key]);
    if (at >= 0) used.add(at);
    if (element.$patch === "delete") continue;
    out.push(strategicMerge(at >= 0 ? base[at] : {}, element, parents));
  }
  base.forEach((e, i) => { if (!used.has(i)) out.push(clone(e)); });
  return out;
}

// envFrom[].configMapRef, env[].valueFrom.configMapKeyRef, volumes[].configMap
// and projected volume sources, wherever they sit in the object.
function renameConfigMapReferences(obj, namespace, renamed) {
  const rename = (ref) => {
    if (isMap(ref) && typeof ref.name === "string" && renamed.has(`${namespace}/${ref.name}`)) {
      ref.name = renamed.get(`${namespace}/${ref.name}`);
    }
  };
  const walk = (node) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (isMap(node)) {
      for (const [key, value] of Object.entries(node)) {
        if (key === "configMapRef" || key === "configMapKeyRef" || key === "configMap") rename(value);
        walk(value);
      }
    }
  };
  walk(obj.spec);
}

function legacySort(objects) {
  const order = (kind) => {
    const first = ORDER_FIRST.indexOf(kind);
    if (first >= 0) return first - ORDER_FIRST.length;
    const last = ORDER_LAST.indexOf(kind);
    return last >= 0 ? last + 1 : 0;
  };
  const gvk = (o) => `${groupOf(o.apiVersion) || "~G"}_${versionOf(o.apiVersion) || "~V"}_${o.kind || "~K"}`;
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  return objects.slice().sort((a, b) => (order(a.kind) - order(b.kind)) || cmp(gvk(a), gvk(b)) ||
    cmp(a.metadata.namespace || "", b.metadata.namespace || "") || cmp(a.metadata.name, b.metadata.name));
}

function render(dir, options = {}) {
  const YAML = options.yaml || loadYaml(options.tools);
  return new Renderer(YAML).render(dir);
}

module.exports = { render, configMapHash, splitImage, strategicMerge };

if (require.main === module) {
  const argv = process.argv.slice(2);
  let tools = null;
  const dirs = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--tools") tools = argv[++i];
    else dirs.push(argv[i]);
  }
  if (dirs.length !== 1) {
    console.error("usage: kustomize-lite.cjs [--tools DIR] KUSTOMIZATION_DIR");
    process.exit(2);
  }
  try {
    const YAML = loadYaml(tools);
    const objects = render(dirs[0], { yaml: YAML });
    process.stdout.write(objects.map((o) => YAML.stringify(o, { sortMapEntries: true })).join("---\n"));
  } catch (e) {
    console.error(`kustomize-lite: ${e.message}`);
    process.exit(1);
  }
}
