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

  bench/trainer/run.py [--data ../shared/data/Beauty.txt] [--threads 1] [--epochs 20]
                       [--backbone sasrec|hstu|both] [--batchings packed,length_buckets,random]
"""
import argparse
import json
import os
import subprocess
import sys
import time

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


def print_table(backbone, args, ours, twin, peak):
    """ours: [(batching, result)]; one column per batching, then the twin."""
    names = [b for b, _ in ours]
    rows = [
        ('seconds / training epoch', [r['seconds_per_epoch'] for _, r in ours], twin['seconds_per_epoch']),
        ('seconds / full validation eval', [r['seconds_per_eval'] for _, r in ours], twin['seconds_per_eval']),
        ('seconds / full test eval', [r['test_eval_seconds'] for _, r in ours], twin['test_eval_seconds']),
        ('peak RSS (MiB)', [r['peak_rss_mib'] for _, r in ours], twin['peak_rss_mib']),
        ('epochs run (best)', [f"{len(r['epochs'])} ({r['best_epoch']})" for _, r in ours],
         f"{len(twin['epochs'])} ({twin['best_epoch']})"),
    ]
    for split in ('validation', 'test'):
        for m in ('recall@10', 'ndcg@10', 'recall@20', 'ndcg@20', 'mrr'):
            rows.append((f'{split} {m}', [r[split][m] for _, r in ours], twin[split][m]))
    gflops = []
    for _, r in ours:
        flops = train_flops_per_epoch(r, r['config'])
        gflops.append(flops / r['seconds_per_epoch'] / 1e9)
    rows.append(('training GFLOP/s', gflops, None))
    rows.append(('share of matmul peak (%)', [100 * g / peak for g in gflops], None))
    print(f"\nbench/trainer on {os.path.basename(args.data)}, {args.threads} thread(s), "
          f"reference {backbone} configuration, up to {args.epochs} epochs (patience 3)")
    header = ''.join(f" {n:>14} |" for n in names) + ''.join(f" {'twin / ' + n:>16} |" for n in names)
    print(f"| {'measure':<30} |{header} {'PyTorch twin':>12} |")
    print('|' + '-' * 32 + '|' + ''.join('-' * 16 + '|' for _ in names) +
          ''.join('-' * 18 + '|' for _ in names) + '-' * 14 + '|')

    def fmt(v):
        if isinstance(v, str):
            return v
        return f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"
    for name, values, twin_value in rows:
        cells = ''.join(f" {fmt(v):>14} |" for v in values)
        ratios = ''
        for v in values:
            ok = isinstance(v, (int, float)) and isinstance(twin_value, (int, float)) and v
            ratios += f" {(f'{twin_value / v:.2f}x' if ok else ''):>16} |"
        twin_cell = fmt(twin_value) if twin_value is not None else ''
        print(f"| {name:<30} |{cells}{ratios} {twin_cell:>12} |")
    print(f"\nmatmul peak ({args.threads} thread(s)): {peak:.1f} GFLOP/s")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', default=os.path.join(ROOT, '..', 'shared', 'data', 'Beauty.txt'))
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--epochs', type=int, default=20, help='max epochs for both (patience 3)')
    p.add_argument('--backbone', choices=('sasrec', 'hstu', 'both'), default='sasrec')
    p.add_argument('--batchings', default='packed,length_buckets,random',
                   help='comma-separated vmle-train layouts to run side by side')
    p.add_argument('--build', default=os.path.join(ROOT, 'build'))
    args = p.parse_args()
    # The twin and the matmul peak run in Debian's Python, whichever python3 runs this.
    if subprocess.run(['/usr/bin/python3', '-c', 'import torch'], stderr=subprocess.DEVNULL).returncode != 0:
        sys.exit('bench/trainer: /usr/bin/python3 has no torch; install Debian\'s python3-torch with '
                 'scripts/install-deps.sh --with-bench')

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    backbones = ('sasrec', 'hstu') if args.backbone == 'both' else (args.backbone,)
    results = []
    for backbone in backbones:
        ours = [(batching, run_json([os.path.join(args.build, 'services/trainer/vmle-train'), '--data', args.data,
                                     '--threads', str(args.threads), '--set', f'backbone={backbone}',
                                     '--set', f'batching={batching}', '--set', f'max_epochs={args.epochs}',
                                     '--json'], env))
                for batching in args.batchings.split(',')]
        twin = run_json(['/usr/bin/python3', os.path.join(ROOT, 'bench/trainer/twin.py'), '--data', args.data,
                         '--backbone', backbone, '--threads', str(args.threads),
                         '--max-epochs', str(args.epochs)], env)
        results.append((backbone, ours, twin))
    peak = matmul_peak(args.threads)
    for backbone, ours, twin in results:
        print_table(backbone, args, ours, twin, peak)


if __name__ == '__main__':
    main()
