import pytest

from .conftest import load_script


@pytest.fixture(scope="module")
def ablation():
    return load_script("sapa_ablation")


def runs(values):
    return [
        {"variant": v, "seed": s, "target_uar": u, "target_war": u, "target_macro_f1": u, "source_uar": 0.5}
        for v, per_seed in values.items()
        for s, u in enumerate(per_seed)
    ]


def test_mean_and_population_std_in_percent(ablation):
    rows = ablation.summarize(runs({"sapa": [0.50, 0.60, 0.70]}))
    assert rows[0]["target_uar_mean"] == pytest.approx(60.0)
    assert rows[0]["target_uar_std"] == pytest.approx((200 / 3) ** 0.5)  # sqrt(((10^2) + 0 + (10^2)) / 3)
    assert rows[0]["runs"] == 3 and rows[0]["paper_uar"] == 59.25


def test_verdict_reports_the_paper_ordering_or_ours(ablation):
    paper_like = runs({"sapa": [0.6], "sapa_only_p": [0.55], "sapa_only_s": [0.5], "only_p": [0.45], "only_s": [0.4]})
    assert "reproduced: SAPA > SAPA-Only-P > SAPA-Only-S > Only-P > Only-S" in ablation.ordering_verdict(
        ablation.summarize(paper_like)
    )
    swapped = runs({"sapa": [0.5], "sapa_only_p": [0.55], "sapa_only_s": [0.45], "only_p": [0.4], "only_s": [0.3]})
    verdict = ablation.ordering_verdict(ablation.summarize(swapped))
    assert "did not reproduce" in verdict and "SAPA is not best (SAPA-Only-P is)" in verdict
    assert "no ordering verdict" in ablation.ordering_verdict(ablation.summarize(runs({"sapa": [0.5]})))


def test_markdown_table_names_data_and_seeds(ablation):
    table = ablation.markdown_table(ablation.summarize(runs({"only_s": [0.25, 0.35]})), [0, 1], "synthetic corpus")
    assert "over 2 seeds (0, 1); data: synthetic corpus" in table
    assert "| Only-S | 30.00 +- 5.00 |" in table


def test_unusable_output_dir_fails_before_the_first_run(ablation, tmp_path, monkeypatch):
    from hf_cser.trainers.checkpointing import OutputDirError

    def no_run(argv):
        raise AssertionError("a run started before the output folder was checked")

    monkeypatch.setattr(ablation.train_sapa, "main", no_run)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(OutputDirError) as info:
        ablation.main(["--seeds", "0", "--output_dir", str(blocker / "ablation")])
    assert str(blocker / "ablation") in str(info.value)
