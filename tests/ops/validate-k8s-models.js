#!/usr/bin/env node
// Validate Kubernetes manifests with the kubernetes-models packages.
//
// Usage: NODE_PATH=... node validate-k8s-models.js SCHEMA_CACHE_DIR FILE.yaml...
//
// Every document is validated by its model's own validate() (kubernetes-models
// for core kinds, @kubernetes-models/prometheus-operator for PodMonitor,
// ServiceMonitor and PrometheusRule). The Operator models accept unknown
// fields, so those kinds are also checked against a strict JSON Schema
// generated from the models' TypeScript types (unknown fields rejected, like
// kubernetes-validate --strict does for core kinds).
"use strict";

const fs = require("fs");
const path = require("path");
const yaml = require("js-yaml");
const Ajv = require("ajv");
const tsj = require("ts-json-schema-generator");

const OPERATOR_PKG = "@kubernetes-models/prometheus-operator";
const OPERATOR_KINDS = new Set(["PodMonitor", "ServiceMonitor", "PrometheusRule", "Probe"]);

function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "monitoring.coreos.com") {
    return require(`${OPERATOR_PKG}/${group}/${version}`)[kind];
  }
  const mod = group === "" ? `kubernetes-models/${version}` : `kubernetes-models/${group}/${version}`;
  return require(mod)[kind];
}

const strictValidators = new Map();
function strictValidator(cacheDir, apiVersion, kind) {
  const key = `${apiVersion}/${kind}`;
  if (strictValidators.has(key)) return strictValidators.get(key);
  const pkgVersion = require(`${OPERATOR_PKG}/package.json`).version;
  const cache = path.join(cacheDir, `${kind}-${pkgVersion}.schema.json`);
  let schema;
  if (fs.existsSync(cache)) {
    schema = JSON.parse(fs.readFileSync(cache, "utf8"));
  } else {
    // The package's exports map only knows the .js files; the types sit next to them.
    const dts = require.resolve(`${OPERATOR_PKG}/${apiVersion}/${kind}`).replace(/\.js$/, ".d.ts");
    schema = tsj.createGenerator({ path: dts, type: `I${kind}`, skipTypeCheck: true }).createSchema(`I${kind}`);
    fs.mkdirSync(cacheDir, { recursive: true });
    fs.writeFileSync(cache, JSON.stringify(schema));
  }
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
  strictValidators.set(key, validate);
  return validate;
}

function main(argv) {
  const [cacheDir, ...files] = argv;
  if (!cacheDir || files.length === 0) {
    console.error("usage: validate-k8s-models.js SCHEMA_CACHE_DIR FILE.yaml...");
    return 2;
  }
  let failures = 0;
  for (const file of files) {
    const docs = yaml.loadAll(fs.readFileSync(file, "utf8")).filter((d) => d != null);
    for (const doc of docs) {
      const what = `${file}: ${doc.kind}/${doc.metadata && doc.metadata.name}`;
      const Model = doc.apiVersion && doc.kind ? modelFor(doc.apiVersion, doc.kind) : undefined;
      if (!Model) {
        console.error(`${what}: no model for apiVersion ${doc.apiVersion}, kind ${doc.kind}`);
        failures++;
        continue;
      }
      const errors = [];
      try {
        new Model(doc).validate();
      } catch (e) {
        errors.push(e.message);
      }
      if (OPERATOR_KINDS.has(doc.kind)) {
        const validate = strictValidator(cacheDir, doc.apiVersion, doc.kind);
        if (!validate(doc)) {
          for (const e of validate.errors) {
            const extra = e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : "";
            errors.push(`${e.instancePath || "/"} ${e.message}${extra}`);
          }
        }
      }
      if (errors.length) {
        failures++;
        console.error(`${what}: INVALID`);
        for (const e of errors) console.error(`  ${e}`);
      } else {
        console.log(`${what}: valid (${OPERATOR_KINDS.has(doc.kind) ? "model + strict schema" : "model"})`);
      }
    }
  }
  return failures ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
