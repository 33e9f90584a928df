"""Benchmark of e2c.train (a script that prints, not a test).

    python benchmarks/bench_train.py [--epochs-compare 3] [--full/--no-full] [--recipe reference] [--epochs-full N]
                                     [--save/--no-save] [--per-item-full] [--seeds K] [--json]

On all the training data (`e2c.train.prepare()`: MiniLM embeddings from the on-disk cache; the first run
embeds ~16k texts) and in the same process:

1. the per-item loop of the reference design: a `torch.utils.data.Dataset` returning (emb, pal, w) per index,
   `DataLoader(batch_size=256, shuffle=True, num_workers=0)`, each tensor of a batch moved to the device
   (`.to('cpu')`) one by one, the same `Text2Palette`, the reference loss with its diversity penalty computed
   by a Python loop over the 10 colour pairs, fp32, plain (not fused) AdamW, the same clipping and cosine schedule;
2. `e2c.train.fit` with a recipe (default `RECIPES['reference']`),

each for `--epochs-compare` epochs from the same seed (so with the same initial weights): seconds per epoch and
their ratio. A fp32 `fit` row shows what the bf16 autocast adds. A floor follows: the seconds per epoch of the
model's matrix products alone (bfloat16, the shapes of one epoch's forward and backward passes), which no loop
written around them can beat; the per-item loop's time over that floor bounds the speed-up any loop can reach.

Then (unless --no-full) the recipe's full run (200 epochs) with `fit`, writing its checkpoint and training state
every epoch as `e2c-train` does: total seconds and the best validation loss, beside the per-item loop's time
for as many epochs (extrapolated, or run with --per-item-full). The validation loss is compared on full runs:
after a few epochs it mostly reflects the order of the batches and the dropout masks, which differ between the
two loops. `--seeds K` repeats the full runs with seeds 0..K-1 and prints the mean and spread of the best
validation loss of each loop, so "equal" means within the seed-to-seed spread.

A short untimed warm-up pays the one-off start-up of the first training in the process (~1 s) before anything
is timed. Target: the full 200-epoch run in under 60 s on 2 CPU cores, at least 5× faster than the per-item
loop, at equal or better validation loss. Timings depend on the load: the load average is printed.
`main` returns the figures as a dict; --json prints it at the end.
"""
import argparse, dataclasses, os, tempfile, time
from pathlib import Path
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset, DataLoader
from benchtools import load_average, jsonable, print_json

class PaletteDataset(Dataset):
    "One training item per index, as the reference design served them."
    def __init__(self, t): self.emb, self.pal, self.w = t.emb, t.pal, t.w
    def __len__(self): return len(self.emb)
    def __getitem__(self, i): return self.emb[i], self.pal[i], self.w[i]

def diversity_penalty_loop(pred, min_dist=0.12):
    "The reference design's diversity penalty: a Python loop over the 10 colour pairs (same value as e2c's)."
    pen, n = 0., 0
    for i in range(pred.shape[1]):
        for j in range(i + 1, pred.shape[1]):
            d = ((pred[:, i] - pred[:, j]).pow(2).sum(-1) + 1e-12).sqrt()
            pen = pen + F.relu(min_dist - d).pow(2).mean(); n += 1
    return pen / n

def reference_loss(pred, pal, w, cfg):
    from e2c.losses import huber_loss, triplet_loss, lightness_spread
    return (huber_loss(pred, pal, w) + cfg.w_triplet * triplet_loss(pred, pal)
            + cfg.w_div * diversity_penalty_loop(pred) + cfg.w_spread * lightness_spread(pred))

def val_huber(model, va):
    from e2c.losses import huber_loss
    with torch.no_grad():
        model.eval(); v = float(huber_loss(model(va.emb), va.pal, va.w)); model.train()
    return v

def fit_per_item(tr, va, cfg, device='cpu'):
    "The reference training loop (per-item Dataset/DataLoader, fp32, plain AdamW); returns (model, val losses, s/epoch)."
    from e2c.model import Text2Palette
    torch.manual_seed(cfg.seed)          # same initial weights as fit(): it seeds the same way before building the model
    model = Text2Palette(tr.emb.shape[1], cfg.hidden, cfg.head_hidden, dropout=cfg.dropout).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.wd)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs, eta_min=cfg.lr_min)
    dl = DataLoader(PaletteDataset(tr), batch_size=cfg.bs, shuffle=True, num_workers=0,
                    generator=torch.Generator().manual_seed(cfg.seed))
    vals, times = [], []
    model.train()
    for ep in range(cfg.epochs):
        t = time.perf_counter()
        for batch in dl:
            emb, pal, w = [x.to(device) for x in batch]        # moved one by one, as the reference did
            loss = reference_loss(model(emb), pal, w, cfg)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
        sched.step()
        vals.append(val_huber(model, va))
        times.append(time.perf_counter() - t)
    return model, vals, times

def matmul_floor(n, d, cfg, reps=3, dtype=torch.bfloat16):
    """Seconds per epoch of the model's matrix products alone (in `dtype`): for every batch of an epoch, the
    forward products (trunk, trunk, the five first head layers side by side, the five second layers as one
    batched product) and the backward ones (input gradients of all but the first layer, weight gradients of all)."""
    H, h, K = cfg.hidden, cfg.head_hidden, 5
    bf = dict(dtype=dtype)
    sizes = [cfg.bs] * (n // cfg.bs) + ([n % cfg.bs] if n % cfg.bs else [])
    W1, W2, W3 = torch.randn(H, d, **bf), torch.randn(H, H, **bf), torch.randn(K * h, H, **bf)
    W4 = torch.randn(K, h, 3, **bf)
    def epoch():
        for B in sizes:
            x, g1, g2 = torch.randn(B, d, **bf), torch.randn(B, H, **bf), torch.randn(B, H, **bf)
            g3, hh, g4 = torch.randn(B, K * h, **bf), torch.randn(K, B, h, **bf), torch.randn(K, B, 3, **bf)
            x @ W1.T; g1 @ W2.T; g2 @ W3.T; torch.bmm(hh, W4)                      # forward
            g4 @ W4.transpose(1, 2); g3 @ W3; g2 @ W2                                # input gradients
            g1.T @ x; g2.T @ g1; g3.T @ g2; torch.bmm(hh.transpose(1, 2), g4)      # weight gradients
    def inputs_only():
        for B in sizes:
            torch.randn(B, d, **bf); torch.randn(B, H, **bf); torch.randn(B, H, **bf)
            torch.randn(B, K * h, **bf); torch.randn(K, B, h, **bf); torch.randn(K, B, 3, **bf)
    epoch(); ts, tr_ = [], []
    for _ in range(reps):
        t = time.perf_counter(); epoch(); ts.append(time.perf_counter() - t)
        t = time.perf_counter(); inputs_only(); tr_.append(time.perf_counter() - t)
    return max(min(ts) - min(tr_), 1e-9)

def main(epochs_compare=3, full=True, recipe='reference', epochs_full=None, save=True, per_item_full=False, seeds=1, rows=None):
    with torch.random.fork_rng(devices=[]):       # the training loops seed torch's global generator: restore it afterwards
        return _main(epochs_compare, full, recipe, epochs_full, save, per_item_full, seeds, rows)

def _main(epochs_compare, full, recipe, epochs_full, save, per_item_full, seeds, rows):
    from e2c.train import prepare, fit, RECIPES
    if recipe not in RECIPES: raise SystemExit(f"unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}")
    res = dict(torch=torch.__version__, threads=torch.get_num_threads(), cores=os.cpu_count(), load_average=load_average(),
               recipe=recipe)
    print(f"torch {res['torch']}, {res['threads']} threads, {res['cores']} cores; load average {res['load_average']}")
    t = time.perf_counter(); prep = prepare(verbose=False); t_prep = time.perf_counter() - t
    tr, va = prep.tr, prep.va
    from e2c.train import Tensors
    sub = lambda t, n: Tensors(t.emb[:n], t.pal[:n], t.w[:n])
    if rows: tr, va = sub(tr, rows), sub(va, max(64, rows // 8))     # a smaller run (smoke tests): first rows only
    print(f"data: {len(tr):,} training rows + {len(va):,} validation rows, {tr.emb.shape[1]}-d embeddings "
          f"(prepare: {t_prep:.1f} s)")
    res['data'] = dict(train_rows=len(tr), val_rows=len(va), emb_dim=tr.emb.shape[1], prepare_s=t_prep)
    base = RECIPES[recipe]
    cmp_cfg = dataclasses.replace(base, epochs=epochs_compare, patience=None)

    # the first training in a process pays a one-off start-up (~1 s here, whatever the loop): paid before timing
    fit(sub(tr, 2048), sub(va, 256), dataclasses.replace(cmp_cfg, epochs=1), progress=False)
    fit_per_item(sub(tr, 2048), sub(va, 256), dataclasses.replace(RECIPES['reference'], epochs=1))

    print(f"\n1. {epochs_compare} epochs from the same seed (cosine schedule over {epochs_compare} epochs), no checkpoints")
    t = time.perf_counter(); _, vals_ref, times_ref = fit_per_item(tr, va, dataclasses.replace(RECIPES['reference'], epochs=epochs_compare, seed=base.seed))
    t_ref = time.perf_counter() - t
    t = time.perf_counter(); _, hist32 = fit(tr, va, dataclasses.replace(cmp_cfg, bf16=False), progress=False)
    t_32 = time.perf_counter() - t
    t = time.perf_counter(); _, hist = fit(tr, va, cmp_cfg, progress=False)
    t_e2c = time.perf_counter() - t
    spe_ref, spe_32, spe_e2c = t_ref / epochs_compare, t_32 / epochs_compare, t_e2c / epochs_compare
    rows = [('per-item Dataset/DataLoader loop (reference)', spe_ref, vals_ref[-1]),
            (f"e2c fit, recipe '{recipe}', fp32 (bf16=False)", spe_32, hist32[-1]['val_recon']),
            (f"e2c fit, recipe '{recipe}'" + (' (bf16 autocast)' if base.bf16 else ''), spe_e2c, hist[-1]['val_recon'])]
    print(f"   {'method':<50} {'s/epoch':>9} {'speed-up':>9} {'val Huber after':>16}")
    for name, spe, last in rows: print(f"   {name:<50} {spe:9.3f} {spe_ref / spe:8.1f}x {last:16.5f}")
    ratio = spe_ref / spe_e2c
    print(f"   speed-up: {ratio:.1f}x ({'at least 5x: met' if ratio >= 5 else 'target 5x: MISSED'}); the validation loss after "
          f"{epochs_compare} epochs depends on the batch order and dropout masks: compare it on full runs (part 2)")
    if recipe != 'reference':
        print(f"   (recipe '{recipe}' reconstructs with recon={base.recon!r}; its val loss is not the plain Huber of the per-item loop)")
    floor = matmul_floor(len(tr), tr.emb.shape[1], base)
    floor32 = matmul_floor(len(tr), tr.emb.shape[1], base, dtype=torch.float32)
    d, H, Kh = tr.emb.shape[1], base.hidden, 5 * base.head_hidden
    macs = d * H + H * H + H * Kh + Kh * 3                     # per row, forward
    gflop = 2 * len(tr) * (3 * macs - d * H) / 1e9             # forward, weight gradients, input gradients but the first layer's
    print(f"   floor: the matrix products alone (one epoch's shapes, {gflop:.1f} GFLOP) take {floor:.3f} s/epoch in bf16 "
          f"({gflop / floor:.0f} GFLOP/s) and {floor32:.3f} s in fp32 ({100 * floor32 / spe_ref:.0f} % of the per-item loop's epoch); "
          f"no loop around them can be more than {spe_ref / floor:.1f}x faster than the per-item loop")
    cmp = res['compare'] = dict(epochs=epochs_compare, load_average_after=load_average())
    print(f"   load average after: {cmp['load_average_after']}")
    for key, (name, spe, last) in zip(('per_item', 'fit_fp32', 'fit'), rows):
        cmp[key] = dict(method=name, s_per_epoch=spe, speedup=spe_ref / spe, val_huber=last)
    cmp.update(speedup=ratio, floor_bf16_s_per_epoch=floor, floor_fp32_s_per_epoch=floor32, floor_gflop=gflop,
               max_speedup=spe_ref / floor)
    res['full'] = None
    if not full: return jsonable(res)

    ep_full = epochs_full or base.epochs
    print(f"\n2. full run: recipe '{recipe}', {ep_full} epochs" + (f" (patience {base.patience})" if base.patience else '')
          + (", checkpoint and training state written every epoch" if save else ", no checkpoints")
          + (f", seeds 0..{seeds - 1}" if seeds > 1 else f", seed {base.seed}"))
    print(f"   {'':<34} {'seed':>4} {'epochs':>6} {'total s':>9} {'s/epoch':>9} {'best val':>10}")
    runs, runs_ref = [], []
    fr = res['full'] = dict(epochs=ep_full, save=save, runs=[])
    for seed in (range(seeds) if seeds > 1 else [base.seed]):
        full_cfg = dataclasses.replace(base, epochs=ep_full, seed=seed)
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / 'bench.safetensors' if save else None
            t = time.perf_counter(); _, hist = fit(tr, va, full_cfg, out=out, encoder_id=prep.encoder.id, progress=False,
                                                   meta=dict(data=prep.fingerprint, recipe=recipe))
            t_full = time.perf_counter() - t
        n = len(hist); best = min(hist, key=lambda h: h['val_recon'])
        runs.append((t_full, n, best['val_recon']))
        fr['runs'].append(dict(method='e2c fit', seed=seed, epochs=n, total_s=t_full, s_per_epoch=t_full / n,
                               best_val=best['val_recon'], best_epoch=best['epoch']))
        print(f"   {'e2c fit':<34} {seed:4d} {n:6d} {t_full:9.1f} {t_full / n:9.3f} {best['val_recon']:10.5f}  (epoch {best['epoch']})")
        if per_item_full:
            t = time.perf_counter(); _, vals, _ = fit_per_item(tr, va, dataclasses.replace(RECIPES['reference'], epochs=n, seed=seed))
            t_r = time.perf_counter() - t
            runs_ref.append((t_r, n, min(vals)))
            fr['runs'].append(dict(method='per-item loop (run)', seed=seed, epochs=n, total_s=t_r, s_per_epoch=t_r / n,
                                   best_val=min(vals), best_epoch=int(np.argmin(vals))))
            print(f"   {'per-item loop (run)':<34} {seed:4d} {n:6d} {t_r:9.1f} {t_r / n:9.3f} {min(vals):10.5f}  (epoch {int(np.argmin(vals))})")
        else:
            print(f"   {'per-item loop (extrapolated)':<34} {seed:4d} {n:6d} {spe_ref * n:9.1f} {spe_ref:9.3f} {'':>10}")
            fr['runs'].append(dict(method='per-item loop (extrapolated)', seed=seed, epochs=n, total_s=spe_ref * n,
                                   s_per_epoch=spe_ref, best_val=None, best_epoch=None))
    t_full = float(np.mean([r[0] for r in runs])); n = runs[0][1]
    t_ref_full = float(np.mean([r[0] for r in runs_ref])) if runs_ref else spe_ref * n
    worst = max(r[0] for r in runs)
    print(f"   full run {'under' if worst < 60 else 'OVER'} the 60 s target ({'slowest' if len(runs) > 1 else 'time'} {worst:.1f} s); "
          f"{t_ref_full / t_full:.1f}x faster than the per-item loop{'' if runs_ref else ' (extrapolated)'}")
    fr.update(seeds=len(runs), fit_mean_s=t_full, fit_slowest_s=worst, under_60_s=bool(worst < 60),
              per_item_mean_s=t_ref_full, per_item_extrapolated=not runs_ref, speedup=t_ref_full / t_full)
    vals_e, vals_r = np.array([r[2] for r in runs]), np.array([r[2] for r in runs_ref])
    if len(vals_r):
        sd = lambda v: float(v.std(ddof=1)) if len(v) > 1 else float('nan')
        diff = vals_e.mean() - vals_r.mean()
        spread = np.nanmax([sd(vals_e), sd(vals_r)]) if len(runs) > 1 else float('nan')
        verdict = ('better' if diff < 0 else 'equal within the seed-to-seed spread' if len(runs) > 1 and abs(diff) <= 2 * spread
                   else 'worse by more than twice the seed-to-seed spread' if len(runs) > 1 else 'worse (one seed: run --seeds 3 to see the spread)')
        print(f"   best val: e2c fit {vals_e.mean():.5f} ± {sd(vals_e):.5f}, per-item loop {vals_r.mean():.5f} ± {sd(vals_r):.5f} "
              f"(mean ± sd over {len(runs)} seed{'s' if len(runs) > 1 else ''}); difference {diff:+.5f}: {verdict}")
        fr['best_val'] = dict(fit_mean=vals_e.mean(), fit_sd=sd(vals_e), per_item_mean=vals_r.mean(), per_item_sd=sd(vals_r),
                              difference=diff, verdict=verdict)
    else:
        print(f"   best val: e2c fit {vals_e.mean():.5f}; --per-item-full runs the per-item loop in full to compare")
        fr['best_val'] = dict(fit_mean=vals_e.mean(), fit_sd=None, per_item_mean=None, per_item_sd=None, difference=None, verdict=None)
    fr['load_average_after'] = load_average()
    print(f"   load average after: {fr['load_average_after']}")
    return jsonable(res)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--epochs-compare', type=int, default=3, help='epochs of the side-by-side comparison (default 3)')
    p.add_argument('--full', action=argparse.BooleanOptionalAction, default=True,
                   help="also run the recipe's full training with fit (default: yes)")
    p.add_argument('--epochs-full', type=int, default=None, help="epochs of the full run (default: the recipe's, 200)")
    p.add_argument('--recipe', default='reference', help="e2c.train.RECIPES entry for fit: reference (default) or e2c")
    p.add_argument('--save', action=argparse.BooleanOptionalAction, default=True,
                   help='write the checkpoint and training state every epoch in the full run, as e2c-train does (default: yes)')
    p.add_argument('--per-item-full', action='store_true',
                   help="also run the per-item loop for the full run's epochs (about 2 min per seed) instead of extrapolating it")
    p.add_argument('--seeds', type=int, default=1,
                   help='full runs with seeds 0..K-1, to compare validation losses against the seed-to-seed spread (default 1: the recipe seed)')
    p.add_argument('--rows', type=int, default=None, help='train on the first ROWS training rows only (default: all)')
    p.add_argument('--json', action='store_true', help='print the figures as JSON at the end')
    a = p.parse_args()
    if a.epochs_compare < 1: p.error('--epochs-compare must be ≥ 1')
    if a.seeds < 1: p.error('--seeds must be ≥ 1')
    res = main(a.epochs_compare, a.full, a.recipe, a.epochs_full, a.save, a.per_item_full, a.seeds, a.rows)
    if a.json: print_json(res)
