#!/usr/bin/env node
// kustomize-lite.cjs renders deploy/ as kustomize does: every folder that
// validate.cjs checks, rendered by kustomize-lite and by each of `kustomize
// build` and `kubectl kustomize` that is installed, must give the same
// objects in the same order, ConfigMap hash suffixes included.
//
//   node tests/deploy/kustomize_lite_test.cjs --tools DIR
//
// DIR holds node_modules (tests/deploy/install-tools.sh DIR). Exits 77 (a
// skip for ctest) when neither kustomize nor kubectl is installed.
"use strict";

const { execFileSync } = require("child_process");
const path = require("path");
const { createRequire } = require("module");
const kustomizeLite = require("./kustomize-lite.cjs");

const SKIP = 77;
const FOLDERS = ["deploy/base", "deploy/overlays/cpu", "deploy/overlays/gpu", "deploy/monitoring", "deploy/kserve"];
const repo = path.resolve(__dirname, "..", "..");

const argv = process.argv.slice(2);
if (argv[0] !== "--tools" || !argv[1]) {
  console.error("usage: kustomize_lite_test.cjs --tools DIR");
  process.exit(2);
}
const YAML = createRequire(path.join(path.resolve(argv[1]), "package.json"))("yaml");

// The first difference between two values, as "path: a != b", or null.
function difference(a, b, where) {
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i >= a.length || i >= b.length) return `${where}: ${a.length} elements != ${b.length}`;
      const d = difference(a[i], b[i], `${where}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = difference(a[key], b[key], `${where}.${key}`);
      if (d) return d;
    }
    return null;
  }
  return a === b ? null : `${where}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`;
}

const tools = [["kustomize", ["build"]], ["kubectl", ["kustomize"]]];
let compared = 0;
let failed = 0;
for (const [tool, toolArgs] of tools) {
  let version;
  try {
    version = execFileSync(tool, tool === "kubectl" ? ["version", "--client"] : ["version"],
      { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim().replace(/\s*\n\s*/g, ", ");
  } catch (e) {
    if (e.code === "ENOENT") continue;
    version = "version unknown";
  }
  for (const folder of FOLDERS) {
    const full = path.join(repo, folder);
    const text = execFileSync(tool, [...toolArgs, full], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    const expected = YAML.parseAllDocuments(text).map((d) => d.toJS()).filter(Boolean);
    const actual = kustomizeLite.render(full, { yaml: YAML });
    const d = difference(actual, expected, "objects");
    compared++;
    const what = `${folder}: kustomize-lite vs ${tool} ${toolArgs[0]} (${version})`;
    if (d) {
      failed++;
      console.log(`FAIL ${what}: first difference (kustomize-lite != ${tool}) at ${d}`);
    } else {
      console.log(`ok   ${what}: ${actual.length} equal objects (${actual.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")})`);
    }
  }
}
if (compared === 0) {
  console.log("SKIP: neither kustomize nor kubectl is installed: nothing to compare kustomize-lite.cjs with");
  process.exit(SKIP);
}
if (failed) {
  console.log(`FAIL: kustomize-lite.cjs renders ${failed} of ${compared} folders differently`);
  process.exit(1);
}
console.log(`PASS: kustomize-lite.cjs renders all ${compared} folders as kustomize does`);
