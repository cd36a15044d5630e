#!/usr/bin/env python
"""Issue 8, groups 1 (losses) and 7 (growth, loss half): hf_cser's losses side by side with pytorch-metric-learning.

1. ``LanguageAwareSupConLoss`` (gamma = 0, language ids given, as the zero-shot trainer calls it) vs
   pytorch-metric-learning ``SupConLoss`` with the same temperature, forward + backward on ``(B, 256)`` embeddings:
   time ratio (target <= 1.3x) and numerical equality (max abs difference of the value and of the gradient). gamma =
   0.5 is timed for information (no target: pml has no language weights).
2. SAPA's ``SpeakerTripletLoss`` and ``PhonemeTripletLoss`` (library defaults: ``mining="batch_all"``, reduction
   ``"mean_positive"``) vs pml ``TripletMarginLoss(margin)`` + ``TripletMarginMiner(margin, type_of_triplets="all")``,
   both with ``LpDistance(normalize_embeddings=False, p=2, power=2)`` (squared Euclidean, as ours) and pml's default
   ``AvgNonZeroReducer``. Correspondence: pml's "all" keeps every triplet with ``d_an - d_ap <= margin`` and its
   reducer averages the non-zero hinges, i.e. the sum over every valid triplet divided by the active ones, which is
   our batch_all + mean_positive. The speaker loss with cluster ids only (no speaker ids) has exactly pml's rule
   (positive = same cluster, negative = other cluster), so its value and gradient are compared. The phoneme loss
   has no pml equivalent: pml gets the label ``(phone, cluster)`` (clusters are per emotion), which gives the same
   positives, but pml's negatives are every other label while ours are same-phone, other-emotion samples, so the
   values differ (pml mines more triplets). Time ratio (target: ours faster at B = 1024) and peak memory of both
   (target: no O(B^3) memory, from the fitted growth exponent).
3. ``MarginDisparityDiscrepancyLoss`` training step (features -> f and GRL -> f', ``L_CE(f) - eta * D_gamma``,
   SGD step) vs a plain two-head cross-entropy step on the same source + target features and the same network
   (overhead ratio; no target).
7. Growth: time and peak memory of 1 and 2 at the three sizes, with the fitted exponent (``value ~ B**k``).

Settings: timings use torch's default threads (nothing is changed in the parent process). Memory is the peak-RSS
growth of a forked child (``_common.peak_memory_bytes``) running with ``torch.set_num_threads(1)`` (a forked child
that re-enters the parent's OpenMP pool hangs), after ``malloc_trim(0)`` in the parent (so the child cannot reuse
resident free heap pages), minus the growth of the same loss on an 8-sample batch (code pages and autograd start-up).

Run alone: ``python benchmarks/bench_losses.py [--quick]``.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(__file__))

from _common import fit_growth, markdown_table, peak_memory_bytes, result, side_by_side  # noqa: E402

GROUP_LOSSES = "1. losses"
GROUP_GROWTH = "7. growth"
DIM = 256
TEMPERATURE = 0.07
SPEAKER_MARGIN = 0.6  # SAPA's beta
PHONEME_MARGIN = 0.4  # SAPA's alpha
SAMPLES_PER_CLUSTER = 16  # P x K batches: B / 16 speaker-style clusters of 16 samples
PML = "pytorch-metric-learning"


# ---------------------------------------------------------------------------------------------------------------------
# Helpers.


def _release_free_heap() -> None:
    """Give the parent's free malloc memory back to the OS (glibc ``malloc_trim``), so that the forked child cannot
    reuse already-resident free pages, which would hide its allocations from the max-RSS counter."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to release
        pass


def _net_peak_memory(fn: Callable[[], Any], baseline_fn: Callable[[], Any]) -> int:
    """Peak RSS growth (bytes) of ``fn()`` in a forked single-threaded child, minus that of ``baseline_fn()`` (the
    same loss on an 8-sample batch): the child's first touch of torch's code pages and the autograd engine's start
    count as RSS growth too (~10-20 MB), and this difference removes them."""

    def single_threaded(call: Callable[[], Any]) -> Callable[[], Any]:
        def wrapped() -> Any:
            torch.set_num_threads(1)  # never re-enter the parent's OpenMP pool in a forked child
            return call()

        return wrapped

    _release_free_heap()
    baseline = peak_memory_bytes(single_threaded(baseline_fn))
    _release_free_heap()
    return max(peak_memory_bytes(single_threaded(fn)) - baseline, 0)


def _fwd_bwd(loss_fn: Callable[[torch.Tensor], torch.Tensor], embeddings: torch.Tensor) -> Callable[[], None]:
    """A closure running ``loss_fn`` forward + backward on a fresh leaf copy of ``embeddings``."""

    def call() -> None:
        leaf = embeddings.detach().clone().requires_grad_(True)
        loss_fn(leaf).backward()

    return call


def _value_and_grad(
    loss_fn: Callable[[torch.Tensor], torch.Tensor], embeddings: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss value and the gradient with respect to a fresh leaf copy of ``embeddings``."""
    leaf = embeddings.detach().clone().requires_grad_(True)
    loss = loss_fn(leaf)
    loss.backward()
    return loss.detach(), leaf.grad


def _numerics(ours: Callable, reference: Callable, embeddings: torch.Tensor) -> dict[str, float]:
    """Both values, and the max absolute differences of the value and of the gradient."""
    value_ours, grad_ours = _value_and_grad(ours, embeddings)
    value_ref, grad_ref = _value_and_grad(reference, embeddings)
    return {
        "value_ours": float(value_ours),
        "value_reference": float(value_ref),
        "max_abs_diff_value": float((value_ours - value_ref).abs()),
        "max_abs_diff_grad": float((grad_ours - grad_ref).abs().max()),
        "max_abs_grad": float(grad_ref.abs().max()),
    }


def _sizes(quick: bool) -> tuple[int, ...]:
    """Batch sizes: the issue's (64, 256, 1024), or small ones in quick mode."""
    return (64, 128, 256) if quick else (64, 256, 1024)


def _growth_records(
    name: str,
    sizes: tuple[int, ...],
    times: dict,
    memories: dict,
    reference_name: str,
    target: str,
    memory_target: Callable[[float], bool] | None,
) -> list[dict]:
    """Group-7 records: the fitted growth exponent of time and of memory, one record for ours and one for the
    reference (``ours`` holds the exponent; no ratio), with the values at each size in the details."""
    records = []
    for what, values, unit in (("time", times, "s"), ("peak memory", memories, "bytes")):
        # memory below ~1 MiB is the max-RSS resolution: floor it there so the fit is not driven by noise.
        floor = float(2**20) if unit == "bytes" else 0.0
        for side, label in (("ours", "ours"), ("reference", "reference")):
            observed = [values[side][b] for b in sizes]
            floored = [max(v, floor) for v in observed]
            k_all = fit_growth(sizes, floored)
            k_top = fit_growth(sizes[-2:], floored[-2:])
            met = None
            resolved = max(observed) >= 4 * 2**20  # under 4 MiB at the largest size the fit is noise
            if unit == "bytes" and side == "ours" and memory_target is not None and resolved:
                met = memory_target(k_top)
            records.append(
                result(
                    GROUP_GROWTH,
                    f"{name}: {what} growth, {label}, B = {', '.join(map(str, sizes))}",
                    ours=k_all if side == "ours" else None,
                    reference=None if side == "ours" else k_all,
                    reference_name=reference_name if side == "reference" else "",
                    unit="exponent",
                    ratio=None,
                    target=target if unit == "bytes" and side == "ours" else "",
                    met=met,
                    details={
                        "sizes": list(sizes),
                        f"values_{unit}": observed,
                        "exponent_all_sizes": k_all,
                        "exponent_two_largest": k_top,
                        "note": (
                            "net peak RSS growth (forked child minus a no-op child); values under 1 MiB floored to "
                            "1 MiB for the fit; met uses the two largest sizes, None when under 4 MiB (noise)"
                        )
                        if unit == "bytes"
                        else "median fwd+bwd seconds",
                    },
                )
            )
    return records


# ---------------------------------------------------------------------------------------------------------------------
# 1. SupCon.


def bench_supcon(quick: bool) -> list[dict]:
    """Group 1 SupCon records (gamma = 0 with its target, gamma = 0.5 for information) and their group-7 growth."""
    from pytorch_metric_learning.losses import SupConLoss

    from hf_cser.losses import LanguageAwareSupConLoss

    records: list[dict] = []
    sizes = _sizes(quick)
    repeat = 3 if quick else 7
    reference = SupConLoss(temperature=TEMPERATURE)
    ours_0 = LanguageAwareSupConLoss(temperature=TEMPERATURE, gamma=0.0)
    ours_half = LanguageAwareSupConLoss(temperature=TEMPERATURE, gamma=0.5)
    times = {"ours": {}, "reference": {}}
    memories = {"ours": {}, "reference": {}}
    tiny, tiny_labels = torch.randn(8, DIM), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])

    def tiny_ours(x):
        return ours_0(x, tiny_labels, tiny_labels % 2)

    def tiny_reference(x):
        return reference(x, tiny_labels)

    for batch_size in sizes:
        generator = torch.Generator().manual_seed(batch_size)
        embeddings = torch.randn(batch_size, DIM, generator=generator)
        emotions = torch.randint(0, 4, (batch_size,), generator=generator)
        languages = torch.randint(0, 2, (batch_size,), generator=generator)

        def ours_fn(x, loss=ours_0):
            return loss(x, emotions, languages)

        def reference_fn(x):
            return reference(x, emotions)

        def half_fn(x):
            return ours_half(x, emotions, languages)

        numerics = _numerics(ours_fn, reference_fn, embeddings)
        ours_s, ref_s = side_by_side(
            _fwd_bwd(ours_fn, embeddings),
            _fwd_bwd(reference_fn, embeddings),
            repeat=repeat,
            min_time=0.02 if quick else 0.05,
        )
        half_s, ref2_s = side_by_side(
            _fwd_bwd(half_fn, embeddings),
            _fwd_bwd(reference_fn, embeddings),
            repeat=max(3, repeat // 2),
            min_time=0.02 if quick else 0.05,
        )
        equal = (
            numerics["max_abs_diff_value"] <= 1e-5 * max(1.0, abs(numerics["value_reference"]))
            and numerics["max_abs_diff_grad"] <= 1e-4 * numerics["max_abs_grad"]
        )
        ratio = ours_s / ref_s
        details = {
            "batch_size": batch_size,
            "dim": DIM,
            "temperature": TEMPERATURE,
            "num_emotions": 4,
            "num_languages": 2,
            "languages_given": True,
            "numerically_equal": equal,
            **numerics,
            "equality_tolerance": "value 1e-5 relative, gradient 1e-4 of its max (float32)",
        }
        records.append(
            result(
                GROUP_LOSSES,
                f"LanguageAwareSupConLoss gamma=0, B={batch_size}, d={DIM}, fwd+bwd",
                ours=ours_s,
                reference=ref_s,
                reference_name=f"{PML} SupConLoss(temperature={TEMPERATURE})",
                target="<= 1.3x and numerically equal",
                met=bool(ratio <= 1.3 and equal),
                details=details,
            )
        )
        records.append(
            result(
                GROUP_LOSSES,
                f"LanguageAwareSupConLoss gamma=0.5, B={batch_size}, d={DIM}, fwd+bwd (information)",
                ours=half_s,
                reference=ref2_s,
                reference_name=f"{PML} SupConLoss(temperature={TEMPERATURE})",
                target="",
                met=None,
                details={"batch_size": batch_size, "note": "pml has no language weights: timing only"},
            )
        )
        times["ours"][batch_size], times["reference"][batch_size] = ours_s, ref_s
        memories["ours"][batch_size] = _net_peak_memory(_fwd_bwd(ours_fn, embeddings), _fwd_bwd(tiny_ours, tiny))
        memories["reference"][batch_size] = _net_peak_memory(
            _fwd_bwd(reference_fn, embeddings), _fwd_bwd(tiny_reference, tiny)
        )
    records += _growth_records(
        "LanguageAwareSupConLoss gamma=0 vs pml SupConLoss", sizes, times, memories, f"{PML} SupConLoss", "", None
    )
    return records


# ---------------------------------------------------------------------------------------------------------------------
# 2. Triplet losses.


def _pml_triplet(margin: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """pml's ``TripletMarginLoss`` on ``TripletMarginMiner(type_of_triplets="all")``, squared Euclidean distance."""
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.losses import TripletMarginLoss
    from pytorch_metric_learning.miners import TripletMarginMiner

    distance = LpDistance(normalize_embeddings=False, p=2, power=2)
    miner = TripletMarginMiner(margin=margin, type_of_triplets="all", distance=distance)
    loss = TripletMarginLoss(margin=margin, distance=distance)

    def reference(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return loss(x, labels, miner(x, labels))

    return reference


def _triplet_batch(batch_size: int) -> dict[str, torch.Tensor]:
    """Embeddings and labels of one triplet-loss batch (seeded by its size)."""
    generator = torch.Generator().manual_seed(1000 + batch_size)
    embeddings = torch.randn(batch_size, DIM, generator=generator) * 0.1
    clusters = torch.arange(batch_size) // SAMPLES_PER_CLUSTER
    clusters = clusters[torch.randperm(batch_size, generator=generator)]
    emotions = torch.randint(0, 4, (batch_size,), generator=generator)
    phone_clusters = emotions * 4 + torch.randint(0, 4, (batch_size,), generator=generator)  # 4 clusters per emotion
    phones = torch.randint(0, 8, (batch_size,), generator=generator)
    if batch_size < SAMPLES_PER_CLUSTER:  # the tiny memory-baseline batch: two clusters
        clusters = torch.arange(batch_size) % 2
    return {
        "embeddings": embeddings,
        "clusters": clusters,
        "emotions": emotions,
        "phone_clusters": phone_clusters,
        "phones": phones,
        "phone_labels": phones * 1000 + phone_clusters,
    }


def bench_triplets(quick: bool) -> list[dict]:
    """Group 1 speaker / phoneme triplet records (time, memory, numerics) and their group-7 growth."""
    from hf_cser.losses import PhonemeTripletLoss, SpeakerTripletLoss

    records: list[dict] = []
    sizes = _sizes(quick)
    repeat = 3 if quick else 4
    speaker_loss = SpeakerTripletLoss(margin=SPEAKER_MARGIN)
    phoneme_loss = PhonemeTripletLoss(margin=PHONEME_MARGIN)
    pml_speaker = _pml_triplet(SPEAKER_MARGIN)
    pml_phoneme = _pml_triplet(PHONEME_MARGIN)
    for which in ("speaker", "phoneme"):
        times = {"ours": {}, "reference": {}}
        memories = {"ours": {}, "reference": {}}
        for batch_size in sizes:
            batch = _triplet_batch(batch_size)
            if which == "speaker":

                def ours_fn(x, b=batch):
                    return speaker_loss(x, b["clusters"])

                def reference_fn(x, b=batch):
                    return pml_speaker(x, b["clusters"])

                name = f"SpeakerTripletLoss (batch_all), B={batch_size}, d={DIM}, fwd+bwd"
                mapping = (
                    "ours: cluster ids only (positive = same cluster, negative = other cluster); pml labels = "
                    "cluster ids: the same triplets, so value and gradient must match"
                )
                setup = {"clusters": batch_size // SAMPLES_PER_CLUSTER, "samples_per_cluster": SAMPLES_PER_CLUSTER}
            else:

                def ours_fn(x, b=batch):
                    return phoneme_loss(x, b["emotions"], b["phone_clusters"], phone_ids=b["phones"])

                def reference_fn(x, b=batch):
                    return pml_phoneme(x, b["phone_labels"])

                name = f"PhonemeTripletLoss (batch_all), B={batch_size}, d={DIM}, fwd+bwd"
                mapping = (
                    "pml labels = (phone, cluster) id: same positives; pml negatives = any other label, ours = "
                    "same phone and other emotion, so values differ (pml mines more triplets)"
                )
                setup = {"phones": 8, "emotions": 4, "clusters_per_emotion": 4}
            margin = SPEAKER_MARGIN if which == "speaker" else PHONEME_MARGIN
            numerics = _numerics(ours_fn, reference_fn, batch["embeddings"])
            ours_s, ref_s = side_by_side(
                _fwd_bwd(ours_fn, batch["embeddings"]),
                _fwd_bwd(reference_fn, batch["embeddings"]),
                repeat=repeat,
                min_time=0.02 if quick else 0.05,
            )
            tiny = _triplet_batch(8)
            tiny_ours = _fwd_bwd(lambda x, b=tiny, f=ours_fn: f(x, b), tiny["embeddings"])
            tiny_ref = _fwd_bwd(lambda x, b=tiny, f=reference_fn: f(x, b), tiny["embeddings"])
            mem_ours = _net_peak_memory(_fwd_bwd(ours_fn, batch["embeddings"]), tiny_ours)
            mem_ref = _net_peak_memory(_fwd_bwd(reference_fn, batch["embeddings"]), tiny_ref)
            times["ours"][batch_size], times["reference"][batch_size] = ours_s, ref_s
            memories["ours"][batch_size], memories["reference"][batch_size] = mem_ours, mem_ref
            details = {
                "batch_size": batch_size,
                "dim": DIM,
                "margin": margin,
                **setup,
                "correspondence": mapping,
                "peak_memory_ours_bytes": mem_ours,
                "peak_memory_reference_bytes": mem_ref,
                **numerics,
            }
            if which == "speaker":
                # ours sums the hinges in float64, pml in float32 over up to ~10^7 triplets: relative tolerance.
                details["numerically_equal"] = (
                    numerics["max_abs_diff_value"] <= 1e-4 * max(1.0, abs(numerics["value_reference"]))
                    and numerics["max_abs_diff_grad"] <= 1e-3 * numerics["max_abs_grad"]
                )
                details["equality_tolerance"] = "value 1e-4 relative, gradient 1e-3 of its max"
            at_target = batch_size == sizes[-1] and not quick
            records.append(
                result(
                    GROUP_LOSSES,
                    name,
                    ours=ours_s,
                    reference=ref_s,
                    reference_name=f"{PML} TripletMarginLoss + TripletMarginMiner(type_of_triplets='all'), "
                    f"LpDistance(power=2), margin={margin}",
                    target="faster at B = 1024 (ratio < 1)" if at_target else "",
                    met=bool(ours_s < ref_s) if at_target else None,
                    details=details,
                )
            )
        largest = sizes[-1]
        records.append(
            result(
                GROUP_LOSSES,
                f"{'Speaker' if which == 'speaker' else 'Phoneme'}TripletLoss peak memory, B={largest}",
                ours=float(memories["ours"][largest]),
                reference=float(memories["reference"][largest]),
                reference_name=f"{PML} TripletMarginLoss + TripletMarginMiner(type_of_triplets='all')",
                unit="bytes",
                target="",
                met=None,
                details={
                    "note": "net peak RSS growth of fwd+bwd; the O(B^3) target is judged on the fitted growth in "
                    "group 7",
                    "sizes": list(sizes),
                    "ours_bytes": [memories["ours"][b] for b in sizes],
                    "reference_bytes": [memories["reference"][b] for b in sizes],
                },
            )
        )
        records += _growth_records(
            f"{'Speaker' if which == 'speaker' else 'Phoneme'}TripletLoss vs pml TripletMarginLoss + miner",
            sizes,
            times,
            memories,
            f"{PML} TripletMarginLoss + TripletMarginMiner",
            "no O(B^3) memory (exponent < 2.5)",
            lambda k: bool(k < 2.5),
        )
    return records


# ---------------------------------------------------------------------------------------------------------------------
# 3. MDD.


class _TwoHeads(nn.Module):
    """Feature layer psi, main head f, auxiliary head f' (behind a gradient reversal layer for MDD)."""

    def __init__(self, dim: int, hidden: int, num_classes: int) -> None:
        super().__init__()
        from hf_cser.losses import GradientReversalLayer

        self.psi = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        self.f = nn.Linear(hidden, num_classes)
        self.f_aux = nn.Linear(hidden, num_classes)
        self.grl = GradientReversalLayer(coeff=1.0)


def bench_mdd(quick: bool) -> list[dict]:
    """Group 1 MDD overhead records (no target)."""
    from hf_cser.losses import MarginDisparityDiscrepancyLoss

    records: list[dict] = []
    sizes = (64, 256) if quick else (64, 256, 1024)
    repeat = 3 if quick else 7
    num_classes, hidden, eta = 4, 256, 1.0
    mdd = MarginDisparityDiscrepancyLoss(margin=1.5)
    cross_entropy = nn.CrossEntropyLoss()
    for batch_size in sizes:
        generator = torch.Generator().manual_seed(2000 + batch_size)
        source = torch.randn(batch_size, DIM, generator=generator)
        target = torch.randn(batch_size, DIM, generator=generator)
        labels = torch.randint(0, num_classes, (batch_size,), generator=generator)
        both_labels = torch.cat([labels, labels])
        torch.manual_seed(0)
        model = _TwoHeads(DIM, hidden, num_classes)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

        def mdd_step() -> None:
            optimizer.zero_grad(set_to_none=True)
            features = model.psi(torch.cat([source, target]))
            logits = model.f(features)
            auxiliary = model.f_aux(model.grl(features))
            out = mdd(logits[:batch_size], auxiliary[:batch_size], logits[batch_size:], auxiliary[batch_size:])
            loss = cross_entropy(logits[:batch_size], labels) - eta * out.discrepancy
            loss.backward()
            optimizer.step()

        def plain_step() -> None:
            optimizer.zero_grad(set_to_none=True)
            features = model.psi(torch.cat([source, target]))
            loss = cross_entropy(model.f(features), both_labels) + cross_entropy(model.f_aux(features), both_labels)
            loss.backward()
            optimizer.step()

        ours_s, ref_s = side_by_side(mdd_step, plain_step, repeat=repeat, min_time=0.02 if quick else 0.05)
        records.append(
            result(
                GROUP_LOSSES,
                f"MDD training step, {batch_size} source + {batch_size} target, d={DIM}",
                ours=ours_s,
                reference=ref_s,
                reference_name="plain two-head cross-entropy step (same net, same features)",
                target="overhead ratio (no target)",
                met=None,
                details={
                    "batch_size_per_domain": batch_size,
                    "dim": DIM,
                    "hidden": hidden,
                    "num_classes": num_classes,
                    "eta": eta,
                    "mdd_margin": 1.5,
                    "optimizer": "SGD lr=1e-3",
                    "ours": "CE(f(psi(x_s)), y_s) - eta * D_gamma(f, GRL -> f') on source + target, backward, step",
                    "reference": "CE(f(psi(x)), y) + CE(f'(psi(x)), y) on the same source + target rows",
                },
            )
        )
    return records


# ---------------------------------------------------------------------------------------------------------------------


def run(quick: bool = False) -> list[dict]:
    """All records of groups 1 (losses) and 7 (loss growth). Settings: torch's default threads for timings."""
    torch.manual_seed(0)
    return bench_supcon(quick) + bench_triplets(quick) + bench_mdd(quick)


def main() -> int:
    """Command line: run and print the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (~30 s)")
    args = parser.parse_args()
    print(markdown_table(run(quick=args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
