// PromQL checks for deploy/: every expression of the Grafana dashboard and of the alert rules
// parses, and names only metric families (and labels) that blockstored exports.
//
//   node promql.mjs check --exposition FILE --dashboard FILE --rules FILE
//       FILE of --exposition is the text blockstored serves on /metrics (or the output of
//       //server/metrics:example_exposition). Exits 1 listing every problem.
//   node promql.mjs list --dashboard FILE --rules FILE
//       Prints a JSON array of {source, kind, expr, selectors} with Grafana's variables
//       replaced, for running the expressions against a live Prometheus.
//
// Grafana variables are replaced before parsing: $instance and $volume by ".*" (they only
// appear inside =~ matchers), $__rate_interval by 1m, $__range by 5m, $__interval by 15s.

import { readFileSync } from "node:fs";
import { parser } from "@prometheus-io/lezer-promql";
import { parse as parseYaml } from "yaml";

// Series Prometheus itself adds to every target.
const SYNTHETIC_METRICS = new Set(["up", "scrape_duration_seconds", "scrape_samples_scraped"]);
// Target labels Prometheus attaches to every scraped series.
const TARGET_LABELS = new Set(["instance", "job"]);

const SUBSTITUTIONS = [
  [/\$__rate_interval/g, "1m"],
  [/\$__range/g, "5m"],
  [/\$__interval/g, "15s"],
  [/\$\{?instance\}?/g, ".*"],
  [/\$\{?volume\}?/g, ".*"],
];

function substitute(expr) {
  let out = expr;
  for (const [pattern, value] of SUBSTITUTIONS) out = out.replace(pattern, value);
  return out;
}

function parseArgs(argv) {
  const args = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) {
      const key = argv[i].slice(2);
      (args[key] ||= []).push(argv[++i]);
    } else {
      args._.push(argv[i]);
    }
  }
  return args;
}

// Every PromQL expression of a Grafana dashboard: panel targets (rows' nested panels too) and
// query variables (label_values(SELECTOR, label) -> SELECTOR).
function dashboardExpressions(path) {
  const dashboard = JSON.parse(readFileSync(path, "utf8"));
  const out = [];
  const visit = (panels) => {
    for (const panel of panels || []) {
      for (const target of panel.targets || []) {
        if (target.expr) {
          out.push({ source: `${path}: panel "${panel.title}" ${target.refId}`,
                     kind: "dashboard", raw: target.expr });
        }
      }
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  for (const variable of dashboard.templating?.list || []) {
    if (variable.type !== "query") continue;
    const query = typeof variable.query === "string" ? variable.query : variable.query?.query;
    const match = /^label_values\((.*),\s*([a-zA-Z_]\w*)\)$/.exec(query || "");
    if (!match) throw new Error(`${path}: variable ${variable.name}: unsupported query ${query}`);
    out.push({ source: `${path}: variable ${variable.name}`, kind: "variable", raw: match[1],
               label: match[2] });
  }
  return out;
}

function ruleExpressions(path) {
  const doc = parseYaml(readFileSync(path, "utf8"));
  const out = [];
  for (const group of doc.groups || []) {
    for (const rule of group.rules || []) {
      const name = rule.alert || rule.record;
      out.push({ source: `${path}: ${group.name}/${name}`, kind: rule.alert ? "alert" : "record",
                 raw: String(rule.expr) });
    }
  }
  return out;
}

// Parses `expr`; returns {errors, selectors: [{text, metric, labels: [name]}], groupings}.
function analyse(expr) {
  const tree = parser.parse(expr);
  const errors = [];
  const selectors = [];
  const groupings = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        errors.push(`syntax error at ${node.from}: "${expr.slice(node.from, node.to + 10)}"`);
      }
      if (node.name === "VectorSelector") {
        const selector = { text: expr.slice(node.from, node.to), metric: null, labels: [] };
        const cursor = node.node.cursor();
        cursor.iterate((child) => {
          if (child.name === "Identifier" && child.node.parent?.name === "VectorSelector") {
            selector.metric = expr.slice(child.from, child.to);
          }
          if (child.name === "LabelMatcher") {
            const name = child.node.getChild("LabelName");
            const value = child.node.getChild("StringLiteral");
            const labelName = expr.slice(name.from, name.to);
            if (labelName === "__name__" && value) {
              selector.metric = JSON.parse(expr.slice(value.from, value.to));
            } else {
              selector.labels.push(labelName);
            }
          }
        });
        selectors.push(selector);
      }
      if (node.name === "GroupingLabels") {
        const cursor = node.node.cursor();
        cursor.iterate((child) => {
          if (child.name === "LabelName") groupings.push(expr.slice(child.from, child.to));
        });
      }
    },
  });
  return { errors, selectors, groupings };
}

// Metric names -> label names, from a text exposition. A histogram family contributes
// NAME_bucket (with le), NAME_sum and NAME_count.
function exportedMetrics(path) {
  const text = readFileSync(path, "utf8");
  const metrics = new Map();
  const add = (name, labels) => {
    if (!metrics.has(name)) metrics.set(name, new Set());
    for (const label of labels) metrics.get(name).add(label);
  };
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      if (type[2] === "histogram") {
        add(`${type[1]}_bucket`, ["le"]);
        add(`${type[1]}_sum`, []);
        add(`${type[1]}_count`, []);
      } else {
        add(type[1], []);
      }
      continue;
    }
    if (line.startsWith("#") || line.trim() === "") continue;
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s/.exec(line);
    if (!sample) continue;
    const labels = [...(sample[2] || "").matchAll(/([a-zA-Z_]\w*)="/g)].map((m) => m[1]);
    add(sample[1], labels);
  }
  return metrics;
}

function collect(args) {
  const entries = [];
  for (const path of args.dashboard || []) entries.push(...dashboardExpressions(path));
  for (const path of args.rules || []) entries.push(...ruleExpressions(path));
  for (const entry of entries) {
    entry.expr = substitute(entry.raw);
    entry.analysis = analyse(entry.expr);
  }
  return entries;
}

function check(args) {
  if (!args.exposition) throw new Error("check needs --exposition FILE");
  const metrics = exportedMetrics(args.exposition[0]);
  const allLabels = new Set(TARGET_LABELS);
  for (const labels of metrics.values()) for (const label of labels) allLabels.add(label);
  const entries = collect(args);
  const problems = [];
  let selectorCount = 0;
  for (const entry of entries) {
    const { errors, selectors, groupings } = entry.analysis;
    for (const error of errors) problems.push(`${entry.source}: ${error}\n    ${entry.expr}`);
    if (selectors.length === 0 && entry.kind !== "variable") {
      problems.push(`${entry.source}: names no metric: ${entry.expr}`);
    }
    for (const selector of selectors) {
      selectorCount++;
      if (!selector.metric) {
        problems.push(`${entry.source}: selector without a metric name: ${selector.text}`);
        continue;
      }
      if (SYNTHETIC_METRICS.has(selector.metric)) continue;
      const labels = metrics.get(selector.metric);
      if (!labels) {
        problems.push(`${entry.source}: ${selector.metric} is not exported by blockstored`);
        continue;
      }
      for (const label of selector.labels) {
        if (!labels.has(label) && !TARGET_LABELS.has(label)) {
          problems.push(`${entry.source}: ${selector.metric} has no label "${label}"`);
        }
      }
    }
    for (const label of groupings) {
      if (!allLabels.has(label)) problems.push(`${entry.source}: no metric has label "${label}"`);
    }
    if (entry.label && !allLabels.has(entry.label)) {
      problems.push(`${entry.source}: no metric has label "${entry.label}"`);
    }
  }
  if (entries.length === 0) problems.push("no expressions found");
  for (const problem of problems) console.error(problem);
  console.log(`${entries.length} expressions, ${selectorCount} selectors checked against ` +
              `${metrics.size} exported series names: ${problems.length} problems`);
  return problems.length === 0 ? 0 : 1;
}

function list(args) {
  const entries = collect(args).map((e) => ({
    source: e.source, kind: e.kind, expr: e.expr,
    selectors: e.analysis.selectors.map((s) => s.text),
  }));
  console.log(JSON.stringify(entries, null, 1));
  return 0;
}

const args = parseArgs(process.argv.slice(2));
const command = args._[0];
try {
  process.exitCode = command === "check" ? check(args) : command === "list" ? list(args) : 2;
  if (process.exitCode === 2) console.error("usage: promql.mjs check|list ...");
} catch (e) {
  console.error(e.message);
  process.exitCode = 1;
}
