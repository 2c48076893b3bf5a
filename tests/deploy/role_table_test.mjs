// The README role table against live servers: memory and agent run with a tokens file
// holding one token per role; every method of every service they serve is found
// through server reflection alone and called with each role's token (and with none).
// A method that answers PERMISSION_DENIED or UNAUTHENTICATED is a "no", anything else
// (the request is empty, so usually INVALID_ARGUMENT) a "yes"; each must match the
// method's README row, and a served method without a row fails the test.
import fs from "node:fs";
import { binaries, Checks, Cluster, deadline, parseArgs, requireNpm } from "./lib.mjs";

const args = parseArgs();
const grpc = requireNpm(args, "@grpc/grpc-js");
const { GrpcReflection } = requireNpm(args, "grpc-js-reflection-client");
const bin = binaries(args, ["vmle-memory", "vmle-agent"]);
const checks = new Checks();
const cluster = new Cluster(fs.mkdtempSync("/tmp/vmle-roles-"));
deadline(110, () => cluster.kill());

// Columns of README's table after the method.
const roles = ["submitter", "viewer", "worker", "agent", "operator"];
const tokens = Object.fromEntries(roles.map((r) => [r, `${r}-token-0123456789abcdef`]));
const columns = [...roles.map((r) => tokens[r]), ""];

function readmeTable() {
  const table = new Map();
  for (const line of fs.readFileSync(`${args.source}/README.md`, "utf8").split("\n")) {
    if (!line.startsWith("| `/")) continue;
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    if (cells.length !== columns.length + 1) continue;
    table.set(cells[0].replaceAll("`", ""), cells.slice(1));
  }
  return table;
}

// "yes" unless the call is refused for its token. Streams end after their first
// message, error or a short deadline.
function outcome(client, name, definition, token) {
  const metadata = new grpc.Metadata();
  if (token) metadata.set("authorization", `Bearer ${token}`);
  const options = { deadline: Date.now() + 3000 };
  return new Promise((resolve) => {
    const decide = (error) =>
      resolve(error && [grpc.status.PERMISSION_DENIED, grpc.status.UNAUTHENTICATED].includes(error.code) ? "no" : "yes");
    if (!definition.requestStream && !definition.responseStream) {
      client[name]({}, metadata, options, (error) => decide(error));
      return;
    }
    const stream = definition.requestStream ? client[name](metadata, options) : client[name]({}, metadata, options);
    stream.on("data", () => { decide(null); stream.cancel(); });
    stream.on("error", (error) => decide(error.code === grpc.status.CANCELLED ? null : error));
    stream.on("end", () => decide(null));
    if (definition.requestStream) {
      stream.write({ list_services: "" });
      stream.end();
    }
  });
}

try {
  const tokenFile = `${cluster.dir}/tokens`;
  fs.writeFileSync(tokenFile, roles.map((r) => `${r} ${tokens[r]}`).join("\n") + "\n");
  fs.writeFileSync(`${cluster.dir}/agent.token`, tokens.agent + "\n");
  const memory = await cluster.service("memory", bin["vmle-memory"],
    [`--db=${cluster.dir}/db`, "--sync_writes=false", `--auth_tokens_file=${tokenFile}`]);
  const agent = await cluster.service("agent", bin["vmle-agent"], [`--memory=127.0.0.1:${memory.grpc}`,
    `--memory_auth_token_file=${cluster.dir}/agent.token`, `--auth_tokens_file=${tokenFile}`]);
  const table = readmeTable();
  const served = new Set();
  for (const [server, port] of [["memory", memory.grpc], ["agent", agent.grpc]]) {
    const target = `127.0.0.1:${port}`;
    const reflection = new GrpcReflection(target, grpc.credentials.createInsecure());
    for (const service of await reflection.listServices()) {
      const descriptor = await reflection.getDescriptorBySymbol(service);
      const api = descriptor.getPackageObject({ keepCase: true, defaults: false });
      const Client = service.split(".").reduce((o, k) => o?.[k], api);
      if (!checks.check(typeof Client === "function", `${server}: reflection gives no client for ${service}`)) continue;
      const client = new Client(target, grpc.credentials.createInsecure());
      for (const [name, definition] of Object.entries(Client.service)) {
        const method = definition.path;
        served.add(method);
        const row = table.get(method);
        if (!checks.check(row !== undefined, `${server} serves ${method}, which has no row in README's role table`)) continue;
        for (let c = 0; c < columns.length; c++) {
          const got = await outcome(client, name, definition, columns[c]);
          const who = c < roles.length ? roles[c] : "no token";
          checks.check(got === row[c], `${server} ${method} for ${who}: the server says ${got}, README says ${row[c]}`);
        }
      }
      client.close();
    }
  }
  for (const method of table.keys()) {
    checks.check(served.has(method), `README's role table names ${method}, which neither server serves`);
  }
  checks.check(served.size > 30, `only ${served.size} methods found through reflection`);
} catch (e) {
  checks.check(false, e.stack);
  for (const { name } of cluster.procs) console.log(`--- ${name} log:\n${cluster.log(name)}`);
}
await cluster.stop();
checks.finish();
