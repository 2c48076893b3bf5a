// What can be checked of docker/ without a Docker daemon: every path COPY'd from the
// build context exists and is not excluded by the Dockerfile's .dockerignore; every
// --from stage exists; each image target runs as a non-root user with a HEALTHCHECK
// and an ENTRYPOINT it has; builders run scripts/install-deps.sh and scripts/build.sh;
// and the runtime package lists, with what apt installs along with them and what
// debian:12-slim has, cover every shared library `ldd` reports for the built binaries
// (prometheus-cpp, which the images copy from the builder, excepted).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { binaries, Checks, commandExists, parseArgs, skip } from "./lib.mjs";

const args = parseArgs();
const checks = new Checks();
const docker = path.join(args.source, "docker");

function parseDockerfile(file) {
  const text = fs.readFileSync(file, "utf8").replace(/\\\n/g, " ");
  const stages = [];
  for (const line of text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))) {
    const [op, ...rest] = line.split(/\s+/);
    const arg = rest.join(" ");
    if (op === "FROM") stages.push({ from: rest[0], name: /\bAS\s+(\S+)/i.exec(arg)?.[1] ?? null, ops: [] });
    else stages.at(-1)?.ops.push({ op, arg });
  }
  return stages;
}

function ignored(patterns, rel) {
  return patterns.some((p) => rel === p || rel.startsWith(`${p}/`) || (p.endsWith("*") && rel.startsWith(p.slice(0, -1))));
}

function checkDockerfile(file) {
  const name = path.relative(args.source, file);
  const stages = parseDockerfile(file);
  const ignore = fs.readFileSync(`${file}.dockerignore`, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const names = new Set(stages.map((s) => s.name));
  const runs = stages.flatMap((s) => s.ops.filter((o) => o.op === "RUN").map((o) => o.arg)).join("\n");
  checks.check(runs.includes("scripts/install-deps.sh") && runs.includes("scripts/build.sh"), `${name}: the builder does not run install-deps.sh and build.sh`);
  for (const stage of stages) {
    for (const { op, arg } of stage.ops.filter((o) => o.op === "COPY")) {
      const from = /--from=(\S+)/.exec(arg)?.[1];
      const paths = arg.split(/\s+/).filter((w) => !w.startsWith("--")).slice(0, -1);
      if (from) {
        checks.check(names.has(from), `${name}: COPY --from=${from} names no stage`);
        continue;
      }
      for (const p of paths) {
        const rel = p === "." ? "." : path.normalize(p).replace(/\/$/, "");
        checks.check(fs.existsSync(path.join(args.source, rel)), `${name}: ${op} ${p}: no such path in the repository`);
        checks.check(rel === "." || !ignored(ignore, rel), `${name}: ${op} ${p} is excluded by ${name}.dockerignore`);
      }
    }
  }
  // Image targets: the last stage and every stage built FROM the runtime stage.
  const targets = stages.filter((s, i) => i === stages.length - 1 || names.has(s.from));
  for (const t of targets) {
    const chain = [t];
    while (names.has(chain.at(-1).from)) chain.push(stages.find((s) => s.name === chain.at(-1).from));
    const ops = chain.flatMap((s) => s.ops);
    const where = `${name} target ${t.name ?? "(last)"}`;
    checks.check(chain.at(-1).from === "debian:12-slim", `${where}: not based on debian:12-slim`);
    const user = ops.find((o) => o.op === "USER")?.arg;
    checks.check(user && !/^(0|root)\b/.test(user), `${where}: runs as root`);
    const entry = JSON.parse(ops.findLast((o) => o.op === "ENTRYPOINT")?.arg ?? "[]")[0];
    // Services only: the CLI image runs one command and exits.
    if (entry !== "vmle") checks.check(ops.some((o) => o.op === "HEALTHCHECK" && o.arg.includes("vmle")), `${where}: no HEALTHCHECK with vmle health`);
    checks.check(entry && ops.some((o) => o.op === "COPY" && o.arg.includes(`/${entry}`)), `${where}: ENTRYPOINT ${entry} is not copied in`);
  }
  return targets.length;
}

function packageList(file) {
  return fs.readFileSync(path.join(docker, "packages", file), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
}

// The packages apt installs for `wanted` plus the base image's (priority required).
function closure(wanted) {
  const r = spawnSync("apt-cache", ["depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks",
    "--no-replaces", "--no-enhances", ...wanted], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`apt-cache depends: ${r.stderr}`);
  const out = new Set(r.stdout.split("\n").filter((l) => /^\S/.test(l)).map((l) => l.trim()));
  const base = spawnSync("dpkg-query", ["-W", "-f=${Package} ${Priority}\n"], { encoding: "utf8" }).stdout;
  for (const line of base.split("\n")) if (line.endsWith(" required")) out.add(line.split(" ")[0]);
  return out;
}

function checkRuntimeLibraries() {
  if (!commandExists("ldd") || !commandExists("apt-cache") || !commandExists("dpkg")) {
    return console.log("SKIPPED part: ldd, apt-cache or dpkg missing: the runtime package lists are not checked");
  }
  const bin = binaries(args, ["vmle-memory", "vmle-agent", "vmle-worker", "vmle"]);
  const have = closure([...packageList("runtime.txt"), ...packageList("runtime-torch.txt")]);
  const libsOf = Object.fromEntries(Object.entries(bin).map(([name, file]) => [name,
    spawnSync("ldd", [file], { encoding: "utf8" }).stdout.split("\n").map((l) => /=>\s+(\/\S+)/.exec(l)?.[1])
      .filter((l) => l && !/libprometheus-cpp-(core|pull)\.so/.test(l))]));
  // One dpkg -S for every library, under each name dpkg may know it by (the link ldd
  // shows, its target, and both under /lib, which merged /usr links to /usr/lib).
  const unique = [...new Set(Object.values(libsOf).flat())];
  const names = (l) => { const r = fs.realpathSync(l); return [l, r, r.replace(/^\/usr\/lib\//, "/lib/")]; };
  const owners = new Map();
  const out = spawnSync("dpkg", ["-S", ...new Set(unique.flatMap(names))], { encoding: "utf8", maxBuffer: 64 << 20 }).stdout;
  for (const line of out.split("\n")) {
    const m = /^([^:,]+)(?::[a-z0-9]+)?(?:,[^:]*)?: (\S+)$/.exec(line);
    if (m) owners.set(m[2], m[1]);
  }
  for (const [name, libs] of Object.entries(libsOf)) {
    checks.check(libs.length > 0, `${name}: ldd reports no libraries`);
    for (const lib of libs) {
      const pkg = names(lib).map((n) => owners.get(n)).find(Boolean);
      checks.check(pkg && have.has(pkg), `${name}: ${lib} (package ${pkg || "none"}) is not installed by docker/packages/*.txt`);
    }
  }
}

let targets = 0;
for (const f of fs.readdirSync(docker).filter((f) => f === "Dockerfile" || f.endsWith(".Dockerfile"))) {
  targets += checkDockerfile(path.join(docker, f));
}
checks.check(targets === 5, `expected 5 image targets (memory, agent, worker, cli, worker-cuda), found ${targets}`);
if (!fs.existsSync(args.bin_dir)) skip(`no build directory ${args.bin_dir}`);
checkRuntimeLibraries();
checks.finish();
