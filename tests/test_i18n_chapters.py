"""The Chinese chapters (notebooks/zh/) are the English chapters in Chinese: same cells, same code.

Their code may differ from the English only in what a reader sees (string literals, comments) and in one
added cell that switches the language; the prose is Chinese, with the lecture's own terms.
`diffviz notebooks --lang zh` copies them.
"""
import io
import json
import re
import tokenize
from pathlib import Path

import pytest

from diffviz.i18n.fonts import is_cjk

ROOT = Path(__file__).resolve().parents[1]
EN = sorted((ROOT / "notebooks").glob("*.ipynb"))
ZH_DIR = ROOT / "notebooks" / "zh"
LANGUAGE_CELL = re.compile(r"^from diffviz\.widgets import set_language\nset_language\('zh'\)")
TERMS = ["前向过程", "反向过程", "噪声预测器", "分类器无关引导", "文字编码器", "解码器", "隐空间", "训练资料", "CLIP 分数", "FID"]


def cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [(c["cell_type"], "".join(c["source"])) for c in nb["cells"]]


def code_shape(source: str) -> list[tuple[int, str]]:
    """The code's tokens with every string's text and every comment left out."""
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE):
            continue
        if tok.type == tokenize.STRING:
            prefix = re.match(r"[a-zA-Z]*", tok.string).group(0)
            out.append((tok.type, prefix + "<str>" + "".join(re.findall(r"\{[^{}]*\}", tok.string)) if "f" in prefix.lower()
                        else "<str>"))
        else:
            out.append((tok.type, tok.string))
    return out


def test_every_english_chapter_has_a_chinese_one():
    assert sorted(p.name for p in ZH_DIR.glob("*.ipynb")) == [p.name for p in EN]


@pytest.mark.parametrize("en", EN, ids=[p.stem for p in EN])
def test_same_code_as_english(en):
    zh = cells(ZH_DIR / en.name)
    assert zh[0][0] == "markdown" and zh[1][0] == "code" and LANGUAGE_CELL.match(zh[1][1]), \
        "the second cell switches the widgets to Chinese"
    zh = zh[:1] + zh[2:]
    en_cells = cells(en)
    assert [c[0] for c in zh] == [c[0] for c in en_cells], "same cells, in the same order"
    for (_, zh_src), (kind, en_src) in zip(zh, en_cells):
        if kind == "code":
            assert code_shape(zh_src) == code_shape(en_src), f"code differs beyond strings and comments:\n{zh_src}"


@pytest.mark.parametrize("en", EN, ids=[p.stem for p in EN])
def test_prose_is_chinese(en):
    zh = cells(ZH_DIR / en.name)
    zh = zh[:1] + zh[2:]
    for (kind, zh_src), (_, en_src) in zip(zh, cells(en)):
        if kind != "markdown":
            continue
        cjk = sum(map(is_cjk, zh_src))
        assert cjk >= 0.25 * len(re.sub(r"\$[^$]*\$|`[^`]*`|\s", "", zh_src)), f"not Chinese: {zh_src[:80]!r}"
        if "What to notice" in en_src:
            assert "注意看" in zh_src
        # the measured numbers of the English chapter are all there (the translation does not drop a fact)
        numbers = lambda s: sorted(re.findall(r"\d+(?:\.\d+)?", s.replace("6 000", "6000").replace("60 000", "60000")
                                                               .replace("3 072", "3072")))
        assert numbers(zh_src) == numbers(en_src), f"numbers differ in {zh_src[:60]!r}"
    prose = "".join(s for k, s in zh if k == "markdown")
    assert "Chapter" not in prose and "What to notice" not in prose


def test_lecture_terms_used():
    prose = "".join(s for p in sorted(ZH_DIR.glob("*.ipynb")) for k, s in cells(p) if k == "markdown")
    missing = [term for term in TERMS if term not in prose]
    assert not missing, f"the lecture's terms are missing from the Chinese chapters: {missing}"


def test_notebooks_command_copies_chinese_chapters(tmp_path):
    from diffviz.cli import main

    assert main(["notebooks", str(tmp_path / "ch"), "--lang", "zh"]) == 0
    copied = sorted(p.name for p in (tmp_path / "ch").glob("*.ipynb"))
    assert copied == [p.name for p in EN]
    assert "第 1 章" in (tmp_path / "ch" / EN[0].name).read_text(encoding="utf-8")
