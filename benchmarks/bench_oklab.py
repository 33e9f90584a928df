"""Benchmark of e2c.oklab (a script that prints, not a test).

    python benchmarks/bench_oklab.py [--n 1000000] [--runs 5] [--json]

Round trip sRGB → Oklab → sRGB of N random colours with e2c and with colour-science
(`colour.convert`) in the same process, median of `runs`; their largest difference; and
gamut mapping of N random Oklab colours (L in [0, 1], a and b in [-0.4, 0.4]).
`main` returns the figures as a dict; --json prints it at the end.
"""
import argparse, time, warnings
import numpy as np
from benchtools import median_time, jsonable, print_json

def main(n=1_000_000, runs=5):
    with warnings.catch_warnings():                 # colour-science warns on import and on out-of-range values
        warnings.simplefilter('ignore')
        return _main(n, runs)

def _main(n, runs):
    import colour
    from e2c.oklab import srgb_to_oklab, oklab_to_srgb, gamut_map, in_gamut, M_LMS_TO_XYZ, M_SRGB_TO_LMS
    rng = np.random.default_rng(0)
    rgb = rng.random((n, 3))
    t_e2c, back = median_time(lambda: oklab_to_srgb(srgb_to_oklab(rgb)), runs)
    t_cs, back_cs = median_time(lambda: colour.convert(colour.convert(rgb, 'sRGB', 'Oklab'), 'Oklab', 'sRGB'), runs)
    # the same forward conversion in colour-science, on the sRGB→XYZ matrix of Ottosson's sRGB definition
    ref = colour.XYZ_to_Oklab(colour.models.eotf_sRGB(rgb) @ (M_LMS_TO_XYZ @ M_SRGB_TO_LMS).T)
    rt_e2c, rt_cs = float(np.abs(back - rgb).max()), float(np.abs(back_cs - rgb).max())
    diff = float(np.abs(srgb_to_oklab(rgb) - ref).max())
    print(f"round trip sRGB→Oklab→sRGB, {n:,} colours, median of {runs}")
    print(f"  e2c             {t_e2c*1e3:8.1f} ms   max |rt - in| = {rt_e2c:.2e}")
    print(f"  colour-science  {t_cs*1e3:8.1f} ms   max |rt - in| = {rt_cs:.2e}")
    print(f"  speed-up        {t_cs / t_e2c:8.1f} x")
    print(f"  max |Oklab e2c - Oklab colour-science (same sRGB→XYZ matrix)| = {diff:.2e}")
    res = dict(n=n, runs=runs, e2c_ms=t_e2c * 1e3, colour_science_ms=t_cs * 1e3, speedup=t_cs / t_e2c,
               max_roundtrip_error_e2c=rt_e2c, max_roundtrip_error_colour_science=rt_cs, max_diff_vs_colour_science=diff)
    lab = np.c_[rng.random(n), rng.uniform(-0.4, 0.4, (n, 2))]
    out = in_gamut(lab, tol=0)
    gm = res['gamut_map'] = dict(out_of_gamut=float((~out).mean()))
    for jnd in (0.02, 0.0):
        t_gm, m = median_time(lambda: gamut_map(lab, jnd=jnd), runs)
        ok = bool(in_gamut(m).all())
        print(f"gamut_map jnd={jnd}: {n:,} colours ({(~out).mean():.0%} out of gamut), median of {runs}: {t_gm*1e3:.1f} ms;"
              f" all in gamut: {ok}")
        gm[f'jnd={jnd}'] = dict(ms=t_gm * 1e3, all_in_gamut=ok)
    return jsonable(res)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n', type=int, default=1_000_000, help='number of colours')
    p.add_argument('--runs', type=int, default=5, help='timed runs (the median is printed)')
    p.add_argument('--json', action='store_true', help='print the figures as JSON at the end')
    a = p.parse_args()
    res = main(a.n, a.runs)
    if a.json: print_json(res)
