"""Benchmark of e2c.train (a script that prints, not a test).

    python tests/bench_train.py [--epochs-compare 3] [--full/--no-full] [--recipe reference] [--epochs-full N]
                                [--save/--no-save] [--per-item-full]

On all the training data (`e2c.train.prepare()`: MiniLM embeddings from the on-disk cache; the first run
embeds ~16k texts) and in the same process:

1. the per-item loop of the reference design: a `torch.utils.data.Dataset` returning (emb, pal, w) per index,
   `DataLoader(batch_size=256, shuffle=True, num_workers=0)`, each tensor of a batch moved to the device
   (`.to('cpu')`) one by one, the same `Text2Palette`, the reference loss with its diversity penalty computed
   by a Python loop over the 10 colour pairs, fp32, plain (not fused) AdamW, the same clipping and cosine schedule;
2. `e2c.train.fit` with a recipe (default `RECIPES['reference']`),

each for `--epochs-compare` epochs from the same seed (so with the same initial weights): seconds per epoch, their
ratio, and the validation Huber loss after those epochs. Then (unless --no-full) the recipe's full run (200 epochs)
with `fit`, writing its checkpoint and training state every epoch as `e2c-train` does: total seconds and the best
validation loss, beside the per-item loop's time for as many epochs (extrapolated, or run with --per-item-full).
A fp32 `fit` row shows what the bf16 autocast adds. A short untimed warm-up pays the one-off start-up of the
first training in the process (~1 s) before anything is timed.

Target: the full 200-epoch run in under 60 s on 2 CPU cores, at least 5× faster than the per-item loop,
at equal or better validation loss. Timings depend on the load: the load average is printed.
"""
import argparse, dataclasses, os, tempfile, time
from pathlib import Path
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset, DataLoader

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

def load():
    return os.getloadavg()

def fmt_load(l): return '/'.join(f'{x:.2f}' for x in l)

def main(epochs_compare=3, full=True, recipe='reference', epochs_full=None, save=True, per_item_full=False):
    from e2c.train import prepare, fit, RECIPES
    if recipe not in RECIPES: raise SystemExit(f"unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores; load average {fmt_load(load())}")
    t = time.perf_counter(); prep = prepare(verbose=False); t_prep = time.perf_counter() - t
    tr, va = prep.tr, prep.va
    print(f"data: {len(tr):,} training rows + {len(va):,} validation rows, {tr.emb.shape[1]}-d embeddings "
          f"(prepare: {t_prep:.1f} s)")
    base = RECIPES[recipe]
    cmp_cfg = dataclasses.replace(base, epochs=epochs_compare, patience=None)

    # the first training in a process pays a one-off start-up (~1 s here, whatever the loop): paid before timing
    from e2c.train import Tensors
    sub = lambda t, n: Tensors(t.emb[:n], t.pal[:n], t.w[:n])
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
    rows = [('per-item Dataset/DataLoader loop (reference)', spe_ref, vals_ref[-1], min(vals_ref)),
            (f"e2c fit, recipe '{recipe}', fp32 (bf16=False)", spe_32, hist32[-1]['val_recon'], min(h['val_recon'] for h in hist32)),
            (f"e2c fit, recipe '{recipe}'" + (' (bf16 autocast)' if base.bf16 else ''), spe_e2c, hist[-1]['val_recon'], min(h['val_recon'] for h in hist))]
    print(f"   {'method':<50} {'s/epoch':>9} {'speed-up':>9} {'val Huber (last)':>17} {'(best)':>10}")
    for name, spe, last, best in rows: print(f"   {name:<50} {spe:9.3f} {spe_ref / spe:8.1f}x {last:17.5f} {best:10.5f}")
    ratio = spe_ref / spe_e2c
    print(f"   speed-up: {ratio:.1f}x ({'at least 5x: met' if ratio >= 5 else 'target 5x: MISSED'})   (val Huber after {epochs_compare} epochs: e2c {hist[-1]['val_recon']:.5f} vs "
          f"per-item {vals_ref[-1]:.5f}; {'equal or better' if hist[-1]['val_recon'] <= vals_ref[-1] + 1e-5 else 'WORSE'})")
    if recipe != 'reference':
        print(f"   (recipe '{recipe}' reconstructs with recon={base.recon!r}; its val loss is not the plain Huber of the per-item loop)")
    print(f"   load average after: {fmt_load(load())}")
    res = dict(spe_ref=spe_ref, spe_32=spe_32, spe_e2c=spe_e2c, ratio=ratio, val_ref=vals_ref[-1], val_e2c=hist[-1]['val_recon'])
    if not full: return res

    ep_full = epochs_full or base.epochs
    full_cfg = dataclasses.replace(base, epochs=ep_full)
    print(f"\n2. full run: recipe '{recipe}', {ep_full} epochs" + (f" (patience {base.patience})" if base.patience else '')
          + (", checkpoint and training state written every epoch" if save else ", no checkpoints"))
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / 'bench.safetensors' if save else None
        t = time.perf_counter(); _, hist = fit(tr, va, full_cfg, out=out, encoder_id=prep.encoder.id, progress=False,
                                               meta=dict(data=prep.fingerprint, recipe=recipe))
        t_full = time.perf_counter() - t
    n = len(hist)
    best = min(hist, key=lambda h: h['val_recon'])
    ref_full = None
    if per_item_full:
        t = time.perf_counter(); _, vals, _ = fit_per_item(tr, va, dataclasses.replace(RECIPES['reference'], epochs=n, seed=base.seed))
        ref_full = (time.perf_counter() - t, min(vals), int(np.argmin(vals)))
    print(f"   {'':<34} {'epochs':>6} {'total s':>9} {'s/epoch':>9} {'best val':>10}")
    print(f"   {'e2c fit':<34} {n:6d} {t_full:9.1f} {t_full / n:9.3f} {best['val_recon']:10.5f}  (epoch {best['epoch']})")
    if ref_full:
        print(f"   {'per-item loop (run)':<34} {n:6d} {ref_full[0]:9.1f} {ref_full[0] / n:9.3f} {ref_full[1]:10.5f}  (epoch {ref_full[2]})")
    else: print(f"   {'per-item loop (extrapolated)':<34} {n:6d} {spe_ref * n:9.1f} {spe_ref:9.3f} {'':>10}")
    t_ref_full = ref_full[0] if ref_full else spe_ref * n
    print(f"   full run {'under' if t_full < 60 else 'OVER'} the 60 s target; {t_ref_full / t_full:.1f}x faster than the "
          f"per-item loop{'' if ref_full else ' (extrapolated)'}; best val {best['val_recon']:.5f} vs the per-item loop's "
          + (f"{ref_full[1]:.5f} over the same epochs" if ref_full else f"{vals_ref[-1]:.5f} after {epochs_compare} epochs (--per-item-full runs it in full)"))
    print(f"   load average after: {fmt_load(load())}")
    return res | dict(t_full=t_full, epochs_full=n, best_val=best['val_recon'])

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
                   help="also run the per-item loop for the full run's epochs (about 3 min) instead of extrapolating it")
    a = p.parse_args()
    if a.epochs_compare < 1: p.error('--epochs-compare must be ≥ 1')
    main(a.epochs_compare, a.full, a.recipe, a.epochs_full, a.save, a.per_item_full)
