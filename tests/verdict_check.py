"""Reading the numbers back out of a verdict's sentences (not a test module).

Every number a verdict sentence prints must be a value of the verdict dict at the printed
precision: :func:`sentence_numbers` parses them, :func:`stored_numbers` formats the dict's values
the way :mod:`eos_core.evaluation._verdict` prints them, and :func:`check_sentences` compares the two.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from eos_core.evaluation._verdict import ALPHA, MIN_SEEDS, fmt_p, fmt_ratio, fmt_rho, fmt_signed
from eos_core.names import GAP_NAMES

NUMBER = re.compile(r"[−+-]?\d+(?:\.\d+)?")
QUOTED = re.compile(r"“[^”]*”")  # class names may hold digits; they are quoted


def sentence_numbers(text: str) -> list[str]:
    """The numbers of a sentence as printed (``−`` kept), class names and measure names left out."""
    for name in GAP_NAMES.values():  # "1-NN recall gap" is a name, not a number
        text = text.replace(name, " ")
    return NUMBER.findall(QUOTED.sub(" ", text))


def stored_numbers(v: dict[str, Any]) -> dict[str, set[str]]:
    """Per part, every number the sentence may print, formatted from the verdict's stored values."""
    g, o = v["gap"], v["oversampling"]
    gap = {str(g["tested"]), str(g["holding"]), f"{ALPHA:g}", "3"}  # 3: fewest classes for a correlation
    for m in g["measures"].values():
        if m["rho"] is not None and m["p"] is not None:
            gap |= {fmt_rho(m["rho"]), fmt_p(m["p"])}
    if g["widest"]:
        gap |= {fmt_ratio(g["widest"]["value"]), str(g["widest"]["train_count"])}
    over = {fmt_ratio(g["widest"]["value"]), str(g["holding"]), str(g["tested"])} if g["widest"] else set()
    over |= {str(g["holding"]), str(g["tested"]), "95", "0", str(o["seeds"]), str(MIN_SEEDS),
             str(MIN_SEEDS - o["seeds"])}
    if o["delta"] is not None:
        over.add(fmt_signed(o["delta"]))
    if o["interval"]:
        over |= {fmt_signed(o["interval"][0]), fmt_signed(o["interval"][1])}
    return {"gap": gap, "oversampling": over}


def check_sentences(v: dict[str, Any], shown: dict[str, str] | None = None) -> None:
    """Assert each sentence (``shown`` or the dict's own) prints only the verdict's numbers, and
    prints the key ones: the difference, its interval and every tested measure's rho and p."""
    allowed = stored_numbers(v)
    for part in ("gap", "oversampling"):
        text = (shown or {}).get(part, v[part]["sentence"])
        found = sentence_numbers(text)
        extra = [t for t in found if t not in allowed[part]]
        assert not extra, (part, extra, text)
    o, g = v["oversampling"], v["gap"]
    over = Counter(sentence_numbers((shown or {}).get("oversampling", o["sentence"])))
    if o["delta"] is not None:
        assert over[fmt_signed(o["delta"])] >= 1
    if o["interval"]:
        assert over[fmt_signed(o["interval"][0])] >= 1 and over[fmt_signed(o["interval"][1])] >= 1
    gap = Counter(sentence_numbers((shown or {}).get("gap", g["sentence"])))
    for m in g["measures"].values():
        if m["rho"] is not None and m["p"] is not None:
            assert gap[fmt_rho(m["rho"])] >= 1 and gap[fmt_p(m["p"])] >= 1
