"""Han characters, the Chinese script, spelled once for every module that counts them.

CJK Unified Ideographs with Extension A, the compatibility ideographs and the
supplementary planes (Extensions B–F): what Chinese news text is written in.
"""

from __future__ import annotations

import re

RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
HAN = re.compile(f"[{RANGES}]")
HAN_RUN = re.compile(f"[{RANGES}]+")
