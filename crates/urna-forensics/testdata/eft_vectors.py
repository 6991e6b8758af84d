#!/usr/bin/env python3
"""Independent computation of the Election Forensics Toolkit's point statistics
(BasicElectionForensics: _2BL, LastC, C05s, P05s, Skew, Kurt, Obs) for Albania 2013 per
prefecture, for Turnout (Ballots/Registered), C035 and C050 (votes/Ballots).

Run once from the workspace root:
    python3 crates/urna-forensics/testdata/eft_vectors.py
Its output is pasted into crates/urna-forensics/src/tests.rs as fixed test vectors.
Standard library only; written from the toolkit's definitions, not from the Rust code.
"""
import csv
import math
import sys

PATH = "../shared/data/albania_2013_eftoolkit/Albania2013.csv"


def share(k, n):
    # R: k/n, Inf and NaN for n == 0; shares >= 1 become 1; NaN stays undefined.
    if n == 0:
        return 1.0 if k > 0 else None
    return min(k / n, 1.0)


def stats(counts, shares):
    seconds = [int(str(c)[1]) for c in counts if len(str(c)) >= 2]
    lasts = [int(str(c)[-1]) for c in counts]
    pcts = [s for s in shares if s is not None]
    p05 = sum(1 for s in pcts if int(round(s * 100)) % 10 in (0, 5))  # round(): half to even
    n = len(pcts)
    m = sum(pcts) / n
    m2 = sum((x - m) ** 2 for x in pcts) / n
    m3 = sum((x - m) ** 3 for x in pcts) / n
    m4 = sum((x - m) ** 4 for x in pcts) / n
    return (
        sum(seconds) / len(seconds),
        sum(lasts) / len(lasts),
        sum(1 for d in lasts if d in (0, 5)) / len(lasts),
        p05 / n,
        m3 / m2 ** 1.5,
        m4 / m2 ** 2,
        len(counts),
    )


def main():
    rows = list(csv.DictReader(open(PATH)))
    prefectures = sorted({r["Prefectures"] for r in rows})
    for var in ("Turnout", "C035", "C050"):
        for p in prefectures:
            sub = [r for r in rows if r["Prefectures"] == p]
            if var == "Turnout":
                counts = [int(r["Ballots"]) for r in sub]
                shares = [share(int(r["Ballots"]), int(r["Registered"])) for r in sub]
            else:
                counts = [int(r[var]) for r in sub]
                shares = [share(int(r[var]), int(r["Ballots"])) for r in sub]
            s = stats(counts, shares)
            print(f'    ("{var}", "{p}", [{", ".join(f"{x:.6f}" for x in s[:6])}], {s[6]}),')


if __name__ == "__main__":
    sys.exit(main())
