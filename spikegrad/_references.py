"""Bibliographic references of the surrogates (rendered by ``Bound.cite``)."""

from __future__ import annotations

from typing import Any

__all__ = ["REFERENCES", "bibtex", "cite", "texts"]

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
        type="article", author="Jason K. Eshraghian and others",
        title="Training Spiking Neural Networks Using Lessons From Deep Learning",
        journal="Proceedings of the IEEE", volume="111", number="9", pages="1016--1054",
        year=2023, eprint="2109.12894"),
}

for _key, _ref in REFERENCES.items():
    _ref["text"] = f"{_ref['author']}, \"{_ref['title']}\" ({_ref['year']})"


def texts(keys: tuple[str, ...]) -> tuple[str, ...]:
    """One-line citations of ``keys`` (an unknown key is shown as itself)."""
    return tuple(REFERENCES[k]["text"] if k in REFERENCES else k for k in keys)


def cite(keys: tuple[str, ...]) -> str:
    """BibTeX of the known references among ``keys``."""
    return bibtex(tuple(k for k in keys if k in REFERENCES))


def bibtex(keys: tuple[str, ...]) -> str:
    """BibTeX for the reference ``keys`` (empty string when there are none)."""
    out = []
    for key in keys:
        ref = REFERENCES[key]
        fields = [
            f"  {name} = {{{value}}}"
            for name, value in ref.items()
            if name not in ("type", "text", "eprint")
        ]
        if "eprint" in ref:
            fields += [f"  eprint = {{{ref['eprint']}}}", "  archivePrefix = {arXiv}"]
        out.append(f"@{ref['type']}{{{key},\n" + ",\n".join(fields) + "\n}")
    return "\n\n".join(out)
