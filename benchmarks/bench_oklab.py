"""Benchmark of e2c.oklab (a script that prints, not a test).

    python tests/bench_oklab.py [--n 1000000] [--runs 5]

Round trip sRGB → Oklab → sRGB of N random colours with e2c and with colour-science
(`colour.convert`) in the same process, median of `runs`; their largest difference; and
gamut mapping of N random Oklab colours (L in [0, 1], a and b in [-0.4, 0.4]).
"""
import argparse, time, warnings
import numpy as np
from benchtools import median_time

def main(n=1_000_000, runs=5):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore"); import colour
    from e2c.oklab import srgb_to_oklab, oklab_to_srgb, gamut_map, in_gamut, M_LMS_TO_XYZ, M_SRGB_TO_LMS
    warnings.simplefilter('ignore')
    rng = np.random.default_rng(0)
    rgb = rng.random((n, 3))
    t_e2c, back = median_time(lambda: oklab_to_srgb(srgb_to_oklab(rgb)), runs)
    t_cs, back_cs = median_time(lambda: colour.convert(colour.convert(rgb, 'sRGB', 'Oklab'), 'Oklab', 'sRGB'), runs)
    # the same forward conversion in colour-science, on the sRGB→XYZ matrix of Ottosson's sRGB definition
    ref = colour.XYZ_to_Oklab(colour.models.eotf_sRGB(rgb) @ (M_LMS_TO_XYZ @ M_SRGB_TO_LMS).T)
    print(f"round trip sRGB→Oklab→sRGB, {n:,} colours, median of {runs}")
    print(f"  e2c             {t_e2c*1e3:8.1f} ms   max |rt - in| = {np.abs(back - rgb).max():.2e}")
    print(f"  colour-science  {t_cs*1e3:8.1f} ms   max |rt - in| = {np.abs(back_cs - rgb).max():.2e}")
    print(f"  speed-up        {t_cs / t_e2c:8.1f} x")
    print(f"  max |Oklab e2c - Oklab colour-science (same sRGB→XYZ matrix)| = {np.abs(srgb_to_oklab(rgb) - ref).max():.2e}")
    lab = np.c_[rng.random(n), rng.uniform(-0.4, 0.4, (n, 2))]
    out = in_gamut(lab, tol=0)
    for jnd in (0.02, 0.0):
        t_gm, m = median_time(lambda: gamut_map(lab, jnd=jnd), runs)
        print(f"gamut_map jnd={jnd}: {n:,} colours ({(~out).mean():.0%} out of gamut), median of {runs}: {t_gm*1e3:.1f} ms;"
              f" all in gamut: {bool(in_gamut(m).all())}")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n', type=int, default=1_000_000, help='number of colours')
    p.add_argument('--runs', type=int, default=5, help='timed runs (the median is printed)')
    a = p.parse_args()
    main(a.n, a.runs)
