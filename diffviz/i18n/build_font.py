"""Rebuild the subset CJK webfont the Chinese UI ships with (a development tool, not needed at run time).

A lecture-hall machine or a student's laptop often has no CJK font, and an offline page cannot
fetch one: every Chinese label then renders as empty boxes. diffviz ships a small subset of
Noto Sans CJK SC (SIL Open Font License 1.1) holding exactly the characters its Chinese text uses:
every value of `zh.json`, the Chinese chapters and the dashboards' text, plus ASCII, digits,
CJK punctuation and the words of the shapes captions (for prompts typed in Chinese).
The stylesheets list system fonts first, so a machine with its own CJK font uses that one.

Rebuild after changing Chinese text (`tests/test_i18n_font.py` fails until you do)::

    pip install fonttools brotli                      # in the `dev` extra
    apt-get download fonts-noto-cjk && dpkg -x fonts-noto-cjk_*.deb /tmp/noto
    python -m diffviz.i18n.build_font --source /tmp/noto/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

(`--source` also takes NotoSansCJKsc-Regular.otf / NotoSansSC-Regular.otf from github.com/notofonts/noto-cjk.)
"""
from __future__ import annotations

import argparse
import json
import string
import sys
from pathlib import Path

from diffviz.i18n.fonts import FONT_FILE, needs_font  # the stylesheets call it FAMILY; the font keeps its own names (OFL)
from diffviz.content import package_folder

PACKAGE = Path(__file__).resolve().parent.parent
DEFAULT_SOURCES = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc",
]
SC_INDEX = {"NotoSansCJK-Regular.ttc": 2}  # the collection's Simplified Chinese face

# Words of the shapes captions and of prompts a student is likely to type in Chinese (颜色, 形状, 大小, 位置).
PROMPT_WORDS = """
一个 一只 两个 的 在 和 与 有 是 了 画 张 图 图片
红色 橙色 黄色 绿色 青色 蓝色 紫色 粉色 粉红色 白色 黑色 灰色 棕色 金色 红 橙 黄 绿 青 蓝 紫 粉 白 黑 灰 棕
圆 圆形 圆圈 正方形 方形 方块 长方形 矩形 三角形 三角 十字 十字形 叉 星 星形 星星 心形 菱形 椭圆 线 条
大 小 大的 小的 巨大 很 较 中等
左 右 上 下 中 间 中间 中央 中心 左上角 右上角 左下角 右下角 左上 右上 左下 右下 上方 下方 左边 右边 上面 下面 角 边 居中 靠 位于 处
龙 猫 狗 房子 树 太阳 月亮 汽车 背景 一条 紫色的龙
数字 零 一 二 三 四 五 六 七 八 九 十
"""
# Full-width and CJK punctuation, typographic marks the labels use around Chinese text.
PUNCTUATION = "，。、；：？！“”‘’（）《》〈〉【】「」『』…—–·～％＋－×÷＝＜＞／　"


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _notebook_text(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"])


def ui_text(package: Path = PACKAGE) -> str:
    """All the text the Chinese UI can show: zh.json, the chapters (zh, and the English ones' Chinese prompts), dashboards, prompt words."""
    parts = _strings(json.loads((package / "i18n" / "zh.json").read_text(encoding="utf-8")))
    notebooks, dashboards = package_folder("notebooks"), package_folder("dashboards")
    for folder in (notebooks / "zh", notebooks, dashboards):  # English chapters show Chinese prompts too
        parts += [_notebook_text(p) for p in sorted(folder.glob("*.ipynb"))]
    return "\n".join(parts)


def ui_characters(package: Path = PACKAGE) -> set[str]:
    """The characters the subset font must hold."""
    text = ui_text(package) + PROMPT_WORDS + PUNCTUATION
    return {c for c in text if needs_font(c)} | set(string.digits + string.ascii_letters + string.punctuation + " ")


def font_characters(path: Path = FONT_FILE) -> set[str]:
    """The characters a font file maps (woff2 needs brotli)."""
    from fontTools.ttLib import TTFont

    with TTFont(str(path)) as font:
        return {chr(c) for c in font.getBestCmap()}


def build(source: str | Path, out: Path = FONT_FILE, package: Path = PACKAGE) -> Path:
    """Subset `source` (Noto Sans CJK SC, .otf/.ttf/.ttc) to the UI's characters as woff2 at `out`."""
    from fontTools import subset

    source = Path(source)
    chars = "".join(sorted(ui_characters(package)))
    args = [str(source), f"--text={chars}", f"--output-file={out}", "--flavor=woff2",
            "--layout-features=*", "--no-hinting", "--desubroutinize", "--name-IDs=*", "--name-languages=*"]
    if source.suffix.lower() == ".ttc":
        args.append(f"--font-number={SC_INDEX.get(source.name, 2)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    args[2] = f"--output-file={tmp}"
    subset.main(args)
    tmp.replace(out)
    missing = ui_characters(package) - font_characters(out)
    if missing:
        raise RuntimeError(f"{source.name} lacks {len(missing)} character(s) the UI uses: {''.join(sorted(missing))[:80]}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", default=None, help="Noto Sans CJK SC Regular (.otf, .ttf or the .ttc collection)")
    p.add_argument("-o", "--output", default=str(FONT_FILE))
    args = p.parse_args(argv)
    source = args.source or next((s for s in DEFAULT_SOURCES if Path(s).is_file()), None)
    if source is None:
        print("no Noto Sans CJK found; pass --source (see this module's docstring for where to get it)", file=sys.stderr)
        return 2
    out = build(source, Path(args.output))
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB, {len(ui_characters())} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
