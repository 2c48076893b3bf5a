#!/usr/bin/env python3
"""The PyTorch twin of vmle-train's SASRec and HSTU, for bench/trainer.

The same models, loss and protocol as services/trainer, written the way a PyTorch user
writes them: torch.nn modules (nn.Embedding, nn.TransformerEncoderLayer, nn.LayerNorm;
HSTU blocks as in the reference code: one SiLU projection into u, v, q, k, pointwise
SiLU attention with a bucketed relative position bias, u * LayerNorm(A v), W_o),
batches of users padded to max_len, the loss on real positions only (boolean-mask
indexing), sampled softmax with num_negatives uniform negatives per pair of
sequences, Adam (SASRec) or AdamW (HSTU, L2-normalised embeddings over a
temperature), full-ranking leave-one-out evaluation with the history masked except
the target. Each backbone's defaults are its reference configuration
(common/space/search_space.cc). Prints one JSON object like
`vmle-train --json`.

Evaluation ranks the target by sorting every user's scores (torch.argsort), as the
seed paper's reference code does; --eval-rank=count counts the items scoring above
the target instead, which avoids the sort.
"""
import argparse
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

METRIC_KS = (5, 10, 20)
# Sequences that share one draw of negatives (as services/trainer/train/loss.cc).
NEGATIVE_GROUP = 2


def read_sequences(path):
    users = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) > 1:
                users.append([int(x) for x in parts[1:]])
    num_items = max(max(s) for s in users)
    return users, num_items


class SASRec(nn.Module):
    def __init__(self, num_items, hidden, blocks, heads, dropout, max_len, ffn_multiplier):
        super().__init__()
        self.hidden = hidden
        self.max_len = max_len
        self.item_emb = nn.Embedding(num_items + 1, hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, hidden)
        nn.init.normal_(self.item_emb.weight, 0.0, 0.016)
        nn.init.normal_(self.pos_emb.weight, 0.0, 1.0 / math.sqrt(hidden))
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([
            nn.TransformerEncoderLayer(hidden, heads, dim_feedforward=ffn_multiplier * hidden,
                                       dropout=dropout, activation='gelu', batch_first=True,
                                       norm_first=False) for _ in range(blocks)])
        self.final_norm = nn.LayerNorm(hidden)
        self.heads = heads

    def forward(self, seqs):
        """seqs: [B, T] left-padded item ids -> [B, T, D] user states."""
        batch, length = seqs.shape
        valid = seqs.ne(0)
        x = self.item_emb(seqs) * math.sqrt(self.hidden)
        x = x + self.pos_emb(torch.arange(self.max_len - length, self.max_len))
        keep = valid.unsqueeze(-1).float()
        x = self.dropout(x) * keep
        # True = masked. Causal and padding keys, but every query sees itself, so the
        # all-padding rows of left-padded sequences do not turn into NaN.
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool), 1)
        mask = causal.unsqueeze(0) | ~valid.unsqueeze(1)
        mask = mask & ~torch.eye(length, dtype=torch.bool).unsqueeze(0)
        mask = mask.repeat_interleave(self.heads, 0)
        for block in self.blocks:
            x = block(x, src_mask=mask) * keep
        return self.final_norm(x)


    def output_embeddings(self):
        return self.item_emb.weight

    logit_scale = 1.0


# Relative position buckets, as services/trainer/model/layers.h: one per distance
# below EXACT_DISTANCES, then logarithmically wider ones up to max_len.
BUCKETS = 32
EXACT_DISTANCES = 16


def distance_buckets(max_len):
    span = math.log(max(max_len, EXACT_DISTANCES + 1) / EXACT_DISTANCES)
    out = []
    for d in range(max_len):
        if d < EXACT_DISTANCES:
            out.append(d)
        else:
            wide = int(math.log(d / EXACT_DISTANCES) / span * (BUCKETS - EXACT_DISTANCES))
            out.append(min(EXACT_DISTANCES + wide, BUCKETS - 1))
    return torch.tensor(out)


class HSTUBlock(nn.Module):
    def __init__(self, hidden, heads, linear_dim, attention_dim, dropout, max_len):
        super().__init__()
        self.heads, self.linear_dim, self.attention_dim = heads, linear_dim, attention_dim
        self.input_norm = nn.LayerNorm(hidden, eps=1e-6)
        self.uvqk = nn.Linear(hidden, 2 * heads * (linear_dim + attention_dim), bias=False)
        nn.init.normal_(self.uvqk.weight, 0.0, 0.02)
        self.attention_norm = nn.LayerNorm(heads * linear_dim, eps=1e-6)
        self.out = nn.Linear(heads * linear_dim, hidden)
        nn.init.xavier_uniform_(self.out.weight)
        self.dropout = nn.Dropout(dropout)
        self.rel_bias = nn.Parameter(torch.randn(BUCKETS, heads) * 0.02)
        self.register_buffer('buckets', distance_buckets(max_len))

    def forward(self, x, allowed):
        """x: [B, T, D]; allowed: [B, T, T] float 0/1 (causal, real keys)."""
        batch, length, _ = x.shape
        uv, qk = self.heads * self.linear_dim, self.heads * self.attention_dim
        u, v, q, k = torch.split(F.silu(self.uvqk(self.input_norm(x))), [uv, uv, qk, qk], dim=-1)
        q = q.view(batch, length, self.heads, -1).transpose(1, 2)
        k = k.view(batch, length, self.heads, -1).transpose(1, 2)
        v = v.view(batch, length, self.heads, -1).transpose(1, 2)
        pos = torch.arange(length)
        distance = (pos.unsqueeze(1) - pos.unsqueeze(0)).clamp(0, len(self.buckets) - 1)
        bias = self.rel_bias[self.buckets[distance]].permute(2, 0, 1)  # [H, T, T]
        mask = allowed.unsqueeze(1)
        weights = F.silu(q @ k.transpose(-2, -1) + bias) * mask / mask.sum(-1, keepdim=True).clamp(min=1)
        attended = (weights @ v).transpose(1, 2).reshape(batch, length, uv)
        return x + self.out(self.dropout(u * self.attention_norm(attended)))


class HSTU(nn.Module):
    def __init__(self, num_items, hidden, blocks, heads, linear_dim, attention_dim, dropout, max_len,
                 temperature):
        super().__init__()
        self.hidden = hidden
        self.item_emb = nn.Embedding(num_items + 1, hidden, padding_idx=0)
        nn.init.normal_(self.item_emb.weight, 0.0, 0.02)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([HSTUBlock(hidden, heads, linear_dim, attention_dim, dropout, max_len)
                                     for _ in range(blocks)])
        self.logit_scale = 1.0 / temperature

    def forward(self, seqs):
        """seqs: [B, T] left-padded item ids -> [B, T, D] L2-normalised user states."""
        length = seqs.shape[1]
        valid = seqs.ne(0)
        keep = valid.unsqueeze(-1).float()
        x = self.dropout(self.item_emb(seqs) * math.sqrt(self.hidden)) * keep
        causal = torch.tril(torch.ones(length, length, dtype=torch.bool))
        allowed = (causal.unsqueeze(0) & valid.unsqueeze(1)) | torch.eye(length, dtype=torch.bool)
        allowed = allowed.float()
        for block in self.blocks:
            x = block(x, allowed) * keep
        return F.normalize(x, dim=-1, eps=1e-6)

    def output_embeddings(self):
        return F.normalize(self.item_emb.weight, dim=-1, eps=1e-6)


def left_pad(rows, length):
    out = torch.zeros(len(rows), length, dtype=torch.long)
    for i, r in enumerate(rows):
        r = r[-length:]
        if r:
            out[i, length - len(r):] = torch.tensor(r)
    return out


def train_epoch(model, opt, users, num_items, args, gen):
    model.train()
    examples = [s[:-2] for s in users if len(s) >= 4]
    order = torch.randperm(len(examples), generator=gen).tolist()
    total, count = 0.0, 0
    for start in range(0, len(order), args.batch_size):
        batch = [examples[i] for i in order[start:start + args.batch_size]]
        inputs = left_pad([s[:-1] for s in batch], args.max_len)
        targets = left_pad([s[1:] for s in batch], args.max_len)
        states = model(inputs)
        sel = targets.ne(0)
        emb = model.output_embeddings()
        # num_negatives uniform items per group of NEGATIVE_GROUP sequences.
        rows, length, dim = states.shape
        groups = -(-rows // NEGATIVE_GROUP)
        padded = F.pad(states, (0, 0, 0, 0, 0, groups * NEGATIVE_GROUP - rows))
        negs = torch.randint(1, num_items + 1, (groups, args.num_negatives), generator=gen)
        neg = torch.bmm(padded.view(groups, NEGATIVE_GROUP * length, dim), emb[negs].transpose(1, 2))
        neg = neg.view(groups * NEGATIVE_GROUP, length, -1)[:rows][sel]
        row_negs = negs.repeat_interleave(NEGATIVE_GROUP, 0)[:rows].unsqueeze(1).expand(
            rows, length, args.num_negatives)[sel]
        h = states[sel]
        tgt = targets[sel]
        pos = (h * emb[tgt]).sum(-1, keepdim=True)
        neg = neg.masked_fill(tgt.unsqueeze(1) == row_negs, float('-inf'))
        logits = torch.cat([pos, neg], 1) * model.logit_scale
        loss = F.cross_entropy(logits, torch.zeros(len(tgt), dtype=torch.long))
        opt.zero_grad()
        loss.backward()
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        total += loss.item() * len(tgt)
        count += len(tgt)
    return total / max(count, 1)


@torch.no_grad()
def evaluate(model, users, split, args):
    """Leave-one-out full ranking; split 'val' or 'test'."""
    model.eval()
    sums = {f'{m}@{k}': 0.0 for m in ('recall', 'ndcg') for k in METRIC_KS}
    sums['mrr'] = 0.0
    n = 0
    cases = [s for s in users if len(s) >= 3]
    emb = model.output_embeddings()
    for start in range(0, len(cases), args.eval_batch_size):
        batch = cases[start:start + args.eval_batch_size]
        hist = [s[:-2] if split == 'val' else s[:-1] for s in batch]
        target = torch.tensor([s[-2] if split == 'val' else s[-1] for s in batch])
        states = model(left_pad(hist, args.max_len))[:, -1, :]
        scores = states @ emb.T * model.logit_scale
        target_scores = scores.gather(1, target.unsqueeze(1)).clone()
        for i, h in enumerate(hist):
            scores[i, h] = float('-inf')
        scores[:, 0] = float('-inf')
        scores.scatter_(1, target.unsqueeze(1), target_scores)
        if args.eval_rank == 'argsort':
            order = torch.argsort(scores, dim=1, descending=True)
            ranks = (order == target.unsqueeze(1)).nonzero()[:, 1]
        else:
            ranks = (scores > target_scores).sum(1)
        for r in ranks.tolist():
            for k in METRIC_KS:
                if r < k:
                    sums[f'recall@{k}'] += 1
                    sums[f'ndcg@{k}'] += 1.0 / math.log2(r + 2)
            sums['mrr'] += 1.0 / (r + 1)
            n += 1
    out = {k: v / max(n, 1) for k, v in sums.items()}
    out['num_users'] = n
    return out


# Each backbone's reference configuration (common/space/search_space.cc);
# a flag left unset takes its backbone's value.
REFERENCE = {
    'sasrec': dict(dropout=0.2, batch_size=256, weight_decay=1e-5, optimizer='adam', beta2=0.999,
                   grad_clip=5.0, select_metric='recall@10', heads=1),
    'hstu': dict(dropout=0.5, batch_size=128, weight_decay=1e-3, optimizer='adamw', beta2=0.98,
                 grad_clip=0.0, select_metric='ndcg@10', heads=4, linear_dim=32, attention_dim=32),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--data', required=True)
    p.add_argument('--backbone', choices=sorted(REFERENCE), default='sasrec')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--max-epochs', type=int, default=20)
    p.add_argument('--patience', type=int, default=3)
    p.add_argument('--hidden', type=int, default=128)
    p.add_argument('--blocks', type=int, default=1)
    p.add_argument('--heads', type=int)
    p.add_argument('--dropout', type=float)
    p.add_argument('--max-len', type=int, default=50)
    p.add_argument('--ffn-multiplier', type=int, default=4, help='SASRec')
    p.add_argument('--linear-dim', type=int, help='HSTU')
    p.add_argument('--attention-dim', type=int, help='HSTU')
    p.add_argument('--temperature', type=float, default=0.05, help='HSTU')
    p.add_argument('--batch-size', type=int)
    p.add_argument('--eval-batch-size', type=int, default=256)
    p.add_argument('--lr', type=float, default=3e-4)
    p.add_argument('--weight-decay', type=float)
    p.add_argument('--optimizer', choices=('adam', 'adamw'))
    p.add_argument('--beta2', type=float)
    p.add_argument('--grad-clip', type=float, help='global gradient-norm clip; 0 disables it')
    p.add_argument('--num-negatives', type=int, default=500)
    p.add_argument('--select-metric')
    p.add_argument('--eval-rank', choices=('argsort', 'count'), default='argsort')
    p.add_argument('--seed', type=int, default=42)
    args = p.parse_args()
    for name, value in REFERENCE[args.backbone].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def make_model(args, num_items):
    if args.backbone == 'hstu':
        return HSTU(num_items, args.hidden, args.blocks, args.heads, args.linear_dim, args.attention_dim,
                    args.dropout, args.max_len, args.temperature)
    return SASRec(num_items, args.hidden, args.blocks, args.heads, args.dropout, args.max_len,
                  args.ffn_multiplier)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    users, num_items = read_sequences(args.data)
    model = make_model(args, num_items)
    optimizer = torch.optim.AdamW if args.optimizer == 'adamw' else torch.optim.Adam
    opt = optimizer(model.parameters(), lr=args.lr, betas=(0.9, args.beta2), weight_decay=args.weight_decay)

    epochs, best, best_epoch, best_state, since = [], -1.0, 0, None, 0
    for epoch in range(1, args.max_epochs + 1):
        t0 = time.perf_counter()
        loss = train_epoch(model, opt, users, num_items, args, gen)
        t1 = time.perf_counter()
        val = evaluate(model, users, 'val', args)
        t2 = time.perf_counter()
        epochs.append({'epoch': epoch, 'train_loss': loss, 'epoch_seconds': t1 - t0,
                       'eval_seconds': t2 - t1, 'validation': val})
        print(f'twin epoch {epoch}/{args.max_epochs} loss {loss:.4f} val {args.select_metric} '
              f'{val[args.select_metric]:.4f} ({t1 - t0:.1f} s train, {t2 - t1:.2f} s eval)',
              file=sys.stderr, flush=True)
        if val[args.select_metric] > best:
            best, best_epoch, since = val[args.select_metric], epoch, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
            best_val = val
        else:
            since += 1
            if args.patience and since >= args.patience:
                break
    model.load_state_dict(best_state)
    t0 = time.perf_counter()
    test = evaluate(model, users, 'test', args)
    test_seconds = time.perf_counter() - t0
    n = len(epochs)
    print(json.dumps({
        'epochs': epochs, 'best_epoch': best_epoch, 'validation': best_val, 'test': test,
        'seconds_per_epoch': sum(e['epoch_seconds'] for e in epochs) / n,
        'seconds_per_eval': sum(e['eval_seconds'] for e in epochs) / n,
        'test_eval_seconds': test_seconds,
        'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        'num_parameters': sum(p.numel() for p in model.parameters()),
    }))


if __name__ == '__main__':
    main()
