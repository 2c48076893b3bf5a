#!/usr/bin/env python3
"""bench/tuning: planners side by side, and transfer, with real `vmle tune` processes.

Compare mode (the default) runs one study per planner and seed on one dataset and
backbone, each in its own fresh state directory, and reports per planner: the mean and
spread of the best validation objective after 4, 8, 16 and the full budget of trials;
the trials needed to reach a target (a study that never reaches it counts as the budget +
1); the test metrics of each study's best-on-validation trial; the training and wall time;
paired differences against random_default (the same seeds); and a plot of the mean best so
far with its 95% interval band per planner (SVG). An arm is a planner, or a planner with
ablations: heuristic+reflection_off, heuristic+memory_off, heuristic+transfer_off.

The target is the best-known validation value for the dataset and backbone, from a
reference run the script keeps as OUT/reference.json: --reference_grid PARAM,... grids
those parameters (--grid_points values each, at most 81 points, the others at their
defaults, the same --fixed and --narrow) on the first seed and trains its best point on
every seed; --reference_config KEY=VALUE,... trains a given configuration on every seed.
The target is the lower end of the 95% interval of that mean ("within one interval of the
reference's best"). Without a reference it is 95% of the best any study found.

  bench/tuning/run.py --data ../shared/data/LastFM.txt --planners heuristic,random,tpe \\
      --trials 16 --seeds 1,2,3 --fixed max_epochs=10 --out /tmp/bench-tuning/lastfm

Transfer mode distills one heuristic study on --source (its cognition summary), then
tunes --data from a copy of that state directory ("with"), from a fresh one
("without") and from the summary of an unrelated --control dataset ("control"), with
the same planner, budget and seeds; its target is the "without" arm's mean best:

  bench/tuning/run.py --transfer --source ../shared/data/Sports_and_Outdoors.txt \\
      --data ../shared/data/Beauty.txt --control ../shared/data/LastFM.txt ...

A dataset is a file or `synthetic:USERSxITEMS:SEED` (the built-in generator).
`--short` is the CI mode: synthetic data, a tiny budget, max_epochs 2, hidden 16, both
modes, and consistency checks (exit status 1 when one fails).

Studies already finished under --out are not run again (delete a study's folder to
rerun it); --analyze_only only reads them. A run longer than one machine's lifetime
keeps its finished studies with --kept DIR (a folder in the repository, say): each
finished study's record (its trials CSV, log, command, commit, exit status and wall
time; not its state directory, except a transfer run's distillation studies, whose
state the transfer arms start from) is copied there, and a later run with the same --kept
starts from them, so only unfinished studies run again. Each study's trials are read back as the
`vmle trials --csv` table by starting vmle-memory and vmle-agent on its state
directory after `vmle tune` has exited. LLM planners (llm, opro) run only when an
endpoints file is given (--llm_endpoints_file or VMLE_BENCH_LLM_ENDPOINTS_FILE, the
operator configuration `vmle tune --llm_endpoints_file` reads: README "LLM endpoints");
--llm_endpoint and --llm_model pick an endpoint and model of it (default: the only
endpoint, its first model); otherwise they are skipped.
"""
import argparse
import concurrent.futures
import csv
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALL_PLANNERS = ['heuristic', 'random', 'random_default', 'tpe', 'grid', 'llm', 'opro']
LLM_PLANNERS = ('llm', 'opro')
CHECKPOINTS = (4, 8, 16)
# Transfer also reports the best after 2 trials: the baseline and the transferred
# configuration.
TRANSFER_CHECKPOINTS = (2,) + CHECKPOINTS
COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf']
REQUIRED_TRIAL_COLUMNS = ('number', 'status', 'objective', 'train_seconds')
ABLATIONS = ('reflection_off', 'memory_off', 'transfer_off')
# The code measured: the commit of the checkout, "-dirty" with uncommitted changes.
COMMIT = subprocess.run(['git', '-C', ROOT, 'describe', '--always', '--dirty'], capture_output=True,
                        text=True).stdout.strip() or 'unknown'


# The `vmle tune` processes running now. vmle blocks SIGTERM and SIGINT (it waits for
# them only as a service), so an interrupted benchmark kills them itself.
RUNNING = set()
RUNNING_LOCK = threading.Lock()
STOPPING = False


def start_tune(cmd, out):
    global STOPPING
    with RUNNING_LOCK:
        if STOPPING:
            return None
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        RUNNING.add(proc)
        return proc


def wait_recording(proc, path, start):
    """Waits for proc, writing the wall time so far to path every few seconds, so that a
    study the benchmark continues after being killed counts its earlier time too."""
    while True:
        try:
            return proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with open(path + '.tmp', 'w') as f:
                f.write(f'{time.time() - start:.1f}\n')
            os.replace(path + '.tmp', path)


def kill_running(signum=None, frame=None):
    global STOPPING
    with RUNNING_LOCK:
        STOPPING = True
        for proc in RUNNING:
            proc.kill()
    if signum is not None:
        os._exit(128 + signum)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- running studies

class Runner:
    def __init__(self, args):
        self.args = args
        self.bin = {name: os.path.join(args.build, path) for name, path in (
            ('vmle', 'services/cli/vmle'), ('memory', 'services/memory/vmle-memory'),
            ('agent', 'services/agent/vmle-agent'))}
        for name, path in self.bin.items():
            if not os.access(path, os.X_OK):
                sys.exit(f'run.py: {path} is not built (cd build && ninja vmle vmle-agent vmle-memory)')

    def spec_flags(self, data, study_dir):
        """`vmle tune` flags naming the dataset (--data FILE) and, through a study file, the
        synthetic dataset and the narrowed search space."""
        lines, flags = [], []
        if data.startswith('synthetic'):
            parts = data.split(':')
            users, items = (parts[1].split('x') if len(parts) > 1 else ('2000', '500'))
            seed = parts[2] if len(parts) > 2 else '0'
            lines.append('dataset: {format: DATASET_FORMAT_SYNTHETIC, '
                         f'synthetic_users: {int(users)}, synthetic_items: {int(items)}, '
                         f'synthetic_seed: {int(seed)}}}')
        else:
            flags = ['--data', os.path.abspath(data)]
        if self.args.narrow:
            lines.append('search_space:')
            lines.append('  params:')
            for item in self.args.narrow:
                lines.append('    - ' + narrowed_param(item))
        if lines:
            path = os.path.join(study_dir, 'study.yaml')
            with open(path, 'w') as f:
                f.write('\n'.join(lines) + '\n')
            flags += ['--file', path]
        return flags

    def run_study(self, label, data, planner, seed, state_from=None, extra=(), trials=None, parallel=None):
        """Runs one `vmle tune` in out/studies/LABEL unless it already finished there, then
        reads its trials back. planner: a name, or NAME+ABLATION[+...] (reflection_off,
        memory_off, transfer_off); state_from: a state directory copied in first (transfer);
        trials, parallel: the budget and trials at once when they are not --trials, --parallel."""
        a = self.args
        planner, *ablations = planner.split('+')
        extra = [f'--{x}' for x in ablations] + list(extra)
        d = os.path.join(a.out, 'studies', label)
        if not os.path.exists(os.path.join(d, 'rc')):
            state = os.path.join(d, 'state')
            # An interrupted study continues from its state (vmle tune resumes the study its
            # --state_dir holds when the settings are the same); anything else starts afresh.
            resume = os.path.exists(os.path.join(state, 'state'))
            earlier = 0.0
            if resume:
                partial = os.path.join(d, 'wall_seconds_partial')
                if os.path.exists(partial):
                    with open(partial) as f:
                        earlier = float(f.read())
            else:
                if os.path.exists(d):
                    shutil.rmtree(d)
                os.makedirs(d)
                if state_from:
                    shutil.copytree(os.path.join(state_from, 'state'), os.path.join(state, 'state'))
            cmd = [self.bin['vmle'], 'tune'] + self.spec_flags(data, d) + [
                '--backbone', a.backbone, '--planner', planner, '--trials', str(trials or a.trials),
                '--parallel', str(parallel or a.parallel), '--threads', str(a.threads), '--seed', str(seed)]
            for kv in a.fixed:
                cmd += ['--fixed', kv]
            for kv in a.option + (llm_options(a) if planner in LLM_PLANNERS else []):
                cmd += ['--option', kv]
            if planner in LLM_PLANNERS:
                cmd += ['--llm_endpoints_file', os.path.abspath(a.llm_endpoints_file)]
            cmd += list(extra) + ['--state_dir', state]
            with open(os.path.join(d, 'command.txt'), 'w') as f:
                f.write(' '.join(cmd) + '\n')
            with open(os.path.join(d, 'commit.txt'), 'a') as f:
                f.write(COMMIT + '\n')
            log(f'[{time.strftime("%H:%M:%S")}] {"continue" if resume else "start"} {label}')
            start = time.time() - earlier
            with open(os.path.join(d, 'tune.log'), 'a' if resume else 'w') as out:
                proc = start_tune(['nice', '-n', str(a.nice)] + cmd, out)
                rc = wait_recording(proc, os.path.join(d, 'wall_seconds_partial'), start) \
                    if proc else -signal.SIGTERM
                with RUNNING_LOCK:
                    RUNNING.discard(proc)
            if rc < 0:  # killed: not finished, continued next time
                log(f'[{time.strftime("%H:%M:%S")}] {label} killed by signal {-rc}')
                return None
            with open(os.path.join(d, 'wall_seconds'), 'w') as f:
                f.write(f'{time.time() - start:.1f}\n')
            with open(os.path.join(d, 'rc'), 'w') as f:
                f.write(f'{rc}\n')
            log(f'[{time.strftime("%H:%M:%S")}] done {label}: exit {rc}, {time.time() - start:.0f} s')
        study = self.load_study(label, d)
        if a.kept and study is not None:
            keep_study(a.kept, label, d)
        return study

    def load_study(self, label, d):
        """The study's trials (rows of `vmle trials --csv`), its id, exit status and wall time."""
        if not os.path.exists(os.path.join(d, 'rc')):
            return None
        study = {'label': label, 'dir': d, 'rc': int(read(os.path.join(d, 'rc')) or -1),
                 'commits': sorted(set((read(os.path.join(d, 'commit.txt')) or 'unknown').split())),
                 'wall_seconds': float(read(os.path.join(d, 'wall_seconds')) or 'nan')}
        tune_log = read(os.path.join(d, 'tune.log')) or ''
        study['recalled'] = 'Recalled cognition summary' in tune_log
        study['id'] = next((line.split()[1].rstrip(':') for line in tune_log.splitlines()
                            if line.startswith('study st-')), None)
        csv_path = os.path.join(d, 'trials.csv')
        if not os.path.exists(csv_path) and study['id']:
            self.export_trials(study['id'], os.path.join(d, 'state'), csv_path)
        if not os.path.exists(csv_path):
            study['trials'] = []
            return study
        with open(csv_path) as f:
            rows = list(csv.DictReader(f))
        study['columns'] = list(rows[0].keys()) if rows else []
        study['trials'] = sorted(rows, key=lambda r: int(r['number']))
        return study

    def export_trials(self, study_id, state, csv_path):
        """Starts vmle-memory and vmle-agent on a finished study's state and writes its trials CSV."""
        if not os.path.isdir(os.path.join(state, 'state', 'memory')):
            log(f'run.py: no memory store under {state}')
            return
        procs = []
        tmp = tempfile.mkdtemp(prefix='vmle-bench-tuning-')
        try:
            mem_ready, agent_ready = os.path.join(tmp, 'memory.json'), os.path.join(tmp, 'agent.json')
            procs.append(subprocess.Popen(
                [self.bin['memory'], '--db=' + os.path.join(state, 'state', 'memory'), '--listen=127.0.0.1:0',
                 '--metrics=off', '--sync_writes=false', '--ready_file=' + mem_ready],
                stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, 'memory.log'), 'w')))
            mem_port = wait_ready(mem_ready, procs[-1])
            procs.append(subprocess.Popen(
                [self.bin['agent'], f'--memory=127.0.0.1:{mem_port}', '--listen=127.0.0.1:0',
                 '--metrics=off', '--ready_file=' + agent_ready],
                stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, 'agent.log'), 'w')))
            agent_port = wait_ready(agent_ready, procs[-1])
            for attempt in range(5):
                r = subprocess.run([self.bin['vmle'], '--agent', f'127.0.0.1:{agent_port}', 'trials',
                                    study_id, '--csv'], capture_output=True, text=True)
                if r.returncode == 0:
                    with open(csv_path + '.tmp', 'w') as f:
                        f.write(r.stdout)
                    os.replace(csv_path + '.tmp', csv_path)
                    return
                time.sleep(0.5)  # the agent answers UNAVAILABLE while it reloads
            log(f'run.py: cannot read the trials of {study_id}: {r.stderr.strip()}')
        finally:
            for p in reversed(procs):
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
            shutil.rmtree(tmp, ignore_errors=True)


# What a finished study's folder holds besides its state directory: enough to report it.
# `rc` is copied last, so a record whose copy was interrupted is not taken as finished.
KEPT_FILES = ('commit.txt', 'wall_seconds', 'tune.log', 'trials.csv', 'command.txt', 'study.yaml', 'rc')
# A distillation study's state (the memory store holding its cognition summary, which
# the transfer arms start from), kept as one archive without RocksDB's info logs.
STATE_ARCHIVE = 'state.tar.gz'


def keep_study(kept, label, d):
    """Copies a study's record to KEPT/studies/LABEL when it finished cleanly with its
    trials exported; a distillation study's state too (STATE_ARCHIVE, a few hundred KB),
    so transfer arms still to run after a restore start from the same summary."""
    if read(os.path.join(d, 'rc')) != '0' or not os.path.exists(os.path.join(d, 'trials.csv')):
        return
    dest = os.path.join(kept, 'studies', label)
    distill = label.startswith('distill-')
    if os.path.exists(os.path.join(dest, 'rc')):
        if not distill or os.path.exists(os.path.join(dest, STATE_ARCHIVE)):
            return  # already kept (a later run restored it): rewriting would only churn the archive's timestamps
        os.remove(os.path.join(dest, 'rc'))  # a distillation kept without its state: kept again, with it
    os.makedirs(dest, exist_ok=True)
    if distill and os.path.isdir(os.path.join(d, 'state')):
        def no_info_logs(info):
            return None if os.path.basename(info.name).startswith('LOG') else info
        with tarfile.open(os.path.join(dest, STATE_ARCHIVE), 'w:gz') as tar:
            tar.add(os.path.join(d, 'state'), arcname='state', filter=no_info_logs)
    for name in KEPT_FILES:  # rc last: a record with rc is complete
        if os.path.exists(os.path.join(d, name)):
            shutil.copy2(os.path.join(d, name), os.path.join(dest, name))


def extract_state(archive, dest):
    """Unpacks a kept STATE_ARCHIVE into DEST (refusing members outside DEST/state)."""
    with tarfile.open(archive, 'r:gz') as tar:
        for m in tar.getmembers():
            parts = m.name.split('/')
            if m.name.startswith('/') or '..' in parts or parts[0] != 'state' or not (m.isdir() or m.isfile()):
                sys.exit(f'run.py: {archive}: unexpected member {m.name[:200]!r}')
        tar.extractall(dest)


def restore_kept(kept, out):
    """Copies the kept finished studies that --out lacks into it (they are then reported,
    not run again)."""
    root = os.path.join(kept, 'studies')
    if not os.path.isdir(root):
        return
    restored = []
    for label in sorted(os.listdir(root)):
        src, dest = os.path.join(root, label), os.path.join(out, 'studies', label)
        if not os.path.exists(os.path.join(src, 'rc')) or os.path.exists(os.path.join(dest, 'rc')):
            continue
        shutil.rmtree(dest, ignore_errors=True)  # an interrupted attempt here is superseded
        os.makedirs(dest)
        if os.path.exists(os.path.join(src, STATE_ARCHIVE)):
            extract_state(os.path.join(src, STATE_ARCHIVE), dest)
        for name in KEPT_FILES:
            if os.path.exists(os.path.join(src, name)):
                shutil.copy2(os.path.join(src, name), os.path.join(dest, name))
        restored.append(label)
    if restored:
        log(f'restored {len(restored)} finished studies from {kept}: {", ".join(restored)}')


def narrowed_param(item):
    """NAME=LO:HI[:log] (an int range when both bounds are integers) or NAME=A,B,... (choices)
    as one YAML flow mapping of a vmle.v1.ParamSpec."""
    name, _, domain = item.partition('=')
    if ':' in domain:
        lo, hi, *log = domain.split(':')
        kind = 'int_range' if lo.lstrip('-').isdigit() and hi.lstrip('-').isdigit() else 'float_range'
        scale = ', log_scale: true' if log == ['log'] else ''
        return f'{{name: {name}, {kind}: {{min: {lo}, max: {hi}{scale}}}}}'
    return f'{{name: {name}, categorical: {{choices: [{domain}]}}}}'


def wait_ready(path, proc, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f'{proc.args[0]} exited with {proc.returncode} before it was ready')
        try:
            with open(path) as f:
                return json.load(f)['grpc_port']
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    raise RuntimeError(f'{proc.args[0]} was not ready after {seconds} s')


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def llm_options(a):
    return [f'{key}={value}' for key, value in (('endpoint', a.llm_endpoint), ('model', a.llm_model)) if value]


def run_all(runner, jobs, specs):
    """Runs the studies (label, data, planner, seed, state_from, extra) `jobs` at a time,
    in the order given; returns {label: study}."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {s[0]: pool.submit(runner.run_study, *s) for s in specs}
        return {label: f.result() for label, f in futures.items()}


# ---------------------------------------------------------------- analysis

def objective_values(study):
    """Validation objective of each trial in trial order; None where it has none."""
    return [float(t['objective']) if t['status'] in ('succeeded', 'stopped') else None
            for t in study['trials']]


def best_so_far(values):
    out, best = [], None
    for v in values:
        if v is not None and (best is None or v > best):
            best = v
        out.append(best)
    return out


def best_trial(study):
    done = [t for t in study['trials'] if t['status'] in ('succeeded', 'stopped')]
    return max(done, key=lambda t: float(t['objective'])) if done else None


def mean_sd(xs):
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    if not xs:
        return None, None, 0
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0), len(xs)


# Two-sided 97.5% quantiles of Student's t by degrees of freedom (1.96 beyond).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


def half_width(sd, n):
    """Half-width of the 95% interval of a mean of n values with sample sd."""
    if sd is None or n < 2:
        return None
    t = next((T975[d] for d in sorted(T975) if d >= n - 1), 1.96)
    return t * sd / math.sqrt(n)


def fmt_ci(m, sd, n, digits=4):
    """'mean ± 95% half-width' (n >= 2), or the single value with '(n=1)'."""
    if m is None:
        return '–'
    h = half_width(sd, n)
    return f'{m:.{digits}f} (n=1)' if h is None else f'{m:.{digits}f} ± {h:.{digits}f}'


def paired_differences(groups, rows, checkpoints, reference):
    """Markdown: per arm, the difference to the reference arm at each checkpoint, paired
    by seed (the same seed label in both arms), as mean ± 95% interval with n; 'no clear
    difference' when the interval includes zero."""
    if reference not in groups:
        return ''
    curves = {r['group']: dict(zip([seed_of(s) for s in groups[r['group']]], r['curves'])) for r in rows}
    ref = curves[reference]
    head = ['arm − ' + reference] + [f'@{c}' for c in checkpoints]
    lines = [f'Paired differences of the best validation value so far against `{reference}` (the same '
             'seeds; mean ± 95% interval, n = seeds in both):', '',
             '| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for name, by_seed in curves.items():
        if name == reference:
            continue
        cells = [name]
        for c in checkpoints:
            d = [cv[c - 1] - ref[seed][c - 1] for seed, cv in by_seed.items()
                 if seed in ref and len(cv) >= c and len(ref[seed]) >= c
                 and cv[c - 1] is not None and ref[seed][c - 1] is not None]
            cells.append(fmt_diff(*mean_sd(d)))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def fmt(m, sd=None, digits=4):
    if m is None:
        return '–'
    return f'{m:.{digits}f}' if sd is None else f'{m:.{digits}f} ± {sd:.{digits}f}'


def seed_of(study):
    """The seed in a study's label (`...-seedN`), None without one."""
    m = re.search(r'-seed(\d+)$', study['label'])
    return int(m.group(1)) if m else None


def trials_to(curves, target, budget):
    """Per study, the first trial whose best so far reaches target; a study that never
    reaches it counts as budget + 1."""
    return [next((i + 1 for i, b in enumerate(cv) if b is not None and b >= target), budget + 1)
            for cv in curves]


def summarize(groups, budget, target, checkpoints):
    """Per group (planner or transfer arm) of studies, the table row: the best validation
    value so far at each checkpoint, the trials to reach `target`, the test metrics of each
    study's best-on-validation trial, and the time."""
    rows = []
    for name, studies in groups.items():
        curves = [best_so_far(objective_values(s)) for s in studies]
        row = {'group': name, 'studies': len(studies), 'target': target}
        for c in checkpoints:
            m, sd, n = mean_sd([cv[c - 1] if len(cv) >= c else None for cv in curves])
            row[f'best@{c}'], row[f'best@{c}_sd'], row[f'best@{c}_n'] = m, sd, n
        reached = trials_to(curves, target, budget)
        row['to_target_mean'], row['to_target_sd'], row['to_target_n'] = mean_sd([float(r) for r in reached])
        row['to_target_unreached'] = sum(r > budget for r in reached)
        row['to_target_each'] = ' '.join(str(r) if r <= budget else f'{r}*' for r in reached)
        row['to_target_by_seed'] = {seed_of(s): r for s, r in zip(studies, reached)}
        bests = [best_trial(s) for s in studies]
        for split in ('val', 'test'):
            for m in ('recall@10', 'ndcg@10'):
                col = f'{split}_{m}'
                mm, sd, n = mean_sd([float(b[col]) if b and col in b else None for b in bests])
                row[col], row[col + '_sd'], row[col + '_n'] = mm, sd, n
        row['train_seconds'] = mean_sd([sum(float(t['train_seconds'] or 0) for t in s['trials'])
                                        for s in studies])[0]
        row['wall_seconds'] = mean_sd([s['wall_seconds'] for s in studies])[0]
        row['failed_trials'] = sum(t['status'] == 'failed' for s in studies for t in s['trials'])
        row['recalled'] = sum(s['recalled'] for s in studies)
        row['curves'] = curves
        rows.append(row)
    return rows


def markdown_table(rows, checkpoints, metric, target_label, transfer=False):
    head = ['planner' if not transfer else 'arm', 'studies']
    head += [f'best val {metric} @{c}' for c in checkpoints]
    head += [f'trials to {target_label}', 'per study', 'test R@10', 'test N@10',
             'train s / study', 'wall s / study']
    if transfer:
        head.append('recalled a summary')
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        cells = [r['group'], str(r['studies'])]
        cells += [fmt_ci(r[f'best@{c}'], r[f'best@{c}_sd'], r[f'best@{c}_n']) for c in checkpoints]
        unreached = f', {r["to_target_unreached"]} never' if r['to_target_unreached'] else ''
        cells += [fmt_ci(r['to_target_mean'], r['to_target_sd'], r['to_target_n'], digits=1) + unreached,
                  r['to_target_each'],
                  fmt_ci(r['test_recall@10'], r['test_recall@10_sd'], r['test_recall@10_n']),
                  fmt_ci(r['test_ndcg@10'], r['test_ndcg@10_sd'], r['test_ndcg@10_n']),
                  fmt(r['train_seconds'], digits=0), fmt(r['wall_seconds'], digits=0)]
        if transfer:
            cells.append(f'{r["recalled"]}/{r["studies"]}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def paired_trials_to(rows, reference):
    """Markdown: per arm, the trials to the target minus the reference arm's, paired by seed."""
    ref = next((r for r in rows if r['group'] == reference), None)
    if ref is None:
        return ''
    lines = [f'Trials to the target, paired by seed against `{reference}` (mean ± 95% interval; a study '
             'that never reaches it counts as the budget + 1):', '', f'| arm − {reference} | trials |', '|---|---|']
    for r in rows:
        if r is ref:
            continue
        d = [float(n - ref['to_target_by_seed'][seed]) for seed, n in r['to_target_by_seed'].items()
             if seed in ref['to_target_by_seed']]
        lines.append(f'| {r["group"]} | {fmt_diff(*mean_sd(d), digits=1)} |')
    return '\n'.join(lines) + '\n'


def fmt_diff(m, sd, n, digits=4):
    """A paired difference: 'mean ± 95% half-width (n=N)', 'no clear difference' when the
    interval includes zero."""
    h = half_width(sd, n)
    if m is None:
        return '–'
    if h is None:
        return f'{m:+.{digits}f} (n=1: no interval)'
    clear = '' if abs(m) > h else ', no clear difference'
    return f'{m:+.{digits}f} ± {h:.{digits}f} (n={n}{clear})'


def write_csv(path, rows, checkpoints):
    cols = ['group', 'studies'] + [k for c in checkpoints for k in (f'best@{c}', f'best@{c}_sd')] + [
        'target', 'to_target_mean', 'to_target_sd', 'to_target_unreached', 'to_target_each', 'val_recall@10',
        'val_ndcg@10', 'test_recall@10', 'test_recall@10_sd', 'test_ndcg@10', 'test_ndcg@10_sd', 'train_seconds',
        'wall_seconds', 'failed_trials', 'recalled']
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow(['' if r.get(c) is None else (f'{r[c]:.6g}' if isinstance(r[c], float) else r[c])
                        for c in cols])
    return cols


def write_curves_csv(path, groups):
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['group', 'study', 'trial', 'objective', 'best_so_far'])
        for name, studies in groups.items():
            for s in studies:
                values = objective_values(s)
                for i, (v, b) in enumerate(zip(values, best_so_far(values))):
                    w.writerow([name, s['label'], i + 1, '' if v is None else f'{v:.6f}',
                                '' if b is None else f'{b:.6f}'])


def svg_plot(rows, budget, title):
    """Mean best-so-far against trials, one line per group with its 95% interval as a
    band (two or more studies), each study faint behind it."""
    W, H, L, R, T, B = 720, 420, 70, 170, 36, 46
    vals = [b for r in rows for cv in r['curves'] for b in cv if b is not None]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if hi - lo < 1e-9:
        hi = lo + 1e-3
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    x = lambda i: L + (W - L - R) * ((i - 1) / max(1, budget - 1))
    y = lambda v: T + (H - T - B) * (1 - (v - lo) / (hi - lo))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
           'font-size="12">', '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{L}" y="20" font-size="14">{escape(title)}</text>',
           f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
           f'<text x="{(L + W - R) / 2:.0f}" y="{H - 8}" text-anchor="middle">trials</text>']
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        out.append(f'<text x="{L - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.4f}</text>')
        out.append(f'<line x1="{L}" y1="{y(v):.1f}" x2="{W - R}" y2="{y(v):.1f}" stroke="#eee"/>')
    for i in range(1, budget + 1):
        if budget <= 20 or i % 5 == 0 or i == 1:
            out.append(f'<text x="{x(i):.1f}" y="{H - B + 16}" text-anchor="middle">{i}</text>')
    for k, r in enumerate(rows):
        color = COLORS[k % len(COLORS)]
        for cv in r['curves']:
            pts = [(i + 1, b) for i, b in enumerate(cv) if b is not None]
            if pts:
                out.append(f'<polyline points="{" ".join(f"{x(i):.1f},{y(b):.1f}" for i, b in pts)}" '
                           f'fill="none" stroke="{color}" stroke-opacity="0.25" stroke-width="1"/>')
        mean, band = [], []
        for i in range(budget):
            at = [cv[i] for cv in r['curves'] if len(cv) > i and cv[i] is not None]
            if at and len(at) == len([cv for cv in r['curves'] if len(cv) > i]):
                m = statistics.fmean(at)
                mean.append((i + 1, m))
                h = half_width(statistics.stdev(at), len(at)) if len(at) > 1 else None
                if h is not None:
                    band.append((i + 1, m - h, m + h))
        if len(band) > 1:
            edge = [f'{x(i):.1f},{y(min(hi, top)):.1f}' for i, _, top in band]
            edge += [f'{x(i):.1f},{y(max(lo, bottom)):.1f}' for i, bottom, _ in reversed(band)]
            out.append(f'<polygon points="{" ".join(edge)}" fill="{color}" fill-opacity="0.12" stroke="none"/>')
        if mean:
            out.append(f'<polyline points="{" ".join(f"{x(i):.1f},{y(b):.1f}" for i, b in mean)}" '
                       f'fill="none" stroke="{color}" stroke-width="2.5"/>')
        ly = T + 10 + 20 * k
        out.append(f'<line x1="{W - R + 12}" y1="{ly}" x2="{W - R + 36}" y2="{ly}" stroke="{color}" '
                   'stroke-width="2.5"/>')
        out.append(f'<text x="{W - R + 42}" y="{ly + 4}">{escape(r["group"])}</text>')
    out.append('</svg>')
    return '\n'.join(out) + '\n'


def escape(s):
    return str(s).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')


def check(groups, rows, checkpoints, csv_cols, budget):
    """Consistency of the measured numbers; returns the failures."""
    errors = []
    for name, studies in groups.items():
        for s in studies:
            if s is None:
                errors.append(f'{name}: a study did not run')
                continue
            missing = [c for c in REQUIRED_TRIAL_COLUMNS if c not in s.get('columns', [])]
            if missing:
                errors.append(f'{s["label"]}: trials CSV lacks {missing}')
            if s['rc'] != 0:
                errors.append(f'{s["label"]}: vmle tune exited with {s["rc"]}')
            if len(s['trials']) != budget:
                errors.append(f'{s["label"]}: {len(s["trials"])} trials, budget {budget}')
            curve = best_so_far(objective_values(s))
            if not any(b is not None for b in curve):
                errors.append(f'{s["label"]}: no trial has a validation value')
            seen = [b for b in curve if b is not None]
            if any(b2 < b1 for b1, b2 in zip(seen, seen[1:])):
                errors.append(f'{s["label"]}: best so far is not monotone: {seen}')
            bt = best_trial(s)
            if bt and not (0 <= float(bt.get('test_ndcg@10') or -1) <= 1):
                errors.append(f'{s["label"]}: test NDCG@10 of the best trial out of [0, 1]')
    for r in rows:
        first, last = r.get(f'best@{checkpoints[0]}'), r.get(f'best@{checkpoints[-1]}')
        if first is None or last is None or last + 1e-12 < first:
            errors.append(f'{r["group"]}: best after {checkpoints[-1]} trials ({last}) < after '
                          f'{checkpoints[0]} ({first})')
    for c in ('group', 'to_target_mean', 'test_ndcg@10', 'train_seconds') + tuple(f'best@{c}' for c in checkpoints):
        if c not in csv_cols:
            errors.append(f'summary CSV lacks column {c}')
    return errors


def report(a, groups, name, title, target, target_label, checkpoints, baseline=None, transfer=False,
           notes=''):
    """Writes NAME.md/.csv/-curves.csv/-best-so-far.svg under --out and prints the markdown;
    returns the failed consistency checks (with --check)."""
    rows = summarize(groups, a.trials, target, checkpoints)
    md = markdown_table(rows, checkpoints, a.metric, target_label, transfer)
    cols = write_csv(os.path.join(a.out, f'{name}.csv'), rows, checkpoints)
    write_curves_csv(os.path.join(a.out, f'{name}-curves.csv'), groups)
    with open(os.path.join(a.out, f'{name}-best-so-far.svg'), 'w') as f:
        f.write(svg_plot(rows, a.trials, title))
    studies = [s for ss in groups.values() for s in ss]
    commits = sorted({c for s in studies for c in s.get('commits', ['unknown'])})
    wall = sum(s['wall_seconds'] for s in studies if not math.isnan(s['wall_seconds']))
    text = (f'### {title}\n\n{md}\nMeans ± the 95% interval of the mean over studies (Student\'s t; '
            f'"n=1": one study, no interval). "Per study" lists the trials each study needed to reach the '
            f'target; * : never reached within the budget, counted as {a.trials + 1}. Test metrics are those '
            f'of each study\'s best-on-validation trial.\n\n{notes}'
            f'Measured on commit {", ".join(commits)}; {len(studies)} studies, {wall / 3600:.2f} h of study '
            f'wall time in all ({a.jobs} at a time).\n\n')
    if baseline is not None and baseline in groups:
        text += paired_differences(groups, rows, checkpoints, baseline) + '\n'
        text += paired_trials_to(rows, baseline) + '\n'
    text += f'![best so far]({name}-best-so-far.svg)\n'
    if transfer:
        text += '\n' + trials_table(groups, a.trials, a.metric)
    with open(os.path.join(a.out, f'{name}.md'), 'w') as f:
        f.write(text)
    print(text, flush=True)
    return check(groups, rows, checkpoints, cols, a.trials) if a.check else []


# ---------------------------------------------------------------- the reference

def config_of(trial, params):
    """The values of params in a row of `vmle trials --csv`."""
    return {p: trial[p] for p in params if trial.get(p) not in (None, '')}


def run_reference(runner, a, seeds, data):
    """The best-known validation value for the dataset and backbone under this setting:
    with --reference_grid, a grid study over those parameters (--grid_points values each,
    at most 81 points) on the first seed finds the best configuration; with
    --reference_config, that configuration is given. The configuration is then trained
    once on every seed. Returns the reference (also kept as OUT/reference.json), whose
    target is the lower end of the 95% interval of its mean: "within one interval of the
    reference's best"."""
    grid = None
    if a.reference_grid:
        params = a.reference_grid.split(',')
        points = a.grid_points ** len(params)
        if points > 81:
            sys.exit(f'run.py: --reference_grid: {points} points ({a.grid_points}^{len(params)}), at most 81')
        grid = run_all(runner, 1, [('reference-grid', data, 'grid', seeds[0], None,
                                    ['--option', 'params=' + ','.join(params),
                                     '--option', f'points={a.grid_points}'], points, a.jobs)])['reference-grid']
        if grid is None or best_trial(grid) is None:
            log('run.py: the reference grid has not finished')
            return None
        config = config_of(best_trial(grid), params)
    else:
        config = dict(kv.split('=', 1) for kv in a.reference_config.split(','))
    fixed = [x for k, v in sorted(config.items()) for x in ('--fixed', f'{k}={v}')]
    reps = run_all(runner, a.jobs, [(f'reference-best-seed{seed}', data, 'random_default', seed, None, fixed, 1)
                                    for seed in seeds])
    values = [v for s in reps.values() if s for v in objective_values(s)[:1] if v is not None]
    m, sd, n = mean_sd(values)
    if n < 2:
        log('run.py: the reference configuration has not been trained on two seeds yet')
        return None
    h = half_width(sd, n)
    ref = {'dataset': dataset_name(data), 'backbone': a.backbone, 'config': config,
           'fixed': a.fixed, 'narrow': a.narrow, 'seeds': seeds, 'values': values, 'mean': m, 'sd': sd, 'n': n,
           'half_width': h, 'target': m - h, 'commits': sorted({c for s in reps.values() if s for c in s['commits']}),
           'source': (f'grid over {a.reference_grid} ({a.grid_points} points each, '
                      f'{len(grid["trials"])} trials on seed {seeds[0]}, best {max(v for v in objective_values(grid) if v is not None):.4f})'
                      if grid else 'the configuration given by --reference_config')}
    with open(os.path.join(a.out, 'reference.json'), 'w') as f:
        json.dump(ref, f, indent=1)
    return ref


def reference_text(ref):
    config = ', '.join(f'{k} {v}' for k, v in sorted(ref['config'].items()))
    return (f'The reference ({ref["source"]}): {config}, the other parameters at their defaults; trained on '
            f'seeds {", ".join(map(str, ref["seeds"]))}: {fmt_ci(ref["mean"], ref["sd"], ref["n"])} (n={ref["n"]}). '
            f'The target is the lower end of that interval, {ref["target"]:.4f}: "within one interval of the '
            f'reference\'s best". Kept as `reference.json`.\n\n')


def trials_table(groups, budget, metric):
    """Markdown: each study's validation value trial by trial (* marks a new best), so
    that small differences can be read against the noise of repeated configurations."""
    head = ['arm', 'seed'] + [f'trial {i}' for i in range(1, budget + 1)]
    lines = [f'Validation {metric} of every trial (* a new best of its study):', '',
             '| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for name, studies in groups.items():
        for s in studies:
            cells, best = [name.split(' ')[0], str(seed_of(s) or '')], None
            for v in objective_values(s)[:budget]:
                new = v is not None and (best is None or v > best)
                best = v if new else best
                cells.append('failed' if v is None else f'{v:.4f}' + ('*' if new else ''))
            lines.append('| ' + ' | '.join(cells + [''] * (len(head) - len(cells))) + ' |')
    return '\n'.join(lines) + '\n'


def dataset_name(data):
    return data if data.startswith('synthetic') else os.path.basename(data)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument('--data', default=os.path.join(ROOT, '..', 'shared', 'data', 'LastFM.txt'),
                   help='dataset file or synthetic:USERSxITEMS:SEED (transfer: the target)')
    p.add_argument('--backbone', default='sasrec')
    p.add_argument('--planners', default=','.join(ALL_PLANNERS))
    p.add_argument('--trials', type=int, default=16, help='trial budget of every study')
    p.add_argument('--parallel', type=int, default=1, help='trials at once in a study')
    p.add_argument('--threads', type=int, default=1, help='intra-op threads per worker')
    p.add_argument('--seeds', default='1,2,3,4,5')
    p.add_argument('--jobs', type=int, default=1, help='studies run at once')
    p.add_argument('--fixed', action='append', default=[], help='KEY=VALUE fixed in every study')
    p.add_argument('--option', action='append', default=[], help='planner option KEY=VALUE')
    p.add_argument('--narrow', action='append', default=[],
                   help='narrow the search space of every study: NAME=LO:HI[:log] or NAME=A,B,...')
    p.add_argument('--metric', default='ndcg@10', help='the objective (for labels)')
    p.add_argument('--transfer', action='store_true', help='transfer mode (--source, --control)')
    p.add_argument('--source', help='transfer: the dataset distilled first')
    p.add_argument('--control', help='transfer: an unrelated dataset whose summary is the control')
    p.add_argument('--source_state', help='transfer: reuse this --state_dir of a finished study on --source '
                   'instead of distilling one')
    p.add_argument('--control_state', help='transfer: the same for --control')
    p.add_argument('--transfer_planner', default='heuristic')
    p.add_argument('--arms', default='with,without,control',
                   help='transfer: the arms to run now (the report also reads the others\' finished studies under --out)')
    p.add_argument('--reference_grid', help='compare: PARAM,PARAM,...: the reference is the best point of a grid '
                   'over these parameters (--grid_points values each, at most 81 points), trained on every seed')
    p.add_argument('--grid_points', type=int, default=3, help='values per parameter of --reference_grid')
    p.add_argument('--reference_config', help='compare: KEY=VALUE,...: the reference configuration, trained on '
                   'every seed (instead of a grid)')
    p.add_argument('--out', default='/tmp/bench-tuning')
    p.add_argument('--build', default=os.path.join(ROOT, 'build'), help='build directory with vmle')
    p.add_argument('--nice', type=int, default=5)
    p.add_argument('--analyze_only', action='store_true', help='only report studies already under --out')
    p.add_argument('--check', action='store_true', help='check the numbers are consistent (exit 1 if not)')
    p.add_argument('--short', action='store_true', help='CI: synthetic, tiny budget, both modes, --check')
    p.add_argument('--fresh', action='store_true',
                   help='delete the studies already under --out (and --kept) first; with --analyze_only and '
                        '--kept, only those under --out')
    p.add_argument('--kept', help='folder that keeps finished studies\' records across machines (read first, '
                   'written as studies finish)')
    p.add_argument('--llm_endpoints_file', default=os.environ.get('VMLE_BENCH_LLM_ENDPOINTS_FILE', ''))
    p.add_argument('--llm_endpoint', default=os.environ.get('VMLE_BENCH_LLM_ENDPOINT', ''))
    p.add_argument('--llm_model', default=os.environ.get('VMLE_BENCH_LLM_MODEL', ''))
    a = p.parse_args()
    signal.signal(signal.SIGTERM, kill_running)
    if a.short:
        a.data = 'synthetic:400x150:2'
        a.source, a.control = 'synthetic:400x150:1', 'synthetic:3000x1500:5'
        a.trials, a.seeds, a.parallel, a.check = 5, '1,2', 1, True
        a.fixed = ['max_epochs=2', 'hidden_dim=16'] + a.fixed
        a.narrow = ['max_len=10:20', 'num_blocks=1:2', 'batch_size=128:512:log',
                    'num_negatives=16:128:log'] + a.narrow
        if a.planners == ','.join(ALL_PLANNERS):
            a.planners = 'heuristic,heuristic+reflection_off,random,random_default,tpe,grid,llm,opro'
        if not a.reference_config:
            a.reference_grid, a.grid_points = a.reference_grid or 'num_blocks', 2
    if a.fresh and (not a.analyze_only or a.kept):
        # With --analyze_only, --fresh reports only what --kept holds.
        shutil.rmtree(os.path.join(a.out, 'studies'), ignore_errors=True)
        if a.kept and not a.analyze_only:
            shutil.rmtree(os.path.join(a.kept, 'studies'), ignore_errors=True)
    os.makedirs(a.out, exist_ok=True)
    if a.kept:
        restore_kept(a.kept, a.out)
    seeds = [int(s) for s in a.seeds.split(',') if s]
    runner = Runner(a)
    if a.analyze_only:
        runner.run_study = lambda label, *rest: runner.load_study(label, os.path.join(a.out, 'studies', label))
    started = time.time()
    errors = []
    setting = (f'{dataset_name(a.data)}, {a.backbone}, budget {a.trials}, parallel {a.parallel}, '
               f'{a.threads} thread(s) per worker, seeds {a.seeds}'
               + (f', fixed {" ".join(a.fixed)}' if a.fixed else '')
               + (f', space narrowed to {" ".join(a.narrow)}' if a.narrow else ''))

    if not a.transfer or a.short:
        planners = []
        for planner in a.planners.split(','):
            if planner in LLM_PLANNERS and not a.llm_endpoints_file:
                log(f'run.py: skipping the {planner} planner: no LLM endpoint configured '
                    '(--llm_endpoints_file or VMLE_BENCH_LLM_ENDPOINTS_FILE)')
                continue
            planners.append(planner)
        for planner in planners:
            name, *ablations = planner.split('+')
            if name not in ALL_PLANNERS or any(x not in ABLATIONS for x in ablations):
                sys.exit(f'run.py: --planners: unknown {planner!r} (NAME[+ABLATION...]: {", ".join(ALL_PLANNERS)}; '
                         f'{", ".join(ABLATIONS)})')
        specs = [(f'{planner}-seed{seed}', a.data, planner, seed, None, ()) for seed in seeds for planner in planners]
        done = run_all(runner, a.jobs, specs)
        groups = {pl: [done[f'{pl}-seed{s}'] for s in seeds if done.get(f'{pl}-seed{s}')] for pl in planners}
        errors += [f'{pl}-seed{s}: the study has not finished' for pl in planners for s in seeds
                   if a.check and not done.get(f'{pl}-seed{s}')]
        ref = run_reference(runner, a, seeds, a.data) if (a.reference_grid or a.reference_config) else None
        checkpoints = [c for c in CHECKPOINTS if c < a.trials] + [a.trials]
        if ref:
            target, label, notes = ref['target'], f'the reference ({ref["target"]:.4f})', reference_text(ref)
        else:
            top = max((v for ss in groups.values() for st in ss for v in objective_values(st) if v is not None),
                      default=0.0)
            target, label = 0.95 * top, f'95% of the best any study found ({0.95 * top:.4f})'
            notes = ('No reference run (--reference_grid or --reference_config): the target is 95% of the best '
                     'validation value any study found.\n\n')
        errors += report(a, groups, 'planners', f'Planners on {setting}', target, label, checkpoints,
                         baseline='random_default', notes=notes)

    if a.transfer or a.short:
        if not (a.source and a.control):
            sys.exit('run.py: --transfer needs --source and --control')
        pl = a.transfer_planner
        distill = [(f'distill-{role}', data, 'heuristic', seeds[0], None, ())
                   for role, data, given in (('source', a.source, a.source_state),
                                             ('control', a.control, a.control_state)) if not given]
        pre = run_all(runner, a.jobs, distill)
        src = a.source_state or os.path.join(a.out, 'studies', 'distill-source', 'state')
        ctl = a.control_state or os.path.join(a.out, 'studies', 'distill-control', 'state')
        for given in (a.source_state, a.control_state):
            if given and not os.path.isdir(os.path.join(given, 'state', 'memory')):
                sys.exit(f'run.py: {given} is not the --state_dir of a finished vmle tune')
        for tag, state, flag in (('with', src, '--source_state'), ('control', ctl, '--control_state')):
            to_run = [s for s in seeds if not a.analyze_only and
                      not os.path.exists(os.path.join(a.out, 'studies', f'transfer-{tag}-seed{s}', 'rc'))]
            if to_run and not os.path.isdir(os.path.join(state, 'state')):
                sys.exit(f'run.py: the "{tag}" arm still has seeds {to_run} to run, but {state} has no state '
                         f'(a distillation kept before its state was): give {flag}, or delete '
                         f'{os.path.dirname(state)} to distill again')
        arms = {'with (summary of ' + dataset_name(a.source) + ')': ('with', src),
                'without (fresh state)': ('without', None),
                'control (summary of ' + dataset_name(a.control) + ')': ('control', ctl)}
        wanted = set(a.arms.split(','))
        unknown = wanted - {tag for tag, _ in arms.values()}
        if unknown:
            sys.exit(f'run.py: --arms: unknown arm(s) {", ".join(sorted(unknown))} (with, without, control)')
        specs = [(f'transfer-{tag}-seed{seed}', a.data, pl, seed, state, ())
                 for seed in seeds for tag, state in arms.values() if tag in wanted]
        done = run_all(runner, a.jobs, specs)
        for seed in seeds:  # arms not run now: their finished studies, if any
            for tag, _ in arms.values():
                label = f'transfer-{tag}-seed{seed}'
                if label not in done:
                    done[label] = runner.load_study(label, os.path.join(a.out, 'studies', label))
        groups = {arm: [done[f'transfer-{tag}-seed{s}'] for s in seeds if done.get(f'transfer-{tag}-seed{s}')]
                  for arm, (tag, _) in arms.items()}
        errors += [f'transfer-{tag}-seed{s}: the study has not finished' for tag, _ in arms.values() for s in seeds
                   if a.check and not done.get(f'transfer-{tag}-seed{s}')]
        title = (f'Transfer {dataset_name(a.source)} → {setting} ({pl} planner; control: '
                 f'{dataset_name(a.control)})')
        without = 'without (fresh state)'
        m, _, _ = mean_sd([best_so_far(objective_values(st))[-1] for st in groups.get(without, []) if st['trials']])
        checkpoints = [c for c in TRANSFER_CHECKPOINTS if c < a.trials] + [a.trials]
        errors += report(a, groups, 'transfer', title, m or 0.0,
                         f'the "without" arm\'s mean best ({(m or 0.0):.4f})', checkpoints, baseline=without,
                         transfer=True)
        if a.check:
            for label, s in pre.items():
                if s is None or s['rc'] != 0:
                    errors.append(f'{label}: the distillation study failed')
                elif not os.path.isdir(os.path.join(a.out, 'studies', label, 'state', 'state', 'memory')):
                    errors.append(f'{label}: its state (the summary the transfer arms start from) is missing')
            for s in groups[next(iter(arms))]:
                if not s['recalled']:
                    errors.append(f'{s["label"]}: did not recall the source summary')
            for s in groups['without (fresh state)']:
                if s['recalled']:
                    errors.append(f'{s["label"]}: recalled a summary from a fresh state')

    print(f'wall time: {time.time() - started:.0f} s; results in {a.out}', flush=True)
    if errors:
        print('FAILED checks:\n  ' + '\n  '.join(errors), flush=True)
        return 1
    if a.check:
        print('checks passed', flush=True)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        kill_running(signal.SIGINT)
