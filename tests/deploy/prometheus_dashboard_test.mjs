// End to end: a local cluster (vmle-memory, vmle-agent, two vmle-worker processes on
// loopback) runs studies — heuristic on synthetic data, llm against a fake endpoint,
// one on a missing file (a bad_data failure) and one refused submission (a gRPC error)
// — while Debian's Prometheus scrapes it with deploy/prometheus/prometheus.yml (targets
// written beside a copy, scrape interval 1 s). Every PromQL expression of
// deploy/grafana/vmle-dashboard.json must then return a finite value over the test's
// time range, and every metric it names must be one the services export.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { startFakeLlm } from "./fake_llm.mjs";
import { binaries, Checks, Cluster, commandExists, deadline, freePort, parseArgs, requireNpm, skip, sleep, tempDir } from "./lib.mjs";

const args = parseArgs();
if (!commandExists("prometheus")) skip("prometheus is not installed (scripts/install-deps.sh --with-deploy-tests installs Debian's)");
const YAML = requireNpm(args, "yaml");
const bin = binaries(args, ["vmle-memory", "vmle-agent", "vmle-worker", "vmle"]);
const checks = new Checks();
const dir = tempDir("prometheus");
const cluster = new Cluster(dir);
deadline(280, () => cluster.kill());
const dashboard = JSON.parse(fs.readFileSync(path.join(args.source, "deploy/grafana/vmle-dashboard.json"), "utf8"));
const targets = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

// Metric names in the dashboard against the names the services register.
function exportedMetrics() {
  const names = new Set();
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(cc|h)$/.test(e.name)) for (const m of fs.readFileSync(p, "utf8").matchAll(/"(vmle_[a-z0-9_]+)"/g)) names.add(m[1]);
    }
  };
  walk(path.join(args.source, "services"));
  walk(path.join(args.source, "common"));
  return names;
}
const exported = exportedMetrics();
for (const { panel, expr } of targets) {
  for (const [m] of expr.matchAll(/\bvmle_[a-z0-9_]+/g)) {
    const base = m.replace(/_(bucket|count|sum)$/, "");
    checks.check(exported.has(m) || exported.has(base), `panel "${panel}": ${m} is not exported by any service`);
  }
}

async function promQuery(port, query, range) {
  const params = new URLSearchParams({ query, ...range });
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/${range ? "query_range" : "query"}?${params}`);
  const body = await res.json();
  if (body.status !== "success") throw new Error(`${query}: ${body.error}`);
  return body.data.result;
}
const scalar = async (port, q) => Number((await promQuery(port, q))[0]?.value?.[1] ?? 0);

function studyFile(name, spec) {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, YAML.stringify({ name, ...spec }));
  return file;
}

function submit(agent, file) {
  const r = spawnSync(bin.vmle, ["--agent", `127.0.0.1:${agent}`, "submit", "--file", file], { encoding: "utf8", timeout: 30000 });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

const small = {
  dataset: { format: "DATASET_FORMAT_SYNTHETIC", synthetic_users: 300, synthetic_items: 120 },
  fixed: { values: { max_epochs: { int_value: 3 }, hidden_dim: { int_value: 16 }, num_negatives: { int_value: 32 } } },
};

try {
  const llm = await startFakeLlm();
  const memory = await cluster.service("memory", bin["vmle-memory"], [`--db=${dir}/db`, "--sync_writes=false"]);
  // The endpoint is the operator's configuration (--llm_endpoints_file); a study only names it.
  const endpoints = path.join(dir, "llm-endpoints.json");
  fs.writeFileSync(endpoints, JSON.stringify({ endpoints: [{ name: "fake", base_url: llm.baseUrl, models: ["fake"],
    api_key_env: "OPENAI_API_KEY", timeout_seconds: 30, max_attempts: 2 }] }));
  const agent = await cluster.service("agent", bin["vmle-agent"], [`--memory=127.0.0.1:${memory.grpc}`, "--heartbeat_seconds=2",
    `--llm_endpoints_file=${endpoints}`, `--transcript_dir=${dir}/transcripts`], { OPENAI_API_KEY: "test-key" });
  const workers = [];
  for (const i of [1, 2]) {
    workers.push(await cluster.service(`worker-${i}`, bin["vmle-worker"],
      [`--agent=127.0.0.1:${agent.grpc}`, `--data_root=${dir}`, "--threads=1", "--lease_wait_seconds=2"], { OMP_NUM_THREADS: "1" }));
  }

  // The committed configuration, its targets written beside a copy, scraped every second.
  const config = YAML.parse(fs.readFileSync(path.join(args.source, "deploy/prometheus/prometheus.yml"), "utf8"));
  config.global.scrape_interval = "1s";
  config.global.evaluation_interval = "1s";
  fs.mkdirSync(path.join(dir, "targets"));
  const target = (port) => [{ targets: [`127.0.0.1:${port}`] }];
  fs.writeFileSync(path.join(dir, "targets/agent.yml"), YAML.stringify(target(agent.metrics)));
  fs.writeFileSync(path.join(dir, "targets/memory.yml"), YAML.stringify(target(memory.metrics)));
  workers.forEach((w, i) => fs.writeFileSync(path.join(dir, `targets/worker-${i + 1}.yml`), YAML.stringify(target(w.metrics))));
  fs.writeFileSync(path.join(dir, "prometheus.yml"), YAML.stringify(config));
  const promPort = await freePort();
  const prom = cluster.spawn("prometheus", "prometheus", [`--config.file=${dir}/prometheus.yml`, `--storage.tsdb.path=${dir}/tsdb`,
    `--web.listen-address=127.0.0.1:${promPort}`, "--log.level=warn"]);
  const start = Date.now() / 1000;

  const submitted = {
    heuristic: submit(agent.grpc, studyFile("heuristic", { ...small, budget: { max_trials: 40, parallelism: 1, no_improvement_patience: 40 } })),
    llm: submit(agent.grpc, studyFile("llm", { ...small, budget: { max_trials: 3, parallelism: 1 },
      planner: { name: "llm", options: { endpoint: "fake", model: "fake", max_repairs: "0" } } })),
    bad_data: submit(agent.grpc, studyFile("bad-data", { dataset: { path: "missing.txt" }, budget: { max_trials: 2, parallelism: 1 } })),
    refused: submit(agent.grpc, studyFile("refused", { ...small, budget: { max_trials: 0 } })),
  };
  checks.check(submitted.heuristic.ok, `the heuristic study was refused: ${submitted.heuristic.out}`);
  checks.check(submitted.bad_data.ok, `the bad-data study was refused: ${submitted.bad_data.out}`);
  checks.check(!submitted.refused.ok && submitted.refused.out.includes("max_trials"), `a zero-trial study was not refused by name: ${submitted.refused.out}`);
  const noLlmPlanner = !submitted.llm.ok && submitted.llm.out.includes("unknown planner");
  checks.check(submitted.llm.ok || noLlmPlanner, `the llm study was refused: ${submitted.llm.out}`);
  if (checks.failures.length > 0) throw new Error("a submission went wrong");

  // Until every kind of event the dashboard shows has happened and been scraped.
  const wanted = {
    "trials succeeded": 'sum(vmle_agent_trial_transitions_total{status="succeeded"}) >= 3',
    "epochs trained": "sum(vmle_worker_epoch_seconds_count) >= 6",
    "a worker failure": "sum(vmle_worker_failures_total) >= 1",
    "a refused call": 'sum(vmle_grpc_server_handled_total{grpc_code!="OK"}) >= 1',
  };
  let missing = Object.keys(wanted);
  for (let i = 0; i < 180 && missing.length > 0; i++) {
    if (prom.exitCode !== null) throw new Error(`prometheus exited:\n${cluster.log("prometheus")}`);
    await sleep(1000);
    const still = [];
    for (const w of missing) if ((await promQuery(promPort, wanted[w]).catch(() => [])).length === 0) still.push(w);
    missing = still;
  }
  checks.check(missing.length === 0, `never seen within 180 s: ${missing.join(", ")}`);
  // The fake endpoint answers slowly (longer than a scrape interval): wait for a few of its requests.
  for (let i = 0; i < 120 && !noLlmPlanner && llm.requests() < 4; i++) await sleep(500);
  checks.check(noLlmPlanner || llm.requests() >= 3, `the llm planner sent ${llm.requests()} requests, not 3`);
  const agentMetrics = await (await fetch(`http://127.0.0.1:${agent.metrics}/metrics`)).text();
  const llmReason = noLlmPlanner
    ? `this vmle-agent has no llm planner (${submitted.llm.out})`
    : agentMetrics.includes("vmle_agent_llm_requests_total")
      ? null
      : `the llm planner sent ${llm.requests()} requests to the endpoint but the agent's /metrics has no vmle_agent_llm_* metric (its LLM client is given no metrics registry)`;
  checks.check((await scalar(promPort, 'count(up{job=~"vmle-.*"} == 1)')) === 4, "Prometheus does not see all four targets up");
  await sleep(5000);

  const range = { start: String(start), end: String(Date.now() / 1000), step: "1" };
  const llmPanels = [];
  for (const { panel, expr } of targets) {
    const query = expr.replaceAll("$__rate_interval", "15s");
    const series = await promQuery(promPort, query, range);
    const hasData = series.some((s) => s.values.some(([, v]) => Number.isFinite(Number(v))));
    if (llmReason && expr.includes("vmle_agent_llm_")) {
      if (!hasData) llmPanels.push(panel);
      continue;
    }
    checks.check(hasData, `panel "${panel}": no data for ${query}`);
  }
  console.log(`${targets.length} dashboard queries evaluated over ${Math.round(Date.now() / 1000 - start)} s; fake LLM requests: ${llm.requests()}`);
  llm.close();
  if (llmReason && checks.failures.length === 0) {
    await cluster.stop();
    console.log(`${checks.passed} passed, 0 failed`);
    skip(`every panel had data except the LLM panels (${[...new Set(llmPanels)].join("; ")}): ${llmReason}`);
  }
} catch (e) {
  checks.check(false, e.stack);
  for (const { name } of cluster.procs) console.log(`--- ${name} log:\n${cluster.log(name)}`);
}
await cluster.stop();
checks.finish();
