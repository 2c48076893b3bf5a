// Submits a study the way grpcurl does: the API is discovered through the agent's
// server reflection only (no .proto file), and the request is JSON (the protobuf JSON
// field names). Client: @grpc/grpc-js with grpc-js-reflection-client. Then reads the
// study back, expects a refused spec to name its field, and cancels the study.
// Health/Check is called through reflection alone on memory, agent, worker and
// `vmle tune --listen` (whose /metrics is scraped too).
// The request has no map field (StudySpec.fixed, planner.options): the descriptors
// grpc-js-reflection-client builds turn maps into repeated entries, which grpcurl does not.
import fs from "node:fs";
import { binaries, Checks, Cluster, deadline, freePort, parseArgs, requireNpm, sleep, tempDir } from "./lib.mjs";

const args = parseArgs();
const grpc = requireNpm(args, "@grpc/grpc-js");
const { GrpcReflection } = requireNpm(args, "grpc-js-reflection-client");
const bin = binaries(args, ["vmle-memory", "vmle-agent", "vmle-worker", "vmle"]);
const checks = new Checks();
const cluster = new Cluster(tempDir("reflection"));
deadline(110, () => cluster.kill());

const request = JSON.parse(`{
  "spec": {
    "name": "reflection-submitted",
    "dataset": {"format": "DATASET_FORMAT_SYNTHETIC", "synthetic_users": 300, "synthetic_items": 120},
    "backbone": "BACKBONE_SASREC",
    "objective": {"metric": "METRIC_NDCG_AT_10"},
    "budget": {"max_trials": 4, "parallelism": 2},
    "planner": {"name": "heuristic"}
  },
  "request_id": "deploy-test-1"
}`);

const call = (client, method, req) =>
  new Promise((resolve) => client[method](req, { deadline: Date.now() + 20000 }, (error, reply) => resolve({ error, reply })));

// grpcurl HOST:PORT grpc.health.v1.Health/Check: the descriptor comes from reflection.
async function checkHealth(name, port) {
  const target = `127.0.0.1:${port}`;
  const reflection = new GrpcReflection(target, grpc.credentials.createInsecure());
  const descriptor = await reflection.getDescriptorBySymbol("grpc.health.v1.Health");
  const api = descriptor.getPackageObject({ keepCase: true, enums: String, defaults: true });
  const health = new api.grpc.health.v1.Health(target, grpc.credentials.createInsecure());
  const reply = await call(health, "Check", { service: "" });
  checks.check(reply.reply?.status === "SERVING",
    `${name}: Health/Check through reflection gave ${JSON.stringify(reply.reply ?? reply.error?.message)}`);
  health.close();
}

// `vmle tune --listen`: waits for its "agent serving on port" line.
async function startTune(port, metricsPort) {
  const out = `${cluster.dir}/tune.log`;
  const proc = cluster.spawn("tune", bin.vmle, ["tune", `--state_dir=${cluster.dir}/tune`, "--trials=60",
    "--parallel=1", `--listen=127.0.0.1:${port}`, `--metrics_listen=127.0.0.1:${metricsPort}`]);
  for (let i = 0; i < 300; i++) {
    if (fs.existsSync(out) && fs.readFileSync(out, "utf8").includes("agent serving on port")) return;
    if (proc.exitCode !== null) throw new Error(`vmle tune exited:\n${cluster.log("tune")}`);
    await sleep(100);
  }
  throw new Error(`vmle tune not serving after 30 s:\n${cluster.log("tune")}`);
}

try {
  const memory = await cluster.service("memory", bin["vmle-memory"], [`--db=${cluster.dir}/db`, "--sync_writes=false"]);
  const agent = await cluster.service("agent", bin["vmle-agent"], [`--memory=127.0.0.1:${memory.grpc}`]);
  const worker = await cluster.service("worker", bin["vmle-worker"], [`--agent=127.0.0.1:${agent.grpc}`]);
  await checkHealth("memory", memory.grpc);
  await checkHealth("agent", agent.grpc);
  await checkHealth("worker", worker.grpc);
  const [tunePort, tuneMetrics] = [await freePort(), await freePort()];
  await startTune(tunePort, tuneMetrics);
  await checkHealth("vmle tune --listen", tunePort);
  const scraped = await (await fetch(`http://127.0.0.1:${tuneMetrics}/metrics`)).text();
  checks.check(scraped.includes("vmle_grpc_server_") && scraped.includes("vmle_agent_"),
    `vmle tune --metrics_listen serves no gRPC or agent metrics:\n${scraped.slice(0, 400)}`);

  const target = `127.0.0.1:${agent.grpc}`;
  const reflection = new GrpcReflection(target, grpc.credentials.createInsecure());

  const services = await reflection.listServices();
  for (const s of ["vmle.v1.StudyService", "vmle.v1.TrialQueue", "grpc.health.v1.Health"]) {
    checks.check(services.includes(s), `reflection does not list ${s} (lists ${services.join(", ")})`);
  }
  const methods = (await reflection.listMethods("vmle.v1.StudyService")).map((m) => m.name);
  checks.check(methods.includes("SubmitStudy") && methods.includes("GetStudy"), `StudyService methods: ${methods.join(", ")}`);

  const descriptor = await reflection.getDescriptorBySymbol("vmle.v1.StudyService");
  const api = descriptor.getPackageObject({ keepCase: true, enums: String, longs: String, defaults: false, oneofs: true });
  const client = new api.vmle.v1.StudyService(target, grpc.credentials.createInsecure());

  const submitted = await call(client, "SubmitStudy", request);
  if (checks.check(!submitted.error, `SubmitStudy failed: ${submitted.error?.message}`)) {
    const study = submitted.reply;
    checks.check(study.id && study.spec.name === "reflection-submitted", `SubmitStudy returned ${JSON.stringify(study)}`);
    const again = await call(client, "SubmitStudy", request);
    checks.check(again.reply?.id === study.id, "the same request_id created a second study");
    const got = await call(client, "GetStudy", { study_id: study.id });
    checks.check(got.reply?.id === study.id && got.reply?.spec?.budget?.max_trials === 4,
      `GetStudy returned ${JSON.stringify(got.reply ?? got.error?.message)}`);
    const listed = await call(client, "ListStudies", {});
    checks.check((listed.reply?.studies ?? []).some((s) => s.id === study.id), "ListStudies does not list the study");
    const cancelled = await call(client, "CancelStudy", { study_id: study.id, reason: "deploy test" });
    checks.check(!cancelled.error, `CancelStudy failed: ${cancelled.error?.message}`);
  }

  const refused = await call(client, "SubmitStudy", { spec: { ...request.spec, budget: { max_trials: 0 } } });
  checks.check(refused.error?.code === grpc.status.INVALID_ARGUMENT && refused.error.details.includes("max_trials"),
    `a zero-trial spec gave ${refused.error?.code} ${refused.error?.details}`);
  client.close();
} catch (e) {
  checks.check(false, e.stack);
  for (const { name } of cluster.procs) console.log(`--- ${name} log:\n${cluster.log(name)}`);
}
await cluster.stop();
checks.finish();
