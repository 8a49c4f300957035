"""Bibliographic references of the surrogates.

``REFERENCES`` holds BibTeX fields by key; text fields keep their BibTeX escapes
(``Timoth{\\'e}e``), so :func:`bibtex` and :func:`cite` write valid BibTeX, while
:func:`texts` gives the one-line, human-readable citations (``spikegrad show``, the
``references`` property, the reference list of the documentation) with the escapes turned
into Unicode by :func:`latex_to_unicode`.

A surrogate first published in a paper cites that paper; one that a library introduced
without a paper cites the library's own paper where it has one (spikingjelly, snnTorch) or
the release that introduced it (``@software``, with its version and year).
"""

from __future__ import annotations

import unicodedata
from typing import Any

__all__ = ["REFERENCES", "bibtex", "cite", "latex_to_unicode", "texts"]

REFERENCES: dict[str, dict[str, Any]] = {
    "Meng2022": dict(
        type="inproceedings",
        author="Qingyan Meng and Mingqing Xiao and Shen Yan and Yisen Wang and Zhouchen Lin "
        "and Zhi-Quan Luo",
        title="Training High-Performance Low-Latency Spiking Neural Networks by "
        "Differentiation on Spike Representation",
        booktitle="Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern "
        "Recognition (CVPR)", pages="12444--12453", year=2022, eprint="2205.00459"),
    "Bengio2013": dict(
        type="article", author="Yoshua Bengio and Nicholas L{\\'e}onard and Aaron Courville",
        title="Estimating or Propagating Gradients Through Stochastic Neurons for Conditional "
        "Computation", journal="arXiv preprint arXiv:1308.3432", year=2013,
        eprint="1308.3432"),
    "Esser2015": dict(
        type="inproceedings",
        author="Steven K. Esser and Rathinakumar Appuswamy and Paul Merolla and John V. Arthur "
        "and Dharmendra S. Modha",
        title="Backpropagation for Energy-Efficient Neuromorphic Computing",
        booktitle="Advances in Neural Information Processing Systems 28", pages="1117--1125",
        year=2015),
    "Esser2016": dict(
        type="article", author="Steven K. Esser and others",
        title="Convolutional networks for fast, energy-efficient neuromorphic computing",
        journal="Proceedings of the National Academy of Sciences", volume="113", number="41",
        pages="11441--11446", year=2016, doi="10.1073/pnas.1604850113"),
    "STBP": dict(
        type="article",
        author="Yujie Wu and Lei Deng and Guoqi Li and Jun Zhu and Luping Shi",
        title="Spatio-Temporal Backpropagation for Training High-Performance Spiking Neural "
        "Networks", journal="Frontiers in Neuroscience", volume="12", pages="331", year=2018,
        doi="10.3389/fnins.2018.00331", eprint="1706.02609"),
    "SuperSpike": dict(
        type="article", author="Friedemann Zenke and Surya Ganguli",
        title="SuperSpike: Supervised Learning in Multilayer Spiking Neural Networks",
        journal="Neural Computation", volume="30", number="6", pages="1514--1541", year=2018,
        doi="10.1162/neco_a_01086", eprint="1705.11146"),
    "SLAYER": dict(
        type="inproceedings", author="Sumit Bam Shrestha and Garrick Orchard",
        title="SLAYER: Spike Layer Error Reassignment in Time",
        booktitle="Advances in Neural Information Processing Systems 31", year=2018,
        eprint="1810.08646"),
    "LSNN": dict(
        type="inproceedings",
        author="Guillaume Bellec and Darjan Salaj and Anand Subramoney and Robert Legenstein "
        "and Wolfgang Maass",
        title="Long short-term memory and learning-to-learn in networks of spiking neurons",
        booktitle="Advances in Neural Information Processing Systems 31", year=2018,
        eprint="1803.09574"),
    "Huh2018": dict(
        type="inproceedings", author="Dongsung Huh and Terrence J. Sejnowski",
        title="Gradient Descent for Spiking Neural Networks",
        booktitle="Advances in Neural Information Processing Systems 31", year=2018,
        eprint="1706.04698"),
    "Neftci2019": dict(
        type="article", author="Emre O. Neftci and Hesham Mostafa and Friedemann Zenke",
        title="Surrogate Gradient Learning in Spiking Neural Networks",
        journal="IEEE Signal Processing Magazine", volume="36", number="6", pages="51--63",
        year=2019, doi="10.1109/MSP.2019.2931595", eprint="1901.09948"),
    "Yin2017": dict(
        type="inproceedings",
        author="Shihui Yin and Shreyas K. Venkataramanaiah and Gregory K. Chen and others",
        title="Algorithm and hardware design of discrete-time spiking neural networks based "
        "on back propagation with binary activations",
        booktitle="IEEE Biomedical Circuits and Systems Conference (BioCAS)", year=2017),
    "Yin2021": dict(
        type="article", author="Bojian Yin and Federico Corradi and Sander M. Boht{\\'e}",
        title="Accurate and efficient time-domain classification with adaptive spiking "
        "recurrent neural networks", journal="Nature Machine Intelligence", volume="3",
        pages="905--913", year=2021, eprint="2103.12593"),
    "Fang2021": dict(
        type="inproceedings",
        author="Wei Fang and Zhaofei Yu and Yanqi Chen and Timoth{\\'e}e Masquelier and Tiejun "
        "Huang and Yonghong Tian",
        title="Incorporating Learnable Membrane Time Constants to Enhance Learning of Spiking "
        "Neural Networks", booktitle="Proceedings of the IEEE/CVF International Conference on "
        "Computer Vision (ICCV)", pages="2661--2671", year=2021, eprint="2007.05785"),
    "Li2021": dict(
        type="inproceedings",
        author="Yuhang Li and Yufei Guo and Shanghang Zhang and Shikuang Deng and Yongqing Hai "
        "and Shi Gu",
        title="Differentiable Spike: Rethinking Gradient-Descent for Training Spiking Neural "
        "Networks", booktitle="Advances in Neural Information Processing Systems 34",
        year=2021),
    "PerezNieves2021": dict(
        type="inproceedings", author="Nicolas Perez-Nieves and Dan F. M. Goodman",
        title="Sparse Spiking Gradient Descent",
        booktitle="Advances in Neural Information Processing Systems 34", year=2021,
        eprint="2105.08810"),
    "HerranzCelotti2022": dict(
        type="article", author="Luca Herranz-Celotti and Jean Rouat",
        title="Surrogate Gradients Design", journal="arXiv preprint arXiv:2202.00282",
        year=2022, eprint="2202.00282"),
    "Suetake2023": dict(
        type="article",
        author="Kazuma Suetake and Shin-ichi Ikegawa and Ryuji Saiin and Yoshihide Sawada",
        title="S3NN: Time step reduction of spiking surrogate gradients for training energy "
        "efficient single-step spiking neural networks", journal="Neural Networks",
        volume="159", pages="208--219", year=2023, eprint="2201.10879"),
    "Cai2017": dict(
        type="inproceedings",
        author="Zhaowei Cai and Xiaodong He and Jian Sun and Nuno Vasconcelos",
        title="Deep Learning with Low Precision by Half-wave Gaussian Quantization",
        booktitle="Proceedings of the IEEE Conference on Computer Vision and Pattern "
        "Recognition (CVPR)", pages="5406--5414", year=2017, eprint="1702.00953"),
    "Gerstner2002": dict(
        type="book", author="Wulfram Gerstner and Werner M. Kistler",
        title="Spiking Neuron Models: Single Neurons, Populations, Plasticity",
        publisher="Cambridge University Press", year=2002),
    "Weidel2021": dict(
        type="article", author="Philipp Weidel and Sadique Sheik",
        title="WaveSense: Efficient Temporal Convolutions with Spiking Neural Networks for "
        "Keyword Spotting", journal="arXiv preprint arXiv:2111.01456", year=2021,
        eprint="2111.01456"),
    "Eshraghian2023": dict(
        type="article",
        author="Jason K. Eshraghian and Max Ward and Emre O. Neftci and Xinxin Wang and Gregor "
        "Lenz and Girish Dwivedi and Mohammed Bennamoun and Doo Seok Jeong and Wei D. Lu",
        title="Training Spiking Neural Networks Using Lessons From Deep Learning",
        journal="Proceedings of the IEEE", volume="111", number="9", pages="1016--1054",
        year=2023, doi="10.1109/JPROC.2023.3308088", eprint="2109.12894"),
    "Fang2023": dict(
        type="article",
        author="Wei Fang and Yanqi Chen and Jianhao Ding and Zhaofei Yu and Timoth{\\'e}e "
        "Masquelier and Ding Chen and Liwei Huang and Huihui Zhou and Guoqi Li and Yonghong "
        "Tian",
        title="{SpikingJelly}: An open-source machine learning infrastructure platform for "
        "spike-based intelligence", journal="Science Advances", volume="9", number="40",
        pages="eadi1480", year=2023, doi="10.1126/sciadv.adi1480"),
    "Norse2021": dict(
        type="software", author="Christian Pehle and Jens Egholm Pedersen",
        title="{Norse} - A deep learning library for spiking neural networks",
        version="0.0.7", year=2021, publisher="Zenodo", doi="10.5281/zenodo.4422025",
        url="https://github.com/norse/norse"),
    "Sinabs2020": dict(
        type="software",
        author="Sadique Sheik and Gregor Lenz and Felix Bauer and Nogay Kuepelioglu",
        title="{SINABS}: A simple {Pytorch} based {SNN} library specialised for {Speck}",
        version="0.2.0", year=2020, url="https://github.com/synsense/sinabs"),
    "Tang2020": dict(
        type="inproceedings",
        author="Guangzhi Tang and Neelesh Kumar and Raymond Yoo and Konstantinos P. Michmizos",
        title="Deep Reinforcement Learning with Population-Coded Spiking Neural Network for "
        "Continuous Control", booktitle="4th Conference on Robot Learning (CoRL 2020)",
        year=2020, eprint="2010.09635"),
    "Luo2024": dict(
        type="inproceedings",
        author="Xinhao Luo and Man Yao and Yuhong Chou and Bo Xu and Guoqi Li",
        title="Integer-Valued Training and Spike-Driven Inference Spiking Neural Network for "
        "High-performance and Energy-efficient Object Detection",
        booktitle="Computer Vision -- {ECCV} 2024", year=2024,
        doi="10.1007/978-3-031-73411-3_15", eprint="2407.20708"),
}

#: Accent commands and the Unicode combining mark each puts on its argument.
_ACCENTS = {
    "`": "\u0300", "'": "\u0301", "^": "\u0302", "~": "\u0303", "=": "\u0304",
    "u": "\u0306", ".": "\u0307", '"': "\u0308", "r": "\u030a", "H": "\u030b",
    "v": "\u030c", "d": "\u0323", "c": "\u0327", "k": "\u0328", "b": "\u0331",
}
#: Control words that stand for one character (letters, typography, Greek).
_WORDS = {
    "ss": "ß", "SS": "SS", "o": "ø", "O": "Ø", "aa": "å", "AA": "Å", "ae": "æ", "AE": "Æ",
    "oe": "œ", "OE": "Œ", "l": "ł", "L": "Ł", "i": "ı", "j": "ȷ", "dh": "ð", "DH": "Ð",
    "th": "þ", "TH": "Þ", "ng": "ŋ", "NG": "Ŋ", "dj": "đ", "DJ": "Đ",
    "textendash": "–", "textemdash": "—", "textquoteleft": "‘", "textquoteright": "’",
    "textquotedblleft": "“", "textquotedblright": "”", "textasciitilde": "~",
    "ldots": "…", "dots": "…", "textellipsis": "…", "S": "§",
    "P": "¶", "copyright": "©", "textregistered": "®", "texttrademark": "™",
    "pounds": "£", "euro": "€", "textdegree": "°", "times": "×", "pm": "±", "cdot": "·",
    "infty": "∞", "leq": "≤", "geq": "≥", "approx": "≈", "neq": "≠",
    **dict(zip("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa "
               "lambda mu nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi "
               "psi omega".split(), "αβγδϵεζηθϑικλμνξπϖρϱσςτυϕφχψω", strict=True)),
    **dict(zip("Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split(),
               "ΓΔΘΛΞΠΣΥΦΨΩ", strict=True)),
}
#: Escaped characters and control symbols.
_SYMBOLS = {"&": "&", "%": "%", "$": "$", "#": "#", "_": "_", "{": "{", "}": "}",
            " ": " ", ",": "\u2009", ";": " ", "!": "", "-": "", "/": "", "\\": " "}
_DOTLESS = {"ı": "i", "ȷ": "j"}


class _TeX:
    """A single pass over BibTeX text, turning it into plain Unicode."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def convert(self) -> str:
        out: list[str] = []
        while self.pos < len(self.text):
            out.append(self._next())
        return "".join(out)

    def _next(self) -> str:
        text, c = self.text, self.text[self.pos]
        self.pos += 1
        if c == "\\":
            return self._command()
        if c in "{}$":
            return ""
        if c == "~":
            return " "
        if c == "-":
            run = 1
            while text.startswith("-", self.pos) and run < 3:
                self.pos, run = self.pos + 1, run + 1
            return {1: "-", 2: "–", 3: "—"}[run]
        if c in "`'" and text.startswith(c, self.pos):
            self.pos += 1
            return "“" if c == "`" else "”"
        return "‘" if c == "`" else c

    def _skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _command(self) -> str:
        text, start = self.text, self.pos
        if start >= len(text):
            return ""
        while self.pos < len(text) and text[self.pos].isascii() and text[self.pos].isalpha():
            self.pos += 1
        word = text[start:self.pos]
        if not word:  # a control symbol: \', \&, ...
            self.pos += 1
            symbol = text[start]
            if symbol in _ACCENTS:
                return self._accent(symbol)
            return _SYMBOLS.get(symbol, symbol)
        self._skip_spaces()
        if word in _ACCENTS:
            return self._accent(word)
        return _WORDS.get(word, "")  # an unknown command is dropped, its argument kept

    def _accent(self, command: str) -> str:
        self._skip_spaces()
        if self.pos >= len(self.text):
            return ""
        if self.text[self.pos] == "{":
            depth, start = 0, self.pos
            while self.pos < len(self.text):
                depth += {"{": 1, "}": -1}.get(self.text[self.pos], 0)
                self.pos += 1
                if depth == 0:
                    break
            base = _TeX(self.text[start + 1:self.pos - 1]).convert()
        else:
            base = self._next()
        if not base:
            return ""
        first = _DOTLESS.get(base[0], base[0])
        return unicodedata.normalize("NFC", first + _ACCENTS[command]) + base[1:]


def latex_to_unicode(text: str) -> str:
    """Plain Unicode text of a BibTeX/LaTeX text field.

    Accent commands in every spelling (``{\\'e}``, ``\\'{e}``, ``\\'e``, ``\\v{c}``,
    ``\\c c``, ``{\\'\\i}``) become the accented letter, special letters (``{\\ss}``,
    ``\\o``, ``\\AA``, ``\\L`` ...) theirs, ``--`` and ``---`` the en and em dashes,
    TeX's double quotes curly ones, ``~`` a space and the escaped characters ``\\&``,
    ``\\%``, ``\\$``, ``\\#``, ``\\_``, ``\\{``, ``\\}`` themselves; grouping
    braces and math shifts are removed, and an unknown command is dropped (its argument is
    kept).

    Parameters
    ----------
    text : str
        A text field as BibTeX holds it.

    Returns
    -------
    str
        The text in Unicode (NFC), with no backslash and no grouping brace left.
    """
    return unicodedata.normalize("NFC", _TeX(text).convert())


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside braces."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i = start = i + len(sep)
            continue
        i += 1
    return [*parts, text[start:]]


def _name(name: str) -> str:
    """One BibTeX name (``First Last``, ``Last, First`` or ``Last, Jr, First``) as
    ``First Last``."""
    parts = [p.strip() for p in _split_top(name.strip(), ",")]
    if len(parts) == 2:
        parts = [parts[1], parts[0]]
    elif len(parts) == 3:
        parts = [parts[2], parts[0], parts[1]]
    return latex_to_unicode(" ".join(p for p in parts if p))


def _authors(field: str) -> str:
    """A BibTeX author list as ``A, B, C`` (``and others`` as ``et al.``)."""
    names = [n.strip() for n in _split_top(field, " and ")]
    if names[-1] == "others":
        return ", ".join(_name(n) for n in names[:-1]) + " et al."
    return ", ".join(_name(n) for n in names)


def _text(ref: dict[str, Any]) -> str:
    """The one-line citation of one reference."""
    head = f"{_authors(ref['author'])}, " if ref.get("author") else ""
    version = f", version {latex_to_unicode(str(ref['version']))}" if "version" in ref else ""
    return f"{head}\"{latex_to_unicode(ref['title'])}\"{version} ({ref['year']})"


def texts(keys: tuple[str, ...]) -> tuple[str, ...]:
    """One-line, human-readable citations of ``keys``, in Unicode.

    An unknown key (the free text a user definition may give) is shown as itself, with its
    escapes turned into Unicode too.
    """
    return tuple(_text(REFERENCES[k]) if k in REFERENCES else latex_to_unicode(k)
                 for k in keys)


def cite(keys: tuple[str, ...]) -> str:
    """BibTeX of the known references among ``keys``."""
    return bibtex(tuple(k for k in keys if k in REFERENCES))


def bibtex(keys: tuple[str, ...]) -> str:
    """BibTeX for the reference ``keys`` (empty string when there are none).

    The text fields keep their escapes: the result is valid BibTeX.
    """
    out = []
    for key in keys:
        ref = REFERENCES[key]
        fields = [
            f"  {name} = {{{value}}}"
            for name, value in ref.items()
            if name not in ("type", "eprint")
        ]
        if "eprint" in ref:
            fields += [f"  eprint = {{{ref['eprint']}}}", "  archivePrefix = {arXiv}"]
        out.append(f"@{ref['type']}{{{key},\n" + ",\n".join(fields) + "\n}")
    return "\n\n".join(out)
