#!/usr/bin/python3
"""bench/trainer: vmle-train against its PyTorch twin on one dataset, side by side.

Runs both with the same configuration (the backbone's reference configuration) and
thread count, one after the other (never concurrently), and prints a table per
backbone: seconds per training epoch, seconds per full validation evaluation, the
test evaluation, peak memory, final validation and test metrics, and the ratios to
the twin. vmle-train runs once per batching layout asked for (packed, the default;
length_buckets; random: one padded sequence per row, as the twin batches), so the
layouts are compared side by side in one run. Also measures the machine's matmul peak
and the achieved GFLOP/s (and share of that peak) of each layout's training step.

Training is noisy (another seed moves test R@10 by a few percent), so every layout of
vmle-train runs on each of --seeds and a cell with more than one seed reads
"mean ± sd (n = N)". The twin is the speed and quality reference; it costs ten times
more a run, so by default it runs on the first seed only (--twin-seeds to replicate it).
A seed's line goes to stderr as it finishes, so a long run shows its progress.

  bench/trainer/run.py [--data ../shared/data/Beauty.txt] [--threads 1] [--epochs 20]
                       [--backbone sasrec|hstu|both] [--batchings packed,length_buckets,random]
                       [--seeds 42,1,2,3,4] [--twin-seeds 42]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_json(cmd, env):
    print('$ ' + ' '.join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, stdout=subprocess.PIPE, env=env, check=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def matmul_peak(threads):
    """One thread's (or `threads`') float32 matmul GFLOP/s, with Debian's PyTorch: run in
    /usr/bin/python3 (python3-torch), whichever python3 runs this script."""
    code = ('import sys, time, torch\n'
            'torch.set_num_threads(int(sys.argv[1]))\n'
            'a, b = torch.randn(2048, 1024), torch.randn(1024, 2048)\n'
            'for _ in range(3): a @ b\n'
            'n, t = 10, time.perf_counter()\n'
            'for _ in range(n): a @ b\n'
            'print(2 * 2048 * 1024 * 2048 * n / (time.perf_counter() - t) / 1e9)\n')
    out = subprocess.run(['/usr/bin/python3', '-c', code, str(threads)], stdout=subprocess.PIPE, check=True,
                         text=True).stdout
    return float(out.strip().splitlines()[-1])


def train_flops_per_epoch(r, cfg):
    """Forward+backward FLOPs (3x forward) of one epoch from the work vmle-train counted:
    projections and feed-forward per token, attention per pair of positions, and the
    sampled softmax (negatives scored at every position of a batch, positives per target)."""
    d, blocks, heads = int(cfg['hidden_dim']), int(cfg['num_blocks']), int(cfg['num_heads'])
    negatives = int(cfg['num_negatives'])
    if cfg['backbone'] == 'hstu':
        uv, qk = heads * int(cfg['linear_dim']), heads * int(cfg['attention_dim'])
        per_token = blocks * 2 * (d * (2 * uv + 2 * qk) + uv * d)
        attention = blocks * 2 * r['attention_pairs_per_epoch'] * (qk + uv)
    else:
        ffn = int(cfg['ffn_multiplier'])
        per_token = blocks * 2 * (4 * d * d + 2 * ffn * d * d)
        attention = blocks * 2 * 2 * r['attention_pairs_per_epoch'] * d
    # The sampled softmax scores each target against its group's negatives.
    loss = 2 * r['targets_per_epoch'] * (negatives + 1) * d
    return 3 * (per_token * r['tokens_per_epoch'] + attention + loss)


class Figure:
    """One measure of one arm over its seeds: the mean, and the sd when n > 1."""

    def __init__(self, values):
        self.values = list(values)
        self.mean = statistics.fmean(self.values)
        self.sd = statistics.stdev(self.values) if len(self.values) > 1 else None

    def __str__(self):
        def fmt(v):
            return f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"
        if self.sd is None:
            return fmt(self.mean)
        return f"{fmt(self.mean)} ± {fmt(self.sd)} (n = {len(self.values)})"


def measures(runs, peak):
    """[(measure, Figure or text)] of one arm from its runs (one per seed)."""
    rows = [
        ('seconds / training epoch', Figure(r['seconds_per_epoch'] for r in runs)),
        ('seconds / full validation eval', Figure(r['seconds_per_eval'] for r in runs)),
        ('seconds / full test eval', Figure(r['test_eval_seconds'] for r in runs)),
        ('peak RSS (MiB)', Figure(r['peak_rss_mib'] for r in runs)),
        ('epochs run (best)', ', '.join(f"{len(r['epochs'])} ({r['best_epoch']})" for r in runs)),
    ]
    for split in ('validation', 'test'):
        for m in ('recall@10', 'ndcg@10', 'recall@20', 'ndcg@20', 'mrr'):
            rows.append((f'{split} {m}', Figure(r[split][m] for r in runs)))
    if peak is not None:
        gflops = Figure(train_flops_per_epoch(r, r['config']) / r['seconds_per_epoch'] / 1e9 for r in runs)
        rows.append(('training GFLOP/s', gflops))
        rows.append(('share of matmul peak (%)', Figure(100 * g / peak for g in gflops.values)))
    return rows


def print_table(backbone, args, ours, twin, peak):
    """ours: [(batching, [result per seed])]; one column per batching, then the ratio of the
    twin's mean to each batching's mean, then the twin."""
    names = [b for b, _ in ours]
    columns = [measures(runs, peak) for _, runs in ours]
    twin_rows = dict(measures(twin, None))
    print(f"\nbench/trainer on {os.path.basename(args.data)}, {args.threads} thread(s), "
          f"reference {backbone} configuration, up to {args.epochs} epochs (patience 3); "
          f"vmle-train seeds {args.seeds}, twin seeds {args.twin_seeds}")
    header = ''.join(f" {n:>28} |" for n in names) + ''.join(f" {'twin / ' + n:>16} |" for n in names)
    print(f"| {'measure':<30} |{header} {'PyTorch twin':>28} |")
    print('|' + '-' * 32 + '|' + ''.join('-' * 30 + '|' for _ in names) +
          ''.join('-' * 18 + '|' for _ in names) + '-' * 30 + '|')
    for i, (name, _) in enumerate(columns[0]):
        values = [column[i][1] for column in columns]
        twin_value = twin_rows.get(name)
        cells = ''.join(f" {str(v):>28} |" for v in values)
        ratios = ''
        for v in values:
            ok = isinstance(v, Figure) and isinstance(twin_value, Figure) and v.mean
            ratios += f" {(f'{twin_value.mean / v.mean:.2f}x' if ok else ''):>16} |"
        twin_cell = str(twin_value) if twin_value is not None else ''
        print(f"| {name:<30} |{cells}{ratios} {twin_cell:>28} |")
    print(f"\nmatmul peak ({args.threads} thread(s)): {peak:.1f} GFLOP/s")


def seed_list(text, flag):
    try:
        seeds = [int(s) for s in text.split(',') if s.strip()]
    except ValueError:
        sys.exit(f'bench/trainer: {flag} must be comma-separated integers')
    if not seeds:
        sys.exit(f'bench/trainer: {flag} names no seed')
    return seeds


def report(label, seed, r):
    print(f"bench/trainer: {label} seed {seed}: {r['seconds_per_epoch']:.2f} s/epoch, "
          f"test R@10 {r['test']['recall@10']:.4f} N@10 {r['test']['ndcg@10']:.4f}", file=sys.stderr, flush=True)
    return r


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', default=os.path.join(ROOT, '..', 'shared', 'data', 'Beauty.txt'))
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--epochs', type=int, default=20, help='max epochs for both (patience 3)')
    p.add_argument('--backbone', choices=('sasrec', 'hstu', 'both'), default='sasrec')
    p.add_argument('--batchings', default='packed,length_buckets,random',
                   help='comma-separated vmle-train layouts to run side by side')
    p.add_argument('--seeds', default='42,1,2,3,4', help='comma-separated seeds for every vmle-train layout')
    p.add_argument('--twin-seeds', help='comma-separated seeds for the twin (default: the first of --seeds)')
    p.add_argument('--build', default=os.path.join(ROOT, 'build'))
    args = p.parse_args()
    seeds = seed_list(args.seeds, '--seeds')
    twin_seeds = seed_list(args.twin_seeds, '--twin-seeds') if args.twin_seeds else seeds[:1]
    args.seeds, args.twin_seeds = ','.join(map(str, seeds)), ','.join(map(str, twin_seeds))
    # The twin and the matmul peak run in Debian's Python, whichever python3 runs this.
    if subprocess.run(['/usr/bin/python3', '-c', 'import torch'], stderr=subprocess.DEVNULL).returncode != 0:
        sys.exit('bench/trainer: /usr/bin/python3 has no torch; install Debian\'s python3-torch with '
                 'scripts/install-deps.sh --with-bench')

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    backbones = ('sasrec', 'hstu') if args.backbone == 'both' else (args.backbone,)
    results = []
    for backbone in backbones:
        ours = [(batching, [report(f'{backbone} {batching}', seed, run_json(
                    [os.path.join(args.build, 'services/trainer/vmle-train'), '--data', args.data,
                     '--threads', str(args.threads), '--seed', str(seed), '--set', f'backbone={backbone}',
                     '--set', f'batching={batching}', '--set', f'max_epochs={args.epochs}', '--json'], env))
                    for seed in seeds])
                for batching in args.batchings.split(',')]
        twin = [report(f'{backbone} twin', seed, run_json(
                    ['/usr/bin/python3', os.path.join(ROOT, 'bench/trainer/twin.py'), '--data', args.data,
                     '--backbone', backbone, '--threads', str(args.threads), '--seed', str(seed),
                     '--max-epochs', str(args.epochs)], env))
                for seed in twin_seeds]
        results.append((backbone, ours, twin))
    peak = matmul_peak(args.threads)
    for backbone, ours, twin in results:
        print_table(backbone, args, ours, twin, peak)


if __name__ == '__main__':
    main()
