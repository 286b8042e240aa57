"""Is resident memory climbing over a soak, or only swinging? Judged from the trend of
like cycles (image cycles with image cycles, text with text), never from one sample.

A leak shows as a slope: every training run keeps what it built, so each cycle of a kind
sits higher than the one before. An ordinary swing (an image cycle's buffers are larger
than a text cycle's; glibc hands memory back or not) moves samples up and down without a
slope. Two bounds, each per kind of cycle:

* the robust slope (Theil–Sen: the median of the slopes between every pair of samples,
  which outliers do not move) in MB per cycle, and
* the growth over the run: the median of the last third of the samples against the median
  of the second third (the first third is close to warm-up and may still be settling).

The leak the soak was written for (TensorFlow's gradient registry kept each fit's traced
graph) added ~160 MB per training run: a slope of ~160 MB per cycle.
"""

from __future__ import annotations

from statistics import median

SLOPE_MB_PER_CYCLE = 4.0    # 4 MB a cycle is 100 MB over a 26-cycle soak
GROWTH_MB = 100.0


def theil_sen(xs: list[float], ys: list[float]) -> float:
    """The median of the pairwise slopes (ys[j] − ys[i]) / (xs[j] − xs[i])."""
    slopes = [(ys[j] - ys[i]) / (xs[j] - xs[i])
              for i in range(len(xs)) for j in range(i + 1, len(xs)) if xs[j] != xs[i]]
    return median(slopes) if slopes else 0.0


def third_growth(ys: list[float]) -> float:
    """Median of the last third minus median of the second third."""
    n = len(ys) // 3
    if n == 0:
        return 0.0
    return median(ys[-n:]) - median(ys[n:2 * n])


def memory_verdicts(samples: list[float], kinds: list[str], warmup: int) -> list[str]:
    """The bounds each kind of cycle breaks after ``warmup`` cycles (an empty list when
    memory does not grow). ``samples[i]`` is the RSS in MB after cycle ``i``, of kind
    ``kinds[i]``. A kind with fewer than 3 samples after warm-up is not judged."""
    problems = []
    for kind in sorted(set(kinds)):
        cycles = [i for i in range(warmup, len(samples)) if kinds[i] == kind]
        if len(cycles) < 3:
            continue
        ys = [samples[i] for i in cycles]
        slope = theil_sen([float(i) for i in cycles], ys)
        growth = third_growth(ys)
        if slope >= SLOPE_MB_PER_CYCLE:
            problems.append(f"{kind} cycles: RSS climbs {slope:.1f} MB per cycle "
                            f"(Theil-Sen; bound {SLOPE_MB_PER_CYCLE:g})")
        if growth >= GROWTH_MB:
            problems.append(f"{kind} cycles: last third {growth:.0f} MB above the second "
                            f"third (medians; bound {GROWTH_MB:g})")
    return problems


def series_table(samples: list[float], kinds: list[str], threads: list) -> str:
    """The per-cycle series, one line a cycle, to read a failure from CI's log alone."""
    return "\n".join(f"  cycle {i + 1:2d} {kinds[i]:6s} {mb:7.0f} MB  threads {t}"
                     for i, (mb, t) in enumerate(zip(samples, threads)))
