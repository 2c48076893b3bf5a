// What the deployment tests share: arguments, skipping (exit 77, which CTest reports as
// skipped), npm packages from the private folder scripts/install-deps.sh
// --with-deploy-tests fills, and VirtualMLE processes on loopback with ports picked by
// the kernel (each writes its ports to a ready file).
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

export const SKIP = 77;
const INSTALL_HINT = "run scripts/install-deps.sh --with-deploy-tests";

// --source DIR (repository root), --bin_dir DIR (a build directory), --npm_dir DIR.
export function parseArgs(argv = process.argv.slice(2)) {
  const args = {
    source: path.resolve(new URL("../..", import.meta.url).pathname),
    bin_dir: null,
    npm_dir: process.env.VMLE_NPM_DIR || path.join(os.homedir(), ".cache/vmle/npm"),
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in args) || i + 1 >= argv.length) throw new Error(`unknown or incomplete argument ${argv[i]}`);
    args[key] = path.resolve(argv[i + 1]);
  }
  args.bin_dir ??= path.join(args.source, "build");
  return args;
}

export function skip(why) {
  console.log(`SKIPPED: ${why}`);
  process.exit(SKIP);
}

// Counts checks; finish() prints each failure and the closing "N passed, N failed".
export class Checks {
  passed = 0;
  failures = [];
  check(ok, what) {
    if (ok) this.passed++;
    else this.failures.push(what);
    return ok;
  }
  finish() {
    for (const f of this.failures) console.log(`FAILED: ${f}`);
    console.log(`${this.passed} passed, ${this.failures.length} failed`);
    process.exit(this.failures.length === 0 ? 0 : 1);
  }
}

// Ends the process with a failure when the test runs past its budget.
export function deadline(seconds, cleanup = () => {}) {
  const t = setTimeout(() => {
    console.log(`FAILED: the test ran past its ${seconds} s budget`);
    cleanup();
    process.exit(1);
  }, seconds * 1000);
  t.unref();
}

function npmPath(args, spec) {
  return path.join(args.npm_dir, "node_modules", spec);
}

// A CommonJS package from the npm folder, or a skip naming it.
export function requireNpm(args, name) {
  if (!fs.existsSync(npmPath(args, name))) skip(`npm package ${name} is not in ${args.npm_dir} (${INSTALL_HINT})`);
  return createRequire(path.join(args.npm_dir, "package.json"))(name);
}

// An ES module of the npm folder by its file path, e.g. "kubernetes-models/apps/v1/Deployment.js";
// null when the file does not exist.
export async function importNpmFile(args, file) {
  const p = npmPath(args, file);
  return fs.existsSync(p) ? import(pathToFileURL(p).href) : null;
}

export function npmBin(args, name) {
  const p = npmPath(args, path.join(".bin", name));
  if (!fs.existsSync(p)) skip(`${name} is not in ${args.npm_dir} (${INSTALL_HINT})`);
  return p;
}

export function commandExists(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `vmle-${prefix}-`));
}

// A port free now, for programs that cannot report the port they bound (Prometheus).
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Binaries of a build directory, or a skip that says which target to build.
export function binaries(args, names) {
  const where = {
    "vmle-memory": "services/memory/vmle-memory",
    "vmle-agent": "services/agent/vmle-agent",
    "vmle-worker": "services/trainer/worker/vmle-worker",
    "vmle-sim-worker": "services/sim/vmle-sim-worker",
    vmle: "services/cli/vmle",
  };
  const out = {};
  for (const n of names) {
    out[n] = path.join(args.bin_dir, where[n]);
    if (!fs.existsSync(out[n])) skip(`${out[n]} is not built (ninja -C ${args.bin_dir} ${n})`);
  }
  return out;
}

function tail(file, lines = 20) {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

// The processes a test started, stopped together with SIGTERM (then SIGKILL).
export class Cluster {
  constructor(dir) {
    this.dir = dir;
    this.procs = [];
  }

  // Starts a service with --listen/--metrics on loopback port 0 and waits for its ready
  // file: {grpc: port, metrics: port, log: path}.
  async service(name, binary, extra = [], env = {}) {
    const ready = path.join(this.dir, `${name}.ready`);
    const log = path.join(this.dir, `${name}.log`);
    const args = ["--listen=127.0.0.1:0", "--metrics=127.0.0.1:0", `--ready_file=${ready}`, ...extra];
    const proc = this.spawn(name, binary, args, env);
    for (let i = 0; i < 600; i++) {
      if (fs.existsSync(ready) && fs.statSync(ready).size > 0) {
        const r = JSON.parse(fs.readFileSync(ready, "utf8"));
        return { grpc: r.grpc_port, metrics: r.metrics_port, log, proc };
      }
      if (proc.exitCode !== null) throw new Error(`${name} exited during startup:\n${tail(log)}`);
      await sleep(100);
    }
    throw new Error(`${name} not ready after 60 s:\n${tail(log)}`);
  }

  // Any other process, its output in DIR/NAME.log.
  spawn(name, binary, args, env = {}) {
    const fd = fs.openSync(path.join(this.dir, `${name}.log`), "w");
    const proc = spawn(binary, args, { stdio: ["ignore", fd, fd], env: { ...process.env, ...env } });
    fs.closeSync(fd);
    proc.on("error", () => {});
    this.procs.push({ name, proc });
    return proc;
  }

  log(name) {
    return tail(path.join(this.dir, `${name}.log`));
  }

  async stop() {
    for (const { proc } of this.procs) if (proc.exitCode === null) proc.kill("SIGTERM");
    for (const { proc } of this.procs) {
      for (let i = 0; i < 150 && proc.exitCode === null && proc.signalCode === null; i++) await sleep(100);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    }
  }

  // Synchronous last resort for the deadline handler.
  kill() {
    for (const { proc } of this.procs) if (proc.exitCode === null) proc.kill("SIGKILL");
  }
}
