"""Randomized Quiz 8 variants: 20 generate and compile, and every answer key is confirmed."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from derive.errors import LayergradError
from layergrad.cli import main
from numeric.export import generated_module
from worksheets.formats import render
from worksheets.formats.pdf import latexmk_available
from worksheets.sheets import quiz8
from worksheets.variants import (
    KEEP_PROBABILITIES,
    ConvChoice,
    conv_choices,
    make_variant,
    parse_seeds,
    write_variants,
)

SEEDS = list(range(1, 21))


@pytest.fixture(scope="module")
def twenty(tmp_path_factory):
    """Twenty variants written in parallel (solution sheets; PDF when LaTeX is installed)."""
    folder = tmp_path_factory.mktemp("variants")
    formats = ("md", "html", "tex", "pdf") if latexmk_available() else ("md", "html", "tex")
    key = write_variants(SEEDS, folder, formats, ("solution",), jobs=2, progress=False)
    with key.open() as stream:
        rows = list(csv.DictReader(stream))
    return folder, rows


def arrays(row: dict[str, str], *names: str) -> list[np.ndarray]:
    return [np.array(json.loads(row[n]), dtype=float) for n in names]


def test_twenty_variants_generate_and_compile(twenty):
    folder, rows = twenty
    assert [int(r["seed"]) for r in rows] == SEEDS
    for seed in SEEDS:
        stem = folder / f"quiz8-seed{seed:03d}-solution"
        assert stem.with_suffix(".md").stat().st_size > 0
        assert not (folder / f"quiz8-seed{seed:03d}-student.md").exists()
        if latexmk_available():
            assert stem.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    assert {r["dropout_convention"] for r in rows} == {"keep", "drop"}
    assert len({r["Y"] for r in rows}) == len(rows), "variants must differ"


def test_every_answer_key_is_confirmed(twenty):
    _, rows = twenty
    for row in rows:
        Y, D, H, G, dY = arrays(row, "Y", "D", "H", "dL_dH", "dL_dY")
        p, q, mask_seed = float(row["p"]), float(row["q"]), int(row["mask_seed"])
        assert q in KEEP_PROBABILITIES and q == pytest.approx(p if row["dropout_convention"] == "keep" else 1 - p)
        # an independent computation from the given data: inverted dropout and its gradient
        np.testing.assert_allclose(H, D * Y / q, atol=1e-9)
        np.testing.assert_allclose(dY, D * G / q, atol=1e-9)
        # the mask is the course notebooks' draw, and the generated code gives the same key again
        # (drop rate: rand >= p, the default draw for it since CS231n 2017 and CS182 draw so)
        np.random.seed(mask_seed)
        u = np.random.rand(*Y.shape)
        np.testing.assert_array_equal(D, u < q if row["dropout_convention"] == "keep" else u >= p)
        assert 0 < D.sum() < D.size, "a mask that keeps everything or nothing teaches nothing"
        layers = generated_module(row["dropout_convention"], layers=("dropout",))
        out, cache = layers.dropout_forward(Y, {"p": p, "mode": "train", "seed": mask_seed})
        np.testing.assert_allclose(out, H, atol=1e-9)
        np.testing.assert_allclose(layers.dropout_backward(G, cache), dY, atol=1e-9)


def correlate(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """A literal-loop cross-correlation: the reference the answer keys are checked against."""
    xpad = np.pad(x, pad)
    rows = (xpad.shape[0] - w.shape[0]) // stride + 1
    cols = (xpad.shape[1] - w.shape[1]) // stride + 1
    out = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            out[i, j] = np.sum(xpad[stride * i: stride * i + w.shape[0], stride * j: stride * j + w.shape[1]] * w)
    return out


def test_every_convolution_answer_is_possible_and_confirmed(twenty):
    _, rows = twenty
    for row in rows:
        X, W, O = arrays(row, "X", "W", "O")
        stride, pad = int(row["conv_stride"]), int(row["conv_pad"])
        assert row["conv_input"] == f"{X.shape[0]}x{X.shape[1]}" and row["conv_filter"] == f"{W.shape[0]}x{W.shape[1]}"
        for size, window in zip(X.shape, W.shape):
            assert (size + 2 * pad - window) % stride == 0, "the windows must tile the padded input"
        np.testing.assert_allclose(O, correlate(X, W, stride, pad), atol=1e-9)
        sizes = json.loads(row["general_sizes"])
        out_h = 1 + (sizes["H"] + 2 * sizes["P"] - sizes["HH"]) / sizes["S"]
        out_w = 1 + (sizes["W"] + 2 * sizes["P"] - sizes["WW"]) / sizes["S"]
        assert out_h.is_integer() and out_w.is_integer()
        assert row["general_out_shape"] == f"{sizes['N']}x{sizes['F']}x{int(out_h)}x{int(out_w)}"
    assert len({(r["conv_input"], r["conv_filter"], r["conv_stride"], r["conv_pad"]) for r in rows}) > 5


def test_fixed_sizes_that_cannot_tile_are_refused():
    with pytest.raises(LayergradError, match=r"1 \+ \(4 \+ 0 − 3\)/2 = 3/2 is not a whole number"):
        conv_choices((4, 4), (3, 3), stride=2, pad=0)
    assert conv_choices((5, 5), (3, 3), stride=2, pad=0) == [ConvChoice(5, 5, 3, 3, 2, 0)]
    assert all(c.S == 2 for c in conv_choices(stride=2))
    with pytest.raises(LayergradError, match="at least 1"):
        conv_choices(stride=0)
    with pytest.raises(LayergradError, match="the output is 15 to 31 rows or columns wide"):
        conv_choices((30, 30))  # whole outputs exist, none of them small enough for a quiz


def test_more_seeds_add_to_the_answer_key(tmp_path):
    write_variants([1, 2], tmp_path, ("md",), ("student",), jobs=1, progress=False)
    key = write_variants([2, 5], tmp_path, ("md",), ("student",), jobs=1, progress=False)
    with key.open(newline="") as stream:
        assert [row["seed"] for row in csv.DictReader(stream)] == ["1", "2", "5"]


def test_the_sheet_shows_the_variant_data_and_its_answers():
    variant = make_variant(7)
    sheet = quiz8.build(variant)
    assert sheet.name == "quiz8-seed007"
    solution, student = (render(sheet, "md", v) for v in ("solution", "student"))
    h = variant.dropout.H
    shown = [f"{x:g}" for x in h.ravel() if x != 0]
    assert shown and all(x in solution for x in shown)
    question_2 = solution.split("## Question 2")[1].split("## Question 3")[0]
    assert "\\frac{\\partial L}{\\partial Y}" in question_2.split("**Answer:**")[-1]
    assert "**Answer:**" not in student
    question_3 = solution.split("## Question 3")[1].split("## Question 4")[0]
    assert all(f"{x:g}" in question_3 for x in variant.conv.O.ravel())
    assert variant.dropout.convention.value.upper() in solution.upper()
    assert make_variant(7).answer_key() == variant.answer_key(), "a seed fixes its variant"


def test_progress_bar_counts_every_variant(tmp_path, capsys):
    write_variants([4, 5], tmp_path, ("md",), ("student",), jobs=1, progress=True)
    err = capsys.readouterr().err
    assert "variants [" in err and "2/2" in err and err.endswith("\n")


def test_parse_seeds():
    assert parse_seeds("1-3") == [1, 2, 3]
    assert parse_seeds("5, 1-2,5") == [5, 1, 2]
    for bad in ("3-1", "a-b", "", "1-2000000", "-4"):
        with pytest.raises(LayergradError):
            parse_seeds(bad)
    with pytest.raises(LayergradError, match="whole number"):
        make_variant(-1)


def test_cli_seed_and_errors(tmp_path, capsys):
    assert main(["sheet", "quiz8", "--seed", "3", "--format", "md", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "1 variant of quiz8" in out.out
    assert (tmp_path / "quiz8-seed003-student.md").exists() and (tmp_path / "quiz8-answer-key.csv").exists()
    (tmp_path / "quiz8-seed003-student.md").write_text("edited\n")
    for argv, message in (
        (["sheet", "quiz8", "--seed", "3", "--format", "md", "-o", str(tmp_path)], "--force"),
        (["sheet", "quiz8", "--seeds", "9-2", "-o", str(tmp_path)], "goes downwards; write it as 2-9"),
        (["sheet", "quiz8", "--seeds", "1-2", "--jobs", "0", "-o", str(tmp_path)], "--jobs"),
        (["sheet", "quiz8", "--seed", "1", "--input", "4x4", "--filter", "3x3", "--stride", "2", "--pad", "0",
          "-o", str(tmp_path)], "is not a whole number"),
        (["sheet", "quiz8", "--seed", "1", "--input", "four", "-o", str(tmp_path)], "cannot read --input"),
        (["sheet", "quiz8", "--input", "5x5", "-o", str(tmp_path)], "--input applies only with --seed N"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert message in err[-1] and "Traceback" not in "\n".join(err)


def test_batchnorm_variants_key_is_confirmed_independently(tmp_path):
    """Ten batch-norm variants: μ, σ², Z by plain NumPy, the entry of ∂L/∂X by central differences
    of L = Σ dY ⊙ Y through a batch norm written out here (not the generated code)."""
    key = write_variants(list(range(1, 11)), tmp_path, ("md",), ("solution", "student"), jobs=1, progress=False,
                         sheet="batchnorm")
    assert key.name == "batchnorm-answer-key.csv"
    with key.open() as stream:
        rows = list(csv.DictReader(stream))
    assert [int(r["seed"]) for r in rows] == list(range(1, 11))
    assert len({r["X"] for r in rows}) == len(rows), "variants must differ"

    def forward(X, gamma, beta, eps):
        mu, var = X.mean(axis=0), ((X - X.mean(axis=0)) ** 2).mean(axis=0)
        return mu, var, (X - mu) / np.sqrt(var + eps) * gamma + beta

    for row in rows:
        X, gamma, beta, dY, mu, var, Z, dX = arrays(row, "X", "gamma", "beta", "dL_dY", "mu", "var", "Z", "dL_dX")
        gamma, beta, eps = gamma[0], beta[0], float(row["eps"])
        assert X.shape == (3, 2) and np.all(np.round(X) == X)
        ref_mu, ref_var, _ = forward(X, gamma, beta, eps)
        np.testing.assert_allclose(mu[0], ref_mu, atol=1e-4)
        np.testing.assert_allclose(var[0], ref_var, atol=1e-4)
        np.testing.assert_allclose(Z, (X - ref_mu) / np.sqrt(ref_var + eps), atol=1e-4)
        r, c = (int(v) - 1 for v in row["entry"].strip("()").split(","))
        h = 1e-6
        plus, minus = X.copy(), X.copy()
        plus[r, c] += h
        minus[r, c] -= h
        numeric = (np.sum(dY * forward(plus, gamma, beta, eps)[2]) - np.sum(dY * forward(minus, gamma, beta, eps)[2]))
        assert float(row["dL_dX_entry"]) == pytest.approx(numeric / (2 * h), abs=2e-4)
        assert abs(float(row["dL_dX_entry"])) > 0.05 and dX[r, c] == pytest.approx(float(row["dL_dX_entry"]))
        student = (tmp_path / f"batchnorm-seed{int(row['seed']):03d}-student.md").read_text()
        assert "**Answer:**" not in student and row["Z"] not in student and "## Question 4" in student


def test_batchnorm_variant_sheet_and_cli(tmp_path, capsys):
    assert main(["sheet", "batchnorm", "--seed", "4", "--format", "md", "-o", str(tmp_path)]) == 0
    solution = (tmp_path / "batchnorm-seed004-solution.md").read_text()
    assert "## Question 4" in solution and solution.count("**Answer:**") >= 4
    assert (tmp_path / "batchnorm-answer-key.csv").exists()
    assert main(["sheet", "batchnorm", "--seed", "4", "--stride", "2", "-o", str(tmp_path)]) == 2
    assert "no convolution question" in capsys.readouterr().err
    assert main(["sheet", "dropout", "--seed", "4", "-o", str(tmp_path)]) == 2


def test_detail_full_adds_every_checked_step(tmp_path):
    assert main(["sheet", "quiz8", "--format", "md", "--solution", "-o", str(tmp_path / "c")]) == 0
    assert main(["sheet", "quiz8", "--format", "md", "--solution", "--detail", "full",
                 "-o", str(tmp_path / "f")]) == 0
    concise = (tmp_path / "c" / "quiz8-solution.md").read_text()
    full = (tmp_path / "f" / "quiz8-solution.md").read_text()
    assert "proved:" not in concise and "Appendix" not in concise
    assert full.startswith(concise.rstrip("\n").rsplit("<!-- /solution -->", 1)[0])
    assert full.count("proved:") > 20 and "## Appendix: every checked step" in full
